"""A NamedArray-aware `shard_map`: per-device code whose specs come from axis names.

`jax.shard_map` runs a function once per device on that device's block of each
argument. Here the `PartitionSpec`s of NamedArray arguments and results are derived
from their axis names through the axis mapping, and inside the function every
NamedArray carries its *local* (per-device) axis sizes; the results are relabelled
with their global sizes on the way out. Collectives address mesh axes by name
(`jax.lax.psum(x.array, "data")`), which `physical_axis_name` supplies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
from jax.sharding import PartitionSpec

from namedax.core._array import NamedArray, _wrap, is_named_array, rebuilt_parts
from namedax.core._axes import Axis
from namedax.core._errors import describe
from namedax.core._mapping import ResourceMapping
from namedax.parallel._pspec import (
    AnyMesh,
    SpecTarget,
    is_array_like,
    leaf_specs,
    require_mesh,
    resolve_mapping,
)

__all__ = ["shard_map"]


def _relabel(tree: Any) -> Any:
    """Every NamedArray in `tree` with axis sizes read from its array's actual shape."""

    def fix(x: Any) -> Any:
        if not isinstance(x, NamedArray):
            return x
        array, axes = rebuilt_parts(x)  # JAX rebuilt it with the local (or global) shape
        if not hasattr(array, "shape"):
            return x
        shape = array.shape
        if all(a.size == s for a, s in zip(axes, shape)):
            return x
        return _wrap(array, tuple(Axis(a.name, s) for a, s in zip(axes, shape)))

    return jax.tree_util.tree_map(fix, tree, is_leaf=is_named_array)


def _specs(tree: Any, target: SpecTarget, static_other: bool) -> Any:
    """Specs for `tree`: NamedArrays by name, plain arrays replicated, other leaves None."""

    def leaf_spec(x: Any) -> Any:
        if isinstance(x, NamedArray):
            return target.spec(x.axes)
        if is_array_like(x):
            return PartitionSpec()
        return None if static_other else PartitionSpec()

    specs, _, treedef = leaf_specs(tree, leaf_spec)
    return jax.tree_util.tree_unflatten(treedef, specs)


def shard_map(
    fn: Callable[..., Any] | None = None,
    mesh: AnyMesh | None = None,
    *,
    in_specs: Any = None,
    out_specs: Any = None,
    check_rep: bool = True,
    mapping: ResourceMapping | None = None,
    axis_mapping: ResourceMapping | None = None,
) -> Any:
    """Maps `fn` over the devices of a mesh, each call seeing its own block of every array.

    A NamedArray argument is split along each axis that the mapping sends to a mesh
    axis, and `fn` sees it with its local sizes (`batch:8` on a 4-way `data` axis
    arrives as `batch:2`). Plain array arguments are replicated; other leaves are
    passed through as static values. Results are reassembled the same way from their
    axis names, and carry their global sizes again; a result whose axes are not all
    mapped must be equal on every device along the unmapped mesh axes (reduce it with
    `jax.lax.psum` and friends first), which `check_rep` verifies.

    Args:
        fn: The per-device function. Leave it out to use `shard_map(...)` as a decorator.
        mesh: The mesh; defaults to the one set with `jax.set_mesh`.
        in_specs: `PartitionSpec`s for the arguments (a pytree prefix of the argument
            tuple), overriding the ones derived from axis names.
        out_specs: `PartitionSpec`s for the results, likewise. Deriving them costs one
            extra abstract trace of `fn` per call; pass them to avoid it.
        check_rep: Check that results not split along a mesh axis are replicated
            along it (`jax.shard_map`'s `check_vma`).
        mapping: `{logical_axis: mesh_axis}`; defaults to the current `axis_mapping`.
        axis_mapping: Haliax's name for `mapping` (give one of the two).

    Returns:
        The mapped function.

    Raises:
        TypeError: If both `mapping` and `axis_mapping` are given, or at call time if
            keyword arguments meet explicit `in_specs`.
        ValueError: At call time, if there is no mapping to derive specs from, no
            mesh, or a spec is invalid for the mesh (see `shard`).

    Examples:
        >>> mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        >>> x = named(jnp.arange(16.0).reshape(8, 2), ("batch", "embed"))
        >>> def local_total(x):
        ...     assert x.shape == {"batch": 1, "embed": 2}  # this device's block
        ...     return named(jax.lax.psum(x.array.sum(0), "data"), ("embed",))
        >>> f = shard_map(local_total, mesh, mapping={"batch": "data"})
        >>> f(x)
        NamedArray(f32{embed:2}, [56. 64.])

        Haliax's spelling, keyword arguments included:

        >>> by_name = {"batch": "data"}
        >>> g = shard_map(lambda x, *, k: x * k, mesh, axis_mapping=by_name, check_rep=False)
        >>> g(x, k=2.0).shape
        {'batch': 8, 'embed': 2}
    """
    if axis_mapping is not None:
        if mapping is not None:
            raise TypeError(
                "shard_map: got both mapping= and axis_mapping= (Haliax's name for the same "
                "thing); give one."
            )
        mapping = axis_mapping
    if fn is None:
        return functools.partial(
            shard_map,
            mesh=mesh,
            in_specs=in_specs,
            out_specs=out_specs,
            check_rep=check_rep,
            mapping=mapping,
        )
    if not callable(fn):
        raise TypeError(f"shard_map: expected a callable, got {describe(fn)}.")

    @functools.wraps(fn)  # JAX's errors then name `fn` and its parameters, not this wrapper
    def body(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return fn(*_relabel(args), **_relabel(kwargs))

    @functools.wraps(fn)
    def mapped(*args: Any, **kwargs: Any) -> Any:
        the_mesh = require_mesh(mesh, "shard_map")
        resolved = resolve_mapping(mapping)
        if resolved is None and (in_specs is None or out_specs is None):
            raise ValueError(
                "shard_map: no axis mapping to derive partition specs from; pass mapping=..., "
                "call inside `with namedax.axis_mapping({...}):`, or give in_specs and out_specs."
            )
        names: ResourceMapping = resolved or {}
        if in_specs is None:
            target = SpecTarget("shard_map", names, the_mesh)
            ins = _specs((args, kwargs), target, static_other=True)
        elif kwargs:
            raise TypeError(
                f"shard_map: keyword arguments {sorted(kwargs)} with explicit in_specs (which "
                "cover the positional arguments); pass them positionally or leave in_specs out."
            )
        else:
            ins = (in_specs, {})
        outs = out_specs
        if outs is None:
            probe = jax.shard_map(
                body, mesh=the_mesh, in_specs=ins, out_specs=PartitionSpec(), check_vma=False
            )
            local = eqx.filter_eval_shape(probe, args, kwargs)
            target = SpecTarget("shard_map", names, the_mesh, check_sizes=False)
            outs = _specs(local, target, static_other=False)
        run = jax.shard_map(body, mesh=the_mesh, in_specs=ins, out_specs=outs, check_vma=check_rep)
        return _relabel(run(args, kwargs))

    return mapped
