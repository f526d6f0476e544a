"""Static types of the factory-built functions, so type checkers see their real parameters.

A factory (`namedax.ops._elementwise`, `namedax.nn._activations`) builds many public
functions from one implementation. Its return type is one of the protocols here, and
each protocol is generic in the extra parameters `P` of the `jax` function being wrapped,
so `nx.round` is typed with `jax.numpy.round`'s `decimals` and `nx.nn.gelu` with
`jax.nn.gelu`'s `approximate`. The runtime objects are plain functions; the protocols
only describe them (including `__get__`, which makes a function bound to a NamedArray
a method with the array as its first argument).

`signature_like` gives a built function the `inspect.signature` that `help()` shows.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, Self, overload

import jax
from jax.typing import ArrayLike

if TYPE_CHECKING:
    from namedax.core._array import NamedArray

__all__: list[str] = []

P = ParamSpec("P")


class Elementwise(Protocol[P]):
    """A named elementwise function of one array; `P` are the wrapped function's other parameters.

    A NamedArray argument gives a NamedArray with the same axes; a plain array is passed
    straight through to the wrapped function.
    """

    @overload
    def __call__(self, x: NamedArray, /, *args: P.args, **kwargs: P.kwargs) -> NamedArray: ...
    @overload
    def __call__(self, x: ArrayLike, /, *args: P.args, **kwargs: P.kwargs) -> jax.Array: ...
    @overload
    def __get__(self, instance: None, owner: type[Any], /) -> Self: ...
    @overload
    def __get__(self, instance: NamedArray, owner: type[Any], /) -> Callable[P, NamedArray]: ...


class ElementwisePair(Protocol[P]):
    """Like `Elementwise`, for a function returning two arrays (`frexp`, `modf`)."""

    @overload
    def __call__(
        self, x: NamedArray, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[NamedArray, NamedArray]: ...
    @overload
    def __call__(
        self, x: ArrayLike, /, *args: P.args, **kwargs: P.kwargs
    ) -> tuple[jax.Array, jax.Array]: ...


class Binary(Protocol):
    """A named elementwise function of two operands, aligned by axis name.

    The result is a NamedArray if either operand is one, else a plain array.
    """

    @overload
    def __call__(self, x1: NamedArray, x2: NamedArray | ArrayLike, /) -> NamedArray: ...
    @overload
    def __call__(self, x1: ArrayLike, x2: NamedArray, /) -> NamedArray: ...
    @overload
    def __call__(self, x1: ArrayLike, x2: ArrayLike, /) -> jax.Array: ...


class BinaryPair(Protocol):
    """Like `Binary`, for a function returning two arrays (`divmod`)."""

    @overload
    def __call__(
        self, x1: NamedArray, x2: NamedArray | ArrayLike, /
    ) -> tuple[NamedArray, NamedArray]: ...
    @overload
    def __call__(self, x1: ArrayLike, x2: NamedArray, /) -> tuple[NamedArray, NamedArray]: ...
    @overload
    def __call__(self, x1: ArrayLike, x2: ArrayLike, /) -> tuple[jax.Array, jax.Array]: ...


_ARRAY = re.compile(r"\bArray\b")


def signature_like(reference: Callable[..., Any], first: str = "x") -> inspect.Signature:
    """The signature of a named wrapper of `reference`: its first parameter takes a NamedArray.

    The first parameter becomes positional-only `first: NamedArray | ArrayLike`; the others
    are `reference`'s own, and `Array` in its return annotation becomes `NamedArray`.

    Examples:
        >>> from namedax.core._signatures import signature_like
        >>> str(signature_like(jnp.round))
        "(x: 'NamedArray | ArrayLike', /, decimals: 'int' = 0, out: 'None' = None) -> 'NamedArray'"
    """
    signature = inspect.signature(reference)
    _, *rest = signature.parameters.values()
    head = inspect.Parameter(
        first, inspect.Parameter.POSITIONAL_ONLY, annotation="NamedArray | ArrayLike"
    )
    returned = signature.return_annotation
    returned = _ARRAY.sub("NamedArray", returned) if isinstance(returned, str) else "NamedArray"
    return signature.replace(parameters=[head, *rest], return_annotation=returned)
