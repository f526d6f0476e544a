"""`haliax.jax_utils`: JAX helpers for model code: key splitting, named scopes, checkpoint names.

Examples:
    >>> from namedax.compat.haliax.jax_utils import maybe_rng_split, shaped_rng_split
    >>> shaped_rng_split(jax.random.key(0), (2, 3)).shape
    (2, 3)
    >>> maybe_rng_split(None, 3)
    [None, None, None]
"""

from __future__ import annotations

import functools
import math
import warnings
import zlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
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


class Static(eqx.Module):
    """A pytree node that holds `value` as static data (part of the treedef, not a leaf).

    Examples:
        >>> from namedax.compat.haliax.jax_utils import Static
        >>> jax.tree_util.tree_leaves(Static("config")), Static("config").value
        ([], 'config')
    """

    value: Any = eqx.field(static=True)


def broadcast_one_to_all(in_tree: Any, is_source: bool | None = None) -> Any:
    """Every process gets the source process's values of `in_tree` (NumPy arrays).

    The source is process 0 unless `is_source` says which process calls as the source.
    Each leaf must have the same shape and dtype on every process. The values are summed
    over a `(processes, local_devices)` mesh of all devices, in which only the source
    contributes, so any device order works.

    Examples:
        >>> from namedax.compat.haliax.jax_utils import broadcast_one_to_all
        >>> broadcast_one_to_all({"step": np.int32(3)})
        {'step': array(3, dtype=int32)}
    """
    if jax.process_count() == 1:
        return jax.tree_util.tree_map(np.asarray, in_tree)
    if is_source is None:
        is_source = jax.process_index() == 0
    devices = np.array(jax.devices()).reshape(jax.process_count(), jax.local_device_count())
    mesh = jax.sharding.Mesh(devices, ("processes", "local_devices"))
    by_process = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("processes"))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

    def to_global(x: Any) -> Any:
        local = np.asarray(x) if is_source else np.zeros_like(np.asarray(x))
        return jax.make_array_from_process_local_data(by_process, local[None])

    stacked = jax.tree_util.tree_map(to_global, in_tree)
    total = jax.jit(
        lambda t: jax.tree_util.tree_map(lambda x: jnp.sum(x, axis=0, dtype=x.dtype), t),
        out_shardings=replicated,
    )(stacked)
    return jax.tree_util.tree_map(lambda x: np.asarray(x.addressable_data(0)), total)


def assert_equal(in_tree: Any, fail_message: str = "") -> None:
    """Checks that every process holds the same values of `in_tree`.

    Raises:
        AssertionError: If some process's values differ from process 0's.
    """
    expected = broadcast_one_to_all(in_tree)
    same = jax.tree_util.tree_map(lambda a, b: bool(np.all(np.equal(a, b))), in_tree, expected)
    if not all(jax.tree_util.tree_leaves(same)):
        raise AssertionError(f"{fail_message} Expected: {expected}; got: {in_tree}.")


def sync_global_devices(name: str) -> None:
    """A barrier across all processes, which also checks that they all reached `name`.

    Raises:
        AssertionError: If the processes wait at barriers of different names.
    """
    tag = np.uint32(zlib.crc32(name.encode()))
    assert_equal(tag, f"sync_global_devices name mismatch ('{name}')")


@functools.wraps(eqx.filter_eval_shape)
def filter_eval_shape(*args: Any, **kwargs: Any) -> Any:
    """Deprecated in Haliax: `equinox.filter_eval_shape`."""
    warnings.warn(
        "filter_eval_shape is deprecated, use eqx.filter_eval_shape", DeprecationWarning, 2
    )
    return eqx.filter_eval_shape(*args, **kwargs)


@functools.wraps(eqx.combine)
def combine(*args: Any, **kwargs: Any) -> Any:
    """Deprecated in Haliax: `equinox.combine`."""
    warnings.warn("combine is deprecated, use eqx.combine", DeprecationWarning, 2)
    return eqx.combine(*args, **kwargs)


def is_pallas_dslice(x: object) -> bool:
    """Whether `x` is JAX's window index (`jax.ds(...)`, Pallas's `pl.dslice`)."""
    return isinstance(x, type(jax.ds(0, 1)))


def is_on_mac_metal() -> bool:
    """Whether the default device is Apple's Metal backend."""
    return jax.devices()[0].platform.lower() == "metal"


def multilevel_scan(
    f: Callable[..., Any],
    carry: Any,
    xs: Any,
    outer_size: int,
    length: int,
    reverse: bool = False,
    unroll: int = 1,
) -> tuple[Any, Any]:
    """`jax.lax.scan(f, carry, xs)` as `outer_size` rematerialised blocks of inner scans.

    Only each block's carry is saved for the backward pass (the sqrt(N) memory trick);
    results equal a plain scan. The leading dimension `length` of every array in `xs`
    must split into `outer_size` blocks.

    Raises:
        ValueError: If `length` is not a multiple of `outer_size`.

    Examples:
        >>> from namedax.compat.haliax.jax_utils import multilevel_scan
        >>> step = lambda c, x: (c + x, c * x)
        >>> c, ys = multilevel_scan(step, 0.0, jnp.arange(6.0), outer_size=2, length=6)
        >>> c, ys.shape
        (Array(15., dtype=float32), (6,))
    """
    inner = length // outer_size
    if inner * outer_size != length:
        raise ValueError(
            f"multilevel_scan: length {length} must be divisible by outer_size {outer_size}"
        )

    def split(x: Any) -> Any:
        if is_jax_array_like(x) and x.shape != ():
            return x.reshape((outer_size, inner, *x.shape[1:]))
        return x

    def merge(x: Any) -> Any:
        if is_jax_array_like(x) and x.shape != ():
            return x.reshape((length, *x.shape[2:]))
        return x

    block = jax.remat(functools.partial(jax.lax.scan, f, reverse=reverse, unroll=unroll))
    carry, ys = jax.lax.scan(
        block, carry, jax.tree_util.tree_map(split, xs), reverse=reverse, unroll=True
    )
    return carry, jax.tree_util.tree_map(merge, ys)
