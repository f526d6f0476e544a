"""`haliax.jax_utils`: JAX helpers for model code: key splitting, named scopes, checkpoint names.

Examples:
    >>> from namedax.compat.haliax.jax_utils import maybe_rng_split, shaped_rng_split
    >>> shaped_rng_split(jax.random.key(0), (2, 3)).shape
    (2, 3)
    >>> maybe_rng_split(None, 3)
    [None, None, None]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.ad_checkpoint import checkpoint_name

from namedax.core._array import NamedArray
from namedax.core._axes import to_jax_shape as to_jax_shape

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

filter_checkpoint = eqx.filter_checkpoint
"""`equinox.filter_checkpoint`: `jax.checkpoint` for functions of arbitrary pytrees."""


def is_jax_array_like(x: Any) -> bool:
    """Whether `x` looks like an array: it has both `.shape` and `.dtype`.

    True for jax and NumPy arrays, `jax.ShapeDtypeStruct` and NamedArrays.

    Examples:
        >>> from namedax.compat.haliax.jax_utils import is_jax_array_like
        >>> is_jax_array_like(jnp.zeros(2)), is_jax_array_like(2.0)
        (True, False)
    """
    return hasattr(x, "shape") and hasattr(x, "dtype")


def is_in_jit() -> bool:
    """Whether the caller is being traced (inside `jit`, `grad`, `vmap`, ...).

    Examples:
        >>> from namedax.compat.haliax.jax_utils import is_in_jit
        >>> is_in_jit(), bool(jax.jit(lambda: jnp.array(is_in_jit()))())
        (False, True)
    """
    return isinstance(jnp.zeros((), dtype=jnp.float32), jax.core.Tracer)  # pyright: ignore[reportAttributeAccessIssue]


def is_scalarish(x: Any) -> bool:
    """Whether `x` is a Python scalar, a 0-d array or a NamedArray without axes.

    Examples:
        >>> from namedax.compat.haliax.jax_utils import is_scalarish
        >>> is_scalarish(1.0), is_scalarish(nx.zeros(())), is_scalarish(jnp.zeros(2))
        (True, True, False)
    """
    if isinstance(x, NamedArray):
        return x.ndim == 0
    return bool(jnp.isscalar(x)) or getattr(x, "shape", None) == ()


def ensure_scalar(x: Any, *, name: str = "value") -> Any:
    """`x` itself, or the positional array of a NamedArray without axes.

    Raises:
        TypeError: `x` is a NamedArray with axes.

    Examples:
        >>> from namedax.compat.haliax.jax_utils import ensure_scalar
        >>> ensure_scalar(nx.full((), 3)).tolist(), ensure_scalar(2)
        (3, 2)
    """
    if isinstance(x, NamedArray):
        if x.ndim != 0:
            raise TypeError(
                f"{name} must be a scalar NamedArray (no axes), got one with axes {x.shape}; "
                f"reduce or index it first"
            )
        return x.array
    return x


def maybe_rng_split(key: Any, num: int = 2) -> Any:
    """Split `key` into `num` keys; a `None` key gives `num` Nones.

    `num=1` gives the key itself with a leading dimension of 1 (`jax.random.split`
    would derive a new one).

    Examples:
        >>> from namedax.compat.haliax.jax_utils import maybe_rng_split
        >>> maybe_rng_split(jax.random.key(0), 4).shape
        (4,)
        >>> k = jax.random.key(0)
        >>> bool((maybe_rng_split(k, 1)[0] == k))
        True
    """
    if key is None:
        return [None] * num
    if num == 1:
        return jnp.reshape(key, (1, *key.shape))
    return jax.random.split(key, num)


def shaped_rng_split(key: Any, split_shape: int | Sequence[int] = 2) -> Any:
    """Split `key` into an array of keys of shape `split_shape` (plus the key's own shape).

    Examples:
        >>> from namedax.compat.haliax.jax_utils import shaped_rng_split
        >>> shaped_rng_split(jax.random.key(0), 3).shape
        (3,)
    """
    shape = (split_shape,) if isinstance(split_shape, int) else tuple(split_shape)
    keys = maybe_rng_split(key, math.prod(shape))
    return jnp.reshape(keys, shape + tuple(key.shape))


def _scope_name(f: Callable[..., Any]) -> str:
    """The scope name `named_call` gives `f`: its qualified name, or its class for `__call__`."""
    if getattr(f, "__name__", None) != "__call__":
        return getattr(f, "__qualname__", None) or getattr(f, "__name__", type(f).__name__)
    owner = getattr(f, "__self__", None)
    if owner is not None:
        return type(owner).__name__
    return f.__qualname__.rsplit(".", maxsplit=1)[0]


@overload
def named_call(f: F, name: str | None = None) -> F: ...
@overload
def named_call(*, name: str | None = None) -> Callable[[F], F]: ...
def named_call(f: Any = None, name: str | None = None) -> Any:
    """Run `f` inside `jax.named_scope`, so its operations carry the name in profiles and HLO.

    Use as `named_call(f)`, `named_call(f, "name")`, `@named_call` or
    `@named_call(name="name")`. Without a name, a function's qualified name is used,
    and a `__call__` method is named after its class.

    Examples:
        >>> from namedax.compat.haliax.jax_utils import named_call
        >>> @named_call
        ... def double(x):
        ...     return x * 2
        >>> "double" in str(jax.make_jaxpr(double)(1.0).eqns[0].source_info.name_stack)
        True
    """
    if f is None:
        return lambda fn: named_call(fn, name)
    if not callable(f):
        raise TypeError(f"named_call: expected a callable, got {type(f).__name__}")
    return jax.named_scope(name if name is not None else _scope_name(f))(f)


def tree_checkpoint_name(x: T, name: str) -> T:
    """`jax.ad_checkpoint.checkpoint_name` applied to every array leaf of a pytree.

    NamedArrays keep their axes; non-array leaves pass through. A remat policy such
    as `jax.checkpoint_policies.save_only_these_names(name)` (or
    `ScanCheckpointPolicy(save_carries=..., ...)` names) then keeps those values.

    Examples:
        >>> from namedax.compat.haliax.jax_utils import tree_checkpoint_name
        >>> tree = {"h": nx.ones(Axis("embed", 2)), "n": 3}
        >>> tree_checkpoint_name(tree, "hidden")["h"].axis_names
        ('embed',)
    """

    def tag(leaf: Any) -> Any:
        return checkpoint_name(leaf, name) if is_jax_array_like(leaf) else leaf

    return jax.tree_util.tree_map(tag, x)


def broadcast_prefix(
    prefix_tree: Any, full_tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> Any:
    """Repeat each leaf of `prefix_tree` over the subtree of `full_tree` below it.

    Examples:
        >>> from namedax.compat.haliax.jax_utils import broadcast_prefix
        >>> broadcast_prefix({"a": 1, "b": 2}, {"a": (0, 0), "b": [0]})
        {'a': (1, 1), 'b': [2]}
    """
    leaves: list[Any] = []

    def repeat(leaf: Any, subtree: Any) -> None:
        leaves.extend([leaf] * jax.tree_util.tree_structure(subtree).num_leaves)

    jax.tree_util.tree_map(repeat, prefix_tree, full_tree, is_leaf=is_leaf)
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(full_tree), leaves)
