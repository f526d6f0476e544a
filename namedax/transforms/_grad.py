"""`grad` and `value_and_grad` for functions that return a 0-d NamedArray.

`jax.grad` needs a function whose output is a scalar *array*. A loss written with
NamedArrays usually ends in a reduction such as `loss.mean()`, which is a NamedArray
with no axes: a pytree that `jax.grad` refuses ("Gradient only defined for
scalar-output functions"). These versions accept that output (and a plain scalar, as
`jax.grad` does), and otherwise behave as `jax.grad` and `jax.value_and_grad`:
`argnums`, `has_aux`, `holomorphic` and `allow_int` mean the same, and the gradients
have the structure of the arguments (NamedArrays keep their axes).

An output that still has axes is refused with a `ValueError` that names them and
says how to reduce them. The other way to use `jax.grad` directly is to end the loss
with `.scalar()`, which turns a 0-d NamedArray into a plain 0-d array.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax

from namedax.core._array import NamedArray, _wrap
from namedax.core._errors import describe, format_axes, function_name

__all__ = ["grad", "value_and_grad"]


def grad(
    fun: Callable[..., Any],
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    *,
    holomorphic: bool = False,
    allow_int: bool = False,
) -> Callable[..., Any]:
    """The gradient of `fun`, whose output is a 0-d NamedArray or a scalar.

    Args:
        fun: The function to differentiate. It returns a NamedArray with no axes (a
            reduced loss such as `loss.mean()`) or a plain scalar; with `has_aux`, a
            pair `(that, aux)`.
        argnums: Which positional argument(s) to differentiate, as in `jax.grad`.
        has_aux: Whether `fun` returns `(value, aux)`; then the result is
            `(gradient, aux)`.
        holomorphic: As in `jax.grad`.
        allow_int: As in `jax.grad`.

    Returns:
        A function with `fun`'s arguments that returns the gradient (a pytree with the
        structure of the differentiated arguments: NamedArrays keep their axes), or
        `(gradient, aux)` with `has_aux`.

    Raises:
        ValueError: (when called) if `fun` returns a NamedArray that still has axes;
            the message names them and says to reduce them.
        TypeError: (when called) if `has_aux` is set and `fun` does not return a pair.

    Examples:
        >>> x = named(jnp.array([1.0, 2.0, 3.0]), "embed")
        >>> nx.grad(lambda x: (x * x).sum())(x)
        NamedArray(f32{embed:3}, [2. 4. 6.])
        >>> g, aux = nx.grad(lambda x: ((x * x).sum(), x.size), has_aux=True)(x)
        >>> aux
        3
    """
    value_fn = _scalar_output(fun, has_aux, "grad")
    return functools.wraps(fun)(
        jax.grad(
            value_fn,
            argnums=argnums,
            has_aux=has_aux,
            holomorphic=holomorphic,
            allow_int=allow_int,
        )
    )


def value_and_grad(
    fun: Callable[..., Any],
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    *,
    holomorphic: bool = False,
    allow_int: bool = False,
) -> Callable[..., Any]:
    """`fun`'s value and gradient, for a `fun` whose output is a 0-d NamedArray or a scalar.

    Like `jax.value_and_grad`; the value comes back as `fun` returned it (a 0-d
    NamedArray stays one).

    Args:
        fun: The function to differentiate, as for [`grad`][namedax.grad].
        argnums: Which positional argument(s) to differentiate, as in `jax.grad`.
        has_aux: Whether `fun` returns `(value, aux)`; then the result is
            `((value, aux), gradient)`.
        holomorphic: As in `jax.grad`.
        allow_int: As in `jax.grad`.

    Returns:
        A function with `fun`'s arguments that returns `(value, gradient)`, or
        `((value, aux), gradient)` with `has_aux`.

    Raises:
        ValueError: (when called) if `fun` returns a NamedArray that still has axes.
        TypeError: (when called) if `has_aux` is set and `fun` does not return a pair.

    Examples:
        >>> x = named(jnp.array([1.0, 2.0, 3.0]), "embed")
        >>> loss, g = nx.value_and_grad(lambda x: (x * x).sum())(x)
        >>> loss
        NamedArray(f32{}, 14.)
        >>> g
        NamedArray(f32{embed:3}, [2. 4. 6.])
    """
    named_output: list[bool] = []
    value_fn = _scalar_output(fun, has_aux, "value_and_grad", named_output)
    differentiated = jax.value_and_grad(
        value_fn, argnums=argnums, has_aux=has_aux, holomorphic=holomorphic, allow_int=allow_int
    )

    @functools.wraps(fun)
    def run(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        named_output.clear()
        value, gradient = differentiated(*args, **kwargs)
        if named_output and named_output[-1]:
            value = (_wrap(value[0], ()), value[1]) if has_aux else _wrap(value, ())
        return value, gradient

    return run


def _scalar_output(
    fun: Callable[..., Any], has_aux: bool, op: str, named_output: list[bool] | None = None
) -> Callable[..., Any]:
    """`fun` with a 0-d NamedArray output replaced by its array (recorded in `named_output`)."""

    @functools.wraps(fun)
    def scalar_fun(*args: Any, **kwargs: Any) -> Any:
        out = fun(*args, **kwargs)
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(
                    f"{op}: with has_aux=True, {function_name(fun)} must return a pair "
                    f"(value, aux); it returned {describe(out)}."
                )
            value, aux = out
            return _unwrap(value, fun, op, named_output), aux
        return _unwrap(out, fun, op, named_output)

    return scalar_fun


def _unwrap(value: Any, fun: Callable[..., Any], op: str, named_output: list[bool] | None) -> Any:
    if named_output is not None:
        named_output.append(isinstance(value, NamedArray))
    if not isinstance(value, NamedArray):
        return value
    if value.axes:
        names = ", ".join(repr(a.name) for a in value.axes)
        raise ValueError(
            f"{op}: {function_name(fun)} returned a NamedArray with axes "
            f"{format_axes(value.axes)}; a gradient needs a scalar output. Reduce those axes "
            f"in the function, e.g. `loss.mean()` or `loss.sum(({names},))`."
        )
    return value.array
