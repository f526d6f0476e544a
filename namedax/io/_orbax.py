"""Sharded checkpoints through Orbax: save a model where it lives, restore it where it is needed.

`Checkpoints(directory)` keeps numbered checkpoints (steps) of a model, optimizer
state or any pytree of arrays, written by `orbax-checkpoint` (the `checkpoint` extra):

* each leaf is written from its shards as they sit on the devices (no gather to one
  host), asynchronously with `async_save=True`;
* `restore` builds every array directly in the sharding that the axis mapping and
  mesh give its axis names, so each device reads only its own shard, and the mesh may
  differ from the one saved with (8 devices saved, 4 restored, or the reverse);
* the template may be abstract (`equinox.filter_eval_shape`): no weights are in
  memory before the restore;
* a `Stacked` stays stacked on disk: leaves are stored under their pytree path, with
  the `Layers` axis (the flat per-layer layout is the state-dict path);
* each leaf's named shape is stored too, so a restore into a model with other axes
  is an error naming every leaf that differs;
* `max_to_keep` keeps the last N steps; `latest_step` picks the newest.

A restore trusts nothing in the step it reads: the recorded named shapes must be
well-formed and agree with the shapes and dtypes Orbax stored, and with the template's
(a dtype may change within its kind, such as `float32` to `bfloat16`, but a restore
never truncates floats to integers or narrows integers). Every failure is a
`ValueError` naming the step's directory and the leaf.

Orbax writes each step into a temporary directory and renames it when complete, so a
crash during a save leaves the previous steps intact (an unfinished step is not
listed). `orbax.checkpoint` is imported only when a `Checkpoints` is made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec, SingleDeviceSharding

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis
from namedax.core._errors import describe, format_axes
from namedax.core._mapping import ResourceMapping
from namedax.core._state_dict import _path_key
from namedax.core._value_checks import dtype_problem, numeric_kind
from namedax.parallel._pspec import infer_resource_partitions, resolve_mesh

__all__ = ["Checkpoints"]

T = TypeVar("T")
_ARRAYS, _AXES = "arrays", "axes"


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))


def _array_leaves(tree: Any, op: str) -> tuple[dict[str, Any], list[Any], Any]:
    """({key: NamedArray or array}, all leaves, treedef) of a pytree, NamedArrays as leaves."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_named_array)
    arrays: dict[str, Any] = {}
    paths: dict[str, str] = {}
    for path, leaf in flat:
        if isinstance(leaf, NamedArray) or _is_array(leaf):
            key = _path_key(path) or "."
            if key in arrays:
                raise ValueError(
                    f"{op}: two leaves have the key {key!r} (tree{paths[key]} and "
                    f"tree{jax.tree_util.keystr(path)}), so one would overwrite the other; "
                    "rename one of them (a dict key containing '.' collides with a nested path)."
                )
            arrays[key], paths[key] = leaf, jax.tree_util.keystr(path)
    return arrays, [leaf for _, leaf in flat], treedef


def _positional(x: Any) -> Any:
    return x.array if isinstance(x, NamedArray) else x


def _leaf_json(leaf: Any) -> dict[str, Any]:
    """What is recorded of a leaf besides its bytes: its axes (None for a plain array), shape."""
    axes = [[a.name, a.size] for a in leaf.axes] if isinstance(leaf, NamedArray) else None
    return {"axes": axes, "shape": [int(d) for d in _positional(leaf).shape]}


def _describe_leaf(info: Mapping[str, Any]) -> str:
    if info["axes"] is None:
        return f"a plain array of shape {tuple(info['shape'])}"
    return format_axes(tuple(Axis(n, s) for n, s in info["axes"]))


class Checkpoints:
    """A directory of numbered Orbax checkpoints of one pytree (model, optimizer state, ...).

    Args:
        directory: Where the steps go (created if missing); one sub-directory per step.
        max_to_keep: Keep only the newest this many steps (None: keep all).
        async_save: Return from `save` once the arrays are copied off the devices and
            write in a background thread (call `wait_until_finished` before relying
            on the files); False writes before returning.

    Raises:
        ImportError: If `orbax-checkpoint` is not installed (`pip install namedax[checkpoint]`).

    Examples:
        >>> import tempfile
        >>> import equinox as eqx
        >>> Embed = Axis("embed", 4)
        >>> model = nx.nn.Linear.init(Embed, Embed, key=jax.random.key(0))
        >>> ckpts = nx.serialization.Checkpoints(tempfile.mkdtemp(), max_to_keep=2)
        >>> for step in range(3):
        ...     ckpts.save(step, model)
        >>> ckpts.all_steps(), ckpts.latest_step()
        ([1, 2], 2)
        >>> abstract = eqx.filter_eval_shape(nx.nn.Linear.init, Embed, Embed, key=jax.random.key(0))
        >>> restored = ckpts.restore(abstract)
        >>> bool((restored.weight == model.weight).all())
        True
        >>> ckpts.close()
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_to_keep: int | None = None,
        async_save: bool = False,
    ):
        try:
            import orbax.checkpoint as ocp
        except ImportError as e:  # pragma: no cover - the extra is installed in dev
            raise ImportError(
                "Checkpoints needs orbax-checkpoint: pip install 'namedax[checkpoint]'."
            ) from e
        if max_to_keep is not None and (not isinstance(max_to_keep, int) or max_to_keep < 1):
            raise ValueError(
                f"Checkpoints: max_to_keep must be a positive int, got {max_to_keep!r}."
            )
        self._ocp = ocp
        self.directory = os.path.abspath(os.fspath(directory))
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=async_save, create=True
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    # --- steps ----------------------------------------------------------------------------

    def all_steps(self) -> list[int]:
        """The steps with a complete checkpoint, oldest first."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest complete step, or None if there is none."""
        return self._manager.latest_step()

    def wait_until_finished(self) -> None:
        """Blocks until an asynchronous save has written everything."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Waits for pending saves and releases Orbax's threads."""
        self._manager.close()

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def saved_shapes(
        self, step: int | None = None
    ) -> dict[str, tuple[Axis, ...] | tuple[int, ...]]:
        """What a step holds: each leaf's named shape (its axes), or shape for plain arrays.

        Args:
            step: The step (default: the latest).

        Raises:
            FileNotFoundError: If there is no such step.
        """
        saved = self._saved(self._step(step, "Checkpoints.saved_shapes"))
        return {
            k: tuple(Axis(n, s) for n, s in v["axes"])
            if v["axes"] is not None
            else tuple(v["shape"])
            for k, v in saved.items()
        }

    def _saved(self, step: int) -> dict[str, Any]:
        """The step's record of each leaf's axes and shape, checked to be well-formed."""
        ocp = self._ocp
        args = ocp.args.Composite(**{_AXES: ocp.args.JsonRestore()})
        where = self._step_dir(step)
        try:
            saved = self._manager.restore(step, args=args)[_AXES]
        except _ERRORS as e:
            raise _corrupted(where, None, f"its record of axes cannot be read ({_cause(e)})") from e
        if not isinstance(saved, dict):
            raise _corrupted(where, None, f"its record of axes is {describe(saved)}, not a dict")
        for key, info in saved.items():
            problem = _record_problem(info)
            if problem is not None:
                raise _corrupted(where, key, f"its recorded named shape {info!r} {problem}")
        return saved

    def _stored(self, step: int) -> dict[str, tuple[tuple[int, ...], np.dtype]] | None:
        """The shape and dtype Orbax stored for each array of a step (None if unrecorded)."""
        where = self._step_dir(step)
        try:
            from etils import epath  # an Orbax dependency

            handler = self._ocp.StandardCheckpointHandler()
            metadata = handler.metadata(epath.Path(where) / _ARRAYS)
            tree: Any = getattr(metadata, "tree", metadata)  # a pytree: {key: array metadata}
            if tree is None:
                return None
            return {k: (tuple(int(d) for d in m.shape), np.dtype(m.dtype)) for k, m in tree.items()}
        except _ERRORS as e:
            raise _corrupted(
                where, None, f"Orbax's array metadata cannot be read ({_cause(e)})"
            ) from e

    # --- save -----------------------------------------------------------------------------

    def save(self, step: int, tree: Any, *, force: bool = False) -> None:
        """Saves the arrays of `tree` as `step`, each from its own shards.

        Non-array leaves (Python numbers, functions, static fields) are not stored;
        `restore` takes them from its template.

        Args:
            step: The step number (a non-negative int, larger than the latest).
            tree: A pytree of NamedArrays and arrays (sharded or not).
            force: Overwrite an existing step of this number.

        Raises:
            TypeError: If `step` is not an int, or a leaf is not a numeric array.
            ValueError: If `step` exists already (and not `force`).
        """
        if not isinstance(step, (int, np.integer)) or isinstance(step, bool) or step < 0:
            raise TypeError(
                f"Checkpoints.save: step must be a non-negative int, got {describe(step)}."
            )
        if int(step) in self._manager.all_steps():
            if not force:
                raise ValueError(
                    f"Checkpoints.save: step {step} already exists in {self.directory}; pass "
                    "force=True to overwrite it."
                )
            self._manager.delete(int(step))
        arrays, _, _ = _array_leaves(tree, "Checkpoints.save")
        for key, leaf in arrays.items():
            dtype = _positional(leaf).dtype
            if numeric_kind(dtype) is None and not jax.numpy.issubdtype(dtype, jax.dtypes.prng_key):
                raise TypeError(
                    f"Checkpoints.save: the leaf {key!r} has dtype {dtype}; a checkpoint holds "
                    "numeric arrays only (strings and objects would need pickling)."
                )
        ocp = self._ocp
        args = ocp.args.Composite(
            **{
                _ARRAYS: ocp.args.StandardSave({k: _positional(v) for k, v in arrays.items()}),
                _AXES: ocp.args.JsonSave({k: _leaf_json(v) for k, v in arrays.items()}),
            }
        )
        self._manager.save(int(step), args=args, force=True)

    # --- restore --------------------------------------------------------------------------

    def restore(
        self,
        template: T,
        step: int | None = None,
        *,
        mapping: ResourceMapping | None = None,
        mesh: Mesh | None = None,
    ) -> T:
        """Reads a step into the structure, axes, dtypes and shardings of `template`.

        Each NamedArray is built directly in `NamedSharding(mesh, spec)`, the spec from
        its axis names and `mapping`, so each device reads only its own shard. Plain
        arrays are replicated over the mesh. Without a mesh (none given or set), a
        concrete template array keeps its sharding and an abstract one goes to the
        first device.

        Args:
            template: The pytree to fill: the model itself, or
                `equinox.filter_eval_shape` of its constructor.
            step: The step to read (default: the latest).
            mapping: Logical axis -> mesh axis (default: the current `axis_mapping`).
            mesh: The device mesh (default: the one set with `jax.set_mesh`); may have
                another shape or number of devices than the mesh saved from.

        Returns:
            The template with every array read from the checkpoint.

        Raises:
            FileNotFoundError: If there is no such step (or no step at all).
            ValueError: If leaves are missing, extra, or have other axes or shapes than
                the template's (every differing leaf is listed).
        """
        op = "Checkpoints.restore"
        step = self._step(step, op)
        ocp = self._ocp
        saved_axes = self._saved(step)
        arrays, leaves, treedef = _array_leaves(template, op)
        _check_against(op, self._step_dir(step), saved_axes, arrays, self._stored(step))
        resolved = resolve_mesh(mesh, op)
        if resolved is not None and not isinstance(resolved, Mesh):
            raise ValueError(
                f"{op}: restoring needs a concrete jax.sharding.Mesh, got an abstract one."
            )
        mesh = resolved
        targets = {k: _target(v, mapping, mesh) for k, v in arrays.items()}
        try:
            restored = self._manager.restore(
                step, args=ocp.args.Composite(**{_ARRAYS: ocp.args.StandardRestore(targets)})
            )[_ARRAYS]
        except _ERRORS as e:
            raise _corrupted(
                self._step_dir(step), None, f"its arrays cannot be read ({_cause(e)})"
            ) from e
        values = iter(
            _wrap(restored[k], v.axes) if isinstance(v, NamedArray) else restored[k]
            for k, v in arrays.items()
        )
        out = [next(values) if isinstance(x, NamedArray) or _is_array(x) else x for x in leaves]
        return jax.tree_util.tree_unflatten(treedef, out)

    def _step(self, step: int | None, op: str) -> int:
        steps = self.all_steps()
        if step is None:
            if not steps:
                raise FileNotFoundError(f"{op}: {self.directory} holds no complete checkpoint.")
            return steps[-1]
        if step not in steps:
            raise FileNotFoundError(
                f"{op}: step {step} is not in {self.directory}; it has steps {steps}."
            )
        return int(step)

    def _step_dir(self, step: int) -> str:
        return os.path.join(self.directory, str(step))


def _target(leaf: Any, mapping: ResourceMapping | None, mesh: Mesh | None) -> jax.ShapeDtypeStruct:
    """The abstract array (shape, dtype, sharding) that a leaf is restored into."""
    array = _positional(leaf)
    if mesh is not None:
        if isinstance(leaf, NamedArray):
            sharding = infer_resource_partitions(leaf, mapping, mesh=mesh)
        else:
            sharding = NamedSharding(mesh, PartitionSpec())
    elif isinstance(array, jax.Array):
        sharding = array.sharding
    else:
        sharding = SingleDeviceSharding(jax.devices()[0])
    return jax.ShapeDtypeStruct(tuple(array.shape), array.dtype, sharding=sharding)


_ERRORS = (ValueError, KeyError, TypeError, AttributeError, OSError, RuntimeError, IndexError)


def _cause(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def _corrupted(where: str, key: str | None, why: str) -> ValueError:
    leaf = f" (leaf {key!r})" if key is not None else ""
    return ValueError(
        f"Checkpoints.restore: the checkpoint {where} is corrupted{leaf}: {why}. Restore "
        "another step, or save this one again."
    )


def _record_problem(info: Any) -> str | None:
    """Why a recorded `{"axes": ..., "shape": ...}` is malformed, or None."""
    if not isinstance(info, dict) or set(info) != {"axes", "shape"}:
        return "is not a dict of 'axes' and 'shape'"
    shape, axes = info["shape"], info["axes"]
    sizes = (int, np.integer)
    if not isinstance(shape, list) or not all(
        isinstance(d, sizes) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        return "has a shape that is not a list of non-negative integers"
    if axes is None:
        return None
    if not isinstance(axes, list) or not all(
        isinstance(a, list) and len(a) == 2 and isinstance(a[0], str) for a in axes
    ):
        return "has axes that are not a list of [name, size] pairs"
    names = [a[0] for a in axes]
    if [a[1] for a in axes] != list(shape) or len(set(names)) != len(names):
        return "has axes that do not describe its shape with distinct names"
    return None


def _check_against(
    op: str,
    where: str,
    saved: Mapping[str, Any],
    arrays: Mapping[str, Any],
    stored: Mapping[str, tuple[tuple[int, ...], np.dtype]] | None = None,
) -> None:
    """The ValueError listing every leaf whose presence, axes, shape or dtype differ."""
    if stored is not None and set(stored) != set(saved):
        odd = sorted(set(stored) ^ set(saved))
        raise _corrupted(
            where, odd[0], f"its arrays and its record of axes name different leaves ({odd})"
        )
    for key, (shape, _) in (stored or {}).items():
        if tuple(saved[key]["shape"]) != shape:
            raise _corrupted(
                where, key, f"Orbax stored shape {shape}, its record says {saved[key]['shape']}"
            )
    problems = []
    missing = [k for k in arrays if k not in saved]
    extra = [k for k in saved if k not in arrays]
    if missing:
        problems.append(f"not in the checkpoint: {', '.join(missing)}")
    if extra:
        problems.append(f"in the checkpoint but not the template: {', '.join(extra)}")
    for key, leaf in arrays.items():
        if key in saved and saved[key] != _leaf_json(leaf):
            problems.append(
                f"{key} was saved as {_describe_leaf(saved[key])}, the template has "
                f"{_describe_leaf(_leaf_json(leaf))}"
            )
        elif stored is not None and key in stored:
            problem = dtype_problem(stored[key][1], _positional(leaf).dtype)
            if problem is not None:
                problems.append(f"{key}: {problem}")
    if problems:
        raise ValueError(
            f"{op}: the checkpoint {where} does not match the template: "
            + "; ".join(problems)
            + ". Restore into a template of the same model (same axes, sizes and dtypes)."
        )
