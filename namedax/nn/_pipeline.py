"""`Pipeline`: a `Stacked` applied as a pipeline over a mesh axis (GPipe schedule).

Data model
----------
A `Stacked` whose `Layers` axis is mapped to a mesh axis (`{"layers": "stage"}`)
stores its per-layer leaves split along `Layers`: with `S` stages, stage `s` holds
the contiguous layers `s * L/S ... (s+1) * L/S - 1`. A plain `fold` would gather
every layer's weights to every device. `Pipeline.fold(stack, x)` instead runs one
`jax.shard_map` that is manual over the stage axis only (the other mesh axes stay
automatic, so data parallelism, FSDP or tensor parallelism mapped onto them keep
working inside the stages):

* the batch is cut into `M` microbatches along a named axis (interleaved: example
  `i` goes to microbatch `i mod M`, so a batch split over a data axis stays split
  without communication);
* for `M + S - 1` ticks every stage applies its own layers (one local `fold`, with
  the stack's remat policy) to the microbatch it holds, and passes the result to
  the next stage with one `lax.ppermute`; stage 0 reads microbatch `t` at tick `t`,
  and the last stage writes microbatch `t - S + 1`;
* the last stage's results are broadcast back over the stage axis (one `psum` of
  the activations) and the microbatches are put back in batch order.

Stage `s` is busy on ticks `s ... s + M - 1`; the idle share of the stage-ticks,
the bubble, is `(S - 1) / (M + S - 1)`. Shared (non-per-layer) leaves of the stack
are replicated over the stages. Blocks must treat the examples of a batch
independently (no batch statistics), as in any microbatched schedule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec

import namedax.nn._stack_engine as engine
from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis
from namedax.core._errors import describe, format_axes
from namedax.parallel._pspec import AnyMesh, require_mesh
from namedax.transforms._remat import RematSpec

from ._stacked import Stacked

__all__ = ["Pipeline"]

C = TypeVar("C")  # the carry

_MICRO = "__microbatch__"


def _is_leaf(x: Any) -> bool:
    return isinstance(x, NamedArray)


def _is_jax_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


# --- microbatches -------------------------------------------------------------------------


def _split(x: NamedArray, batch: str, m: int) -> NamedArray:
    """`x` with `batch:B` cut into `M` interleaved microbatches: `{__microbatch__:M, batch:B/M}`."""
    pos = x.axis_names.index(batch)
    size = x.axes[pos].size
    array = x.array.reshape((*x.array.shape[:pos], size // m, m, *x.array.shape[pos + 1 :]))
    array = jnp.moveaxis(array, pos + 1, 0)
    axes = (*x.axes[:pos], Axis(batch, size // m), *x.axes[pos + 1 :])
    return _wrap(array, (Axis(_MICRO, m), *axes))


def _merge(x: NamedArray, batch: str) -> NamedArray:
    """The inverse of `_split`: `{__microbatch__:M, ..., batch:b}` -> `{..., batch:M*b}`."""
    m = x.axes[0].size
    axes = x.axes[1:]
    pos = [a.name for a in axes].index(batch)
    array = jnp.moveaxis(x.array, 0, pos + 1)
    array = array.reshape((*array.shape[:pos], -1, *array.shape[pos + 2 :]))
    return _wrap(array, (*axes[:pos], Axis(batch, axes[pos].size * m), *axes[pos + 1 :]))


def _index(x: NamedArray, i: Any) -> NamedArray:
    """Microbatch `i` (traced) of a split NamedArray."""
    return _wrap(lax.dynamic_index_in_dim(x.array, i, 0, keepdims=False), x.axes[1:])


def _put(buffer: NamedArray, value: NamedArray, i: Any, keep: Any) -> NamedArray:
    """`buffer` with microbatch `i` set to `value` where `keep` is true."""
    old = lax.dynamic_index_in_dim(buffer.array, i, 0, keepdims=False)
    new = jnp.where(keep, value.array, old)
    return _wrap(lax.dynamic_update_index_in_dim(buffer.array, new, i, 0), buffer.axes)


# --- what crosses the shard_map ------------------------------------------------------------


class _Group:
    """Leaves that enter the per-stage function: arrays with their specs, the rest closed over.

    Where `layer_dim(leaf)` is not `None`, a NamedArray that carries the layers axis is
    split along it over the stage axis, and a plain array along that dimension; every
    other array is replicated over the stages. Inside, NamedArrays get their local sizes
    back.
    """

    def __init__(
        self, leaves: list[Any], layer_dim: Callable[[Any], int | None], Layers: Axis, stage: str
    ):
        self.leaves = leaves
        self.treedef: Any = None
        self.index = [i for i, x in enumerate(leaves) if _is_dynamic(x)]
        self.arrays = [_raw(leaves[i]) for i in self.index]
        self.specs = [
            _stage_spec(leaves[i], Layers, stage, layer_dim(leaves[i])) for i in self.index
        ]

    @classmethod
    def of(
        cls, tree: Any, layer_dim: Callable[[Any], int | None], Layers: Axis, stage: str
    ) -> _Group:
        leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_named_array)
        group = cls(leaves, layer_dim, Layers, stage)
        group.treedef = treedef
        return group

    def rebuild(self, arrays: Sequence[Any]) -> list[Any]:
        out = list(self.leaves)
        for i, a in zip(self.index, arrays):
            x = self.leaves[i]
            out[i] = _wrap(a, _local_axes(x.axes, a.shape)) if isinstance(x, NamedArray) else a
        return out

    def unflatten(self, leaves: list[Any]) -> Any:
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


def _is_dynamic(x: Any) -> bool:
    return isinstance(x, NamedArray) or _is_jax_array(x)


def _raw(x: Any) -> Any:
    return x.array if isinstance(x, NamedArray) else x


def _stage_spec(x: Any, Layers: Axis, stage: str, layer_dim: int | None) -> PartitionSpec:
    if layer_dim is None:
        return PartitionSpec()
    if isinstance(x, NamedArray):
        if Layers.name in x.axis_names:
            return PartitionSpec(*([None] * x.axis_names.index(Layers.name) + [stage]))
        return PartitionSpec()
    return PartitionSpec(*([None] * layer_dim + [stage]))


def _replicated(_: Any) -> None:
    return None


def _layers_first(_: Any) -> int:
    return 0


def _local_axes(axes: tuple[Axis, ...], shape: tuple[int, ...]) -> tuple[Axis, ...]:
    return tuple(a if a.size == n else Axis(a.name, n) for a, n in zip(axes, shape))


def _zeros(shape: tuple[int, ...], dtype: Any, axes: tuple[Axis, ...]) -> NamedArray:
    return _wrap(jnp.zeros(shape, dtype), axes)


def _vary(tree: Any, axis: str) -> Any:
    """Marks the arrays of `tree` as varying over `axis` (the loop state differs per stage)."""
    return jax.tree_util.tree_map(lambda x: lax.pcast(x, (axis,), to="varying"), tree)


def _check_outputs(outs: Any, batch: str, op: str) -> None:
    """Every output of a pipelined scan must be a NamedArray with the batch axis."""
    for path, y in jax.tree_util.tree_flatten_with_path(outs, is_leaf=_is_leaf)[0]:
        if not isinstance(y, NamedArray) or batch not in y.axis_names:
            raise ValueError(
                f"{op}: every output of the block must be a NamedArray with the batch axis "
                f"{batch!r}, so that its microbatches can be put back together; output"
                f"{jax.tree_util.keystr(path)} is {describe(y)}. Return per-example values, "
                "or use Pipeline.fold and carry the quantity instead."
            )


# --- microbatched arguments -----------------------------------------------------------------


def _microbatched(x: Any, batch: str, m: int) -> str | None:
    """How an argument is cut per microbatch: `"batch"` (a NamedArray with the batch axis),
    `"keys"` (per-layer typed keys, each microbatch its own stream) or `None` (whole)."""
    if isinstance(x, NamedArray):
        return "batch" if batch in x.axis_names else None
    if m > 1 and engine.is_typed_key(x) and x.ndim >= 1:
        return "keys"
    return None


def _to_microbatches(x: Any, kind: str | None, batch: str, m: int) -> Any:
    """The argument with a leading microbatch dimension (`kind` from `_microbatched`)."""
    if kind == "batch":
        return _split(x, batch, m)
    if kind == "keys":
        return engine.microbatch_keys(x, m)
    return x


def _microbatch(x: Any, kind: str | None, i: Any) -> Any:
    """Microbatch `i` (traced) of an argument cut by `_to_microbatches`."""
    if kind == "batch":
        return _index(x, i)
    if kind == "keys":
        return lax.dynamic_index_in_dim(x, i, 0, keepdims=False)
    return x


def _argument_layer_dim(x: Any) -> int | None:
    """Where a prepared call argument holds its layers (see `engine.layer_arguments`)."""
    if isinstance(x, NamedArray):
        return 0  # split along the layers axis, wherever it is, if it has one
    if engine.is_typed_key(x) and x.ndim >= 2:
        return 1  # per-microbatch keys: [microbatch, layer]
    return 0 if engine.is_sliced_plain(x) else None


# --- Pipeline -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pipeline:
    """How to run a `Stacked` as a pipeline: over which mesh axis, in how many microbatches.

    `Pipeline(mesh_axis="stage", microbatches=8, batch="batch").fold(stack, x)` equals
    `stack.fold(x)` (values and gradients), but each device of the stage axis holds
    and applies only its `Layers.size / stages` layers, and activations move between
    stages by collective permutes on a GPipe schedule (bubble `(S-1)/(M+S-1)`). Map
    the layers axis to the same mesh axis (`{"layers": "stage"}`) so the weights are
    stored where they are used; other mesh axes may carry data, FSDP or tensor
    parallelism as usual. Also available as `stack.fold(x, pipeline=...)`.

    Attributes:
        mesh_axis: The mesh axis whose devices are the stages.
        microbatches: How many microbatches to cut the batch into (`M`); more means a
            smaller bubble and more, smaller steps.
        batch: The named axis of the carry to cut (an `Axis` or a name).
        mesh: The device mesh; defaults to the one set with `jax.set_mesh`.

    Examples:
        >>> from jax.sharding import AxisType
        >>> mesh = jax.make_mesh((4, 2), ("stage", "data"), axis_types=(AxisType.Auto,) * 2)
        >>> Layers, Batch, Embed = Axis("layers", 8), Axis("batch", 8), Axis("embed", 4)
        >>> stack = nx.nn.Stacked.init(Layers, nx.nn.Linear)(Embed, Embed, key=jax.random.key(0))
        >>> x = nx.ones((Batch, Embed))
        >>> with jax.set_mesh(mesh):
        ...     stack = nx.shard(stack, {"layers": "stage"})
        ...     pipe = nx.nn.Pipeline(mesh_axis="stage", microbatches=4, batch="batch")
        ...     y = jax.jit(pipe.fold)(stack, x)
        >>> y.axes
        (Axis(name='batch', size=8), Axis(name='embed', size=4))
        >>> bool(jnp.allclose(y.array, stack.fold(x).array, atol=1e-5))
        True
        >>> pipe.bubble_fraction(stages=4)
        0.42857142857142855
    """

    mesh_axis: str = "stage"
    microbatches: int = 1
    batch: Axis | str = "batch"
    mesh: AnyMesh | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.mesh_axis, str):
            raise TypeError(
                f"Pipeline: mesh_axis must be a mesh axis name, got {describe(self.mesh_axis)}."
            )
        if isinstance(self.microbatches, bool) or not isinstance(self.microbatches, int):
            raise TypeError(
                f"Pipeline: microbatches must be an int, got {describe(self.microbatches)}."
            )
        if self.microbatches < 1:
            raise ValueError(f"Pipeline: microbatches must be >= 1, got {self.microbatches}.")
        if not isinstance(self.batch, (Axis, str)):
            raise TypeError(
                f"Pipeline: batch must be an Axis or an axis name, got {describe(self.batch)}."
            )

    @property
    def batch_name(self) -> str:
        """The name of the microbatched axis."""
        return self.batch.name if isinstance(self.batch, Axis) else self.batch

    def bubble_fraction(self, stages: int) -> float:
        """The idle share of the stage-ticks of this schedule: `(S - 1) / (M + S - 1)`."""
        return (stages - 1) / (self.microbatches + stages - 1)

    def schedule(self, stages: int) -> np.ndarray:
        """Which microbatch each stage works on at each tick (`-1`: idle).

        Returns:
            An int array `[ticks, stages]` with `ticks = M + S - 1`; the same table the
            compiled loop follows.

        Examples:
            >>> nx.nn.Pipeline(microbatches=3).schedule(stages=2)
            array([[ 0, -1],
                   [ 1,  0],
                   [ 2,  1],
                   [-1,  2]])
        """
        ticks = np.arange(self.microbatches + stages - 1)[:, None]
        micro = ticks - np.arange(stages)[None, :]
        return np.where((micro >= 0) & (micro < self.microbatches), micro, -1)

    # --- calling ---------------------------------------------------------------------------

    def fold(
        self,
        stack: Stacked[Any],
        init: C,
        *args: Any,
        remat: RematSpec | None = None,
        **kwargs: Any,
    ) -> C:
        """`stack.fold(init, *args, **kwargs)`, pipelined over the stage axis.

        Args:
            stack: The `Stacked` to apply.
            init: The carry; every NamedArray in it must have the batch axis.
            *args: Further arguments of the block's `__call__`. NamedArrays with
                `Layers` are sliced per layer, NamedArrays with the batch axis are cut
                into microbatches with the carry, everything else goes to every layer.
            remat: The remat policy of this call; `None` uses the stack's.
            **kwargs: Further keyword arguments, likewise.

        Returns:
            The final carry, as `stack.fold` returns it. With the same key it is the very
            result of `stack.fold` when `microbatches == 1`. With more microbatches, layer
            `i`'s key is split as `stack.fold` splits it and microbatch `m` of that layer
            draws from `jax.random.split(key_i, microbatches)[m]`, so no two microbatches
            share a dropout mask.

        Raises:
            ValueError: If the mesh has no such axis, the depth is not divisible by the
                stage count, the batch axis is missing or not divisible by
                `microbatches`.
            TypeError: If `stack` is not a `Stacked`, or the block returns a pair (use
                `scan`).
        """
        return self.fold_via(stack, "__call__", remat=remat)(init, *args, **kwargs)

    def scan(
        self,
        stack: Stacked[Any],
        init: C,
        *args: Any,
        remat: RematSpec | None = None,
        **kwargs: Any,
    ) -> tuple[C, Any]:
        """`stack.scan(init, ...)`, pipelined: returns `(carry, outputs)`.

        Every NamedArray output of the block must carry the batch axis (its
        microbatches are put back together); outputs are stacked along `Layers` in
        front, as `Stacked.scan` does.
        """
        return self.scan_via(stack, "__call__", remat=remat)(init, *args, **kwargs)

    def fold_via(
        self, stack: Stacked[Any], fn: Callable[..., Any] | str, *, remat: RematSpec | None = None
    ) -> Callable[..., Any]:
        """`stack.fold_via(fn)`, pipelined: `(init, *args, **kwargs) -> carry`."""
        return lambda init, *args, **kwargs: self._run(stack, fn, remat, False, init, args, kwargs)[
            0
        ]

    def scan_via(
        self, stack: Stacked[Any], fn: Callable[..., Any] | str, *, remat: RematSpec | None = None
    ) -> Callable[..., Any]:
        """`stack.scan_via(fn)`, pipelined: `(init, *args, **kwargs) -> (carry, outputs)`."""
        return lambda init, *args, **kwargs: self._run(stack, fn, remat, True, init, args, kwargs)

    # --- checks ----------------------------------------------------------------------------

    def _stages(self, stack: Any, op: str) -> tuple[AnyMesh, int]:
        if not isinstance(stack, Stacked):
            raise TypeError(f"{op}: expected a namedax.nn.Stacked, got {describe(stack)}.")
        mesh = require_mesh(self.mesh, op)
        sizes = dict(mesh.shape)
        if self.mesh_axis not in sizes:
            raise ValueError(
                f"{op}: the mesh {format_axes(Axis(n, s) for n, s in sizes.items())} has no axis "
                f"{self.mesh_axis!r} to pipeline over; build the mesh with a stage axis "
                f"(jax.make_mesh((stages, ...), ({self.mesh_axis!r}, ...))) or pass "
                f"Pipeline(mesh_axis=...) one of {sorted(sizes)}."
            )
        stages = sizes[self.mesh_axis]
        steps = stack._Steps.size  # the scanned units: layers, or a pattern's repeats
        if steps % stages:
            per_unit = stack.Layers.size // steps
            unit = "layers" if per_unit == 1 else f"repeats of its {per_unit}-block pattern"
            raise ValueError(
                f"{op}: the stack's {stack.Layers} layers ({steps} {unit}) cannot be split "
                f"evenly over {stages} stages (mesh axis {self.mesh_axis!r}); each stage holds "
                f"whole {unit}. Give the stack a number of {unit} that is a multiple of "
                f"{stages}, or pipeline over a mesh axis whose size divides {steps}."
            )
        return mesh, stages

    def _check_batch(self, leaves: Sequence[Any], paths: Sequence[str], op: str) -> None:
        name = self.batch_name
        for path, x in zip(paths, leaves):
            if not isinstance(x, NamedArray):
                raise TypeError(
                    f"{op}: the carry must hold NamedArrays with the batch axis {name!r} to cut "
                    f"into microbatches; carry{path} is {describe(x)}."
                )
            if name not in x.axis_names:
                raise ValueError(
                    f"{op}: carry{path} {format_axes(x.axes)} has no batch axis {name!r} to cut "
                    f"into {self.microbatches} microbatches; name the batch axis with "
                    "Pipeline(batch=...)."
                )
            size = x.axis_size(name)
            if isinstance(self.batch, Axis) and size != self.batch.size:
                raise ValueError(
                    f"{op}: carry{path} {format_axes(x.axes)} has {name}:{size}, but the "
                    f"pipeline was given batch={self.batch}; pass the carry's batch axis, "
                    f"Pipeline(batch=Axis({name!r}, {size})), or just its name, batch={name!r}."
                )
            if size % self.microbatches:
                raise ValueError(
                    f"{op}: carry{path} has {name}:{size}, which cannot be cut into "
                    f"{self.microbatches} equal microbatches; use a number of microbatches "
                    f"that divides {size}."
                )

    # --- the schedule ----------------------------------------------------------------------

    def _run(
        self,
        stack: Stacked[Any],
        fn: Any,
        remat: RematSpec | None,
        with_outputs: bool,
        init: Any,
        args: Any,
        kwargs: Any,
    ) -> Any:
        op = "Pipeline.scan" if with_outputs else "Pipeline.fold"
        mesh, stages = self._stages(stack, op)
        name, m, stage = self.batch_name, self.microbatches, self.mesh_axis
        Layers = stack.Layers

        carry_flat, carry_def = jax.tree_util.tree_flatten_with_path(init, is_leaf=_is_leaf)
        carry_leaves = [leaf for _, leaf in carry_flat]
        self._check_batch(carry_leaves, [jax.tree_util.keystr(p) for p, _ in carry_flat], op)
        per, shared = stack._split()
        prepared = engine.layer_arguments((args, kwargs), Layers, op)  # keys split per layer
        arg_leaves, arg_def = jax.tree_util.tree_flatten(prepared, is_leaf=is_named_array)
        micro = [_microbatched(a, name, m) for a in arg_leaves]
        arg_leaves = [_to_microbatches(a, kind, name, m) for a, kind in zip(arg_leaves, micro)]
        parts = {
            "x": _Group([_split(x, name, m) for x in carry_leaves], _replicated, Layers, stage),
            "per": _Group.of(per, _layers_first, Layers, stage),
            "shared": _Group.of(shared, _replicated, Layers, stage),
            "args": _Group(arg_leaves, _argument_layer_dim, Layers, stage),
        }
        local_layers = Axis(Layers.name, Layers.size // stages)
        out_axes: list[tuple[Axis, ...]] = []
        out_def: list[Any] = []

        def body(arrays: dict[str, list[Any]]) -> Any:
            s = lax.axis_index(stage)
            leaves = {k: g.rebuild(arrays[k]) for k, g in parts.items()}
            block = eqx.combine(
                parts["per"].unflatten(leaves["per"]),
                parts["shared"].unflatten(leaves["shared"]),
                is_leaf=is_named_array,
            )
            local = dataclasses.replace(stack, stacked=block, Layers=local_layers)
            loop = (local.scan_via if with_outputs else local.fold_via)(fn, remat=remat)
            micro_in = leaves["x"]

            def apply(carry: Any, i: Any) -> tuple[Any, Any]:
                step_args = [_microbatch(a, kind, i) for a, kind in zip(leaves["args"], micro)]
                a, kw = jax.tree_util.tree_unflatten(arg_def, step_args)
                out = loop(carry, *a, **kw)
                return out if with_outputs else (out, None)

            def fresh(t: Any) -> Any:
                return [_index(x, jnp.minimum(t, m - 1)) for x in micro_in]

            first = _vary(jax.tree_util.tree_unflatten(carry_def, fresh(0)), stage)
            _, ys_shape = eqx.filter_eval_shape(apply, first, jnp.int32(0))
            ys_leaves, ys_def = jax.tree_util.tree_flatten(ys_shape, is_leaf=_is_leaf)
            if with_outputs:
                _check_outputs(ys_shape, name, op)
                out_def[:] = [ys_def]
                out_axes[:] = [y.axes for y in ys_leaves]
            buf0 = [_zeros(x.array.shape, x.array.dtype, x.axes) for x in micro_in]
            ys0 = [
                _zeros((m, *y.array.shape), y.array.dtype, (Axis(_MICRO, m), *y.axes))
                for y in ys_leaves
            ]
            state0 = [_index(x, 0) for x in buf0]
            shift = [(i, i + 1) for i in range(stages - 1)]

            def tick(c: Any, t: Any) -> Any:
                state, buf, ys = c
                current = [
                    _wrap(jnp.where(s == 0, a.array, b.array), a.axes)
                    for a, b in zip(fresh(t), state)
                ]
                mine = t - s  # the microbatch this stage holds at tick t
                slot = jnp.clip(mine, 0, m - 1)
                new, out = apply(jax.tree_util.tree_unflatten(carry_def, current), slot)
                new = jax.tree_util.tree_leaves(new, is_leaf=_is_leaf)
                valid = (mine >= 0) & (mine < m)
                buf = [_put(b, v, slot, valid) for b, v in zip(buf, new)]
                out_leaves = jax.tree_util.tree_leaves(out, is_leaf=_is_leaf)
                ys = [_put(b, v, slot, valid) for b, v in zip(ys, out_leaves)]
                state = [_wrap(lax.ppermute(x.array, stage, shift), x.axes) for x in new]
                return (state, buf, ys), None

            carry0 = _vary((state0, buf0, ys0), stage)
            (_, buf, ys), _ = lax.scan(tick, carry0, jnp.arange(m + stages - 1))
            last = s == stages - 1
            results = [lax.psum(jnp.where(last, b.array, 0), stage) for b in buf]
            return results, [y.array for y in ys]

        run = jax.shard_map(
            body,
            mesh=mesh,
            in_specs=({k: g.specs for k, g in parts.items()},),
            out_specs=(PartitionSpec(), PartitionSpec(None, stage)),
            axis_names=frozenset({stage}),
            check_vma=True,
        )
        results, ys = run({k: g.arrays for k, g in parts.items()})
        split_carry = parts["x"].leaves
        carry = jax.tree_util.tree_unflatten(
            carry_def, [_merge(_wrap(r, x.axes), name) for r, x in zip(results, split_carry)]
        )
        if not with_outputs:
            return (carry,)
        outputs = [
            _merge(_wrap(y, (Axis(_MICRO, m), Layers, *axes[1:])), name)
            for y, axes in zip(ys, out_axes)
        ]
        return carry, jax.tree_util.tree_unflatten(out_def[0], outputs)
