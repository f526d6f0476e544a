"""Scans over a named axis: `scan`, `fold` and `map`.

`scan(f, Layers)(init, *xs)` runs `f(carry, *x) -> (carry, y)` once per position of
`Layers`, like `jax.lax.scan`, but the scanned axis is found by name:

* a NamedArray that has the axis is scanned over it wherever it sits; inside `f`
  it arrives without the axis;
* a NamedArray without the axis is closed over: `f` sees it whole at every step;
* a plain array is scanned over its first dimension if `is_scanned(leaf)` is true
  (by default, as in Haliax, for every plain array with at least one dimension, so
  `key=jax.random.split(k, Layers.size)` gives step `i` key `i`) and closed over
  otherwise (by default, 0-d arrays such as a scalar learning rate);
* anything that is not an array (numbers, strings, functions) is closed over.

Outputs `y` are stacked with the axis in front: a NamedArray output gains the axis
as its first axis, a plain array gains a leading dimension, and non-array outputs
are returned as they are. `fold` keeps only the carry, `map` has no carry.

`remat=` chooses what the backward pass keeps (see `ScanCheckpointPolicy`).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import jax
import numpy as np

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis, AxisSelector
from namedax.core._errors import argument_paths, describe, format_axes, function_name
from namedax.core._signature_defaults import readable_defaults
from namedax.transforms._carry import ScanResultError, next_carry, next_carry_and_output
from namedax.transforms._lifting import split_output, stack_output
from namedax.transforms._remat import RematSpec, ScanCheckpointPolicy, run_scan

__all__ = ["ScanResultError", "fold", "map", "scan"]

P = ParamSpec("P")
C = TypeVar("C")
Y = TypeVar("Y")
R = TypeVar("R")


def is_array_like(x: Any) -> bool:
    """Whether `x` is an array (a NamedArray, a JAX array, or a NumPy array or scalar)."""
    return isinstance(x, (NamedArray, jax.Array, np.ndarray, np.generic))


def is_named_or_shaped_array_like(x: Any) -> bool:
    """The default `is_scanned`: a NamedArray, or a plain array with at least one dimension.

    A 0-d plain array has no dimension to scan over, so by default it is closed over
    (every step sees it), as in Haliax.
    """
    return isinstance(x, NamedArray) or (is_array_like(x) and np.ndim(x) >= 1)


@readable_defaults
def scan(
    f: Callable[P, tuple[C, Y]],
    axis: AxisSelector,
    *,
    remat: RematSpec = False,
    reverse: bool = False,
    unroll: int | bool = 1,
    is_scanned: bool | Callable[[Any], bool] = is_named_or_shaped_array_like,
) -> Callable[P, tuple[C, Y]]:
    """Scans `f` over a named axis, like `jax.lax.scan` with the axis found by name.

    Args:
        f: `f(carry, *x, **kw) -> (carry, y)`. The carry must keep its structure and
            axes from step to step.
        axis: The axis to scan over: an `Axis`, or a name (its size then comes from
            the scanned arguments).
        remat: What the backward pass keeps: `False`/`"save_all"`, `True`/`"full"`,
            `"nested"`, `"offload"`, or a `ScanCheckpointPolicy`.
        reverse: Scan from the last position to the first (outputs keep their order).
        unroll: Steps per loop iteration, as in `jax.lax.scan`.
        is_scanned: For each array leaf of the scanned arguments, whether it is scanned
            (a callable `leaf -> bool`, or a bool for all). A NamedArray is scanned
            only if it also has the axis; a plain array is scanned over its first
            dimension. The default scans every NamedArray and every plain array
            with at least one dimension; 0-d arrays are closed over, as in Haliax.

    Returns:
        A function `(init, *xs, **kw) -> (carry, ys)`.

    Raises:
        ValueError: If the scanned arguments disagree on the axis length (the message
            names each argument path and length), if a bare axis name is given and
            nothing is scanned, or if the carry changes structure.

    Examples:
        >>> Layers = Axis("layers", 3)
        >>> w = named(jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), (Layers, "embed"))
        >>> def step(total, w):
        ...     return total + w.sum().scalar(), w.sum("embed")
        >>> total, per_layer = nx.scan(step, Layers)(0.0, w)
        >>> total
        Array(21., dtype=float32)
        >>> per_layer
        NamedArray(f32{layers:3},
        [ 3.  7. 11.])
    """
    return _scanner("scan", f, axis, remat, reverse, unroll, is_scanned, "is_scanned")


def _scanner(
    op: str,
    f: Callable[..., tuple[Any, Any]],
    axis: AxisSelector,
    remat: RematSpec,
    reverse: bool,
    unroll: int | bool,
    is_scanned: bool | Callable[[Any], bool],
    filter_arg: str,
) -> Callable[..., tuple[Any, Any]]:
    """`scan`'s implementation; `op` (`scan`, `fold` or `map`) names the caller in errors."""
    policy = ScanCheckpointPolicy.from_remat(remat)
    _check_selector(axis, op)
    scanned_filter = _as_filter(is_scanned, op, filter_arg)
    name = axis.name if isinstance(axis, Axis) else axis

    @functools.wraps(f)
    def scanned(init: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs), is_leaf=is_named_array)
        plan = _plan(leaves, axis, scanned_filter, (args, kwargs), op, f)
        out_axis = Axis(name, plan.length)
        y_static: list[Any] = []

        def step(carry: Any, x_leaves: list[Any]) -> tuple[Any, Any]:
            full = list(leaves)
            for i, x, inner in zip(plan.indices, x_leaves, plan.inner_axes):
                full[i] = x if inner is None else _wrap(x, inner)
            call_args, call_kwargs = jax.tree_util.tree_unflatten(treedef, full)
            out = f(carry, *call_args, **call_kwargs)
            new_carry, y = next_carry_and_output(op, carry, out, function_name(f))
            dynamic, static = split_output(y)
            y_static[:] = [static]
            return new_carry, dynamic

        carry, ys = run_scan(
            step, init, plan.arrays, plan.length, policy=policy, reverse=reverse, unroll=unroll
        )
        clash = functools.partial(_output_clash, op)
        return carry, stack_output(ys, y_static[0], (out_axis,), clash)

    return scanned


@readable_defaults
def fold(
    fn: Callable[P, C],
    axis: AxisSelector,
    *,
    remat: RematSpec = False,
    reverse: bool = False,
    unroll: int | bool = 1,
    is_scanned: bool | Callable[[Any], bool] = is_named_or_shaped_array_like,
) -> Callable[P, C]:
    """Folds `fn(carry, *x, **kw) -> carry` over a named axis, returning the final carry.

    Arguments are split as in `scan`: leaves with the axis are scanned, the rest closed over.

    Examples:
        >>> Layers = Axis("layers", 4)
        >>> x = named(jnp.arange(4.0), Layers)
        >>> nx.fold(lambda total, x: total + x.scalar(), Layers)(0.0, x)
        Array(6., dtype=float32)
    """

    call: Callable[..., C] = fn  # takes (carry, *xs, **kw); P does not split the carry off

    def step(carry: Any, *args: Any, **kwargs: Any) -> tuple[Any, None]:
        return next_carry("fold", carry, call(carry, *args, **kwargs), function_name(fn)), None

    functools.update_wrapper(step, fn)
    run = _scanner("fold", step, axis, remat, reverse, unroll, is_scanned, "is_scanned")

    @functools.wraps(fn)
    def folded(init: Any, *args: Any, **kwargs: Any) -> Any:
        return run(init, *args, **kwargs)[0]

    return folded


@readable_defaults
def map(  # the Haliax name
    fn: Callable[P, R],
    axis: AxisSelector,
    *,
    remat: RematSpec = False,
    reverse: bool = False,
    unroll: int | bool = 1,
    is_mapped: bool | Callable[[Any], bool] = is_named_or_shaped_array_like,
) -> Callable[P, R]:
    """Applies `fn(*x, **kw) -> y` at each position of a named axis, sequentially.

    Like `jax.lax.map`: one step at a time (memory of one step), outputs stacked with the
    axis in front. Arguments are split as in `scan` (`is_mapped` plays `is_scanned`'s role).

    Examples:
        >>> Layers = Axis("layers", 3)
        >>> x = named(jnp.arange(6.0).reshape(2, 3), ("embed", Layers))
        >>> nx.map(lambda x: x.sum(), Layers)(x).array
        Array([3., 5., 7.], dtype=float32)
    """

    def step(carry: None, *args: Any, **kwargs: Any) -> tuple[None, Any]:
        return None, fn(*args, **kwargs)

    functools.update_wrapper(step, fn)
    run = _scanner("map", step, axis, remat, reverse, unroll, is_mapped, "is_mapped")

    @functools.wraps(fn)
    def mapped(*args: Any, **kwargs: Any) -> Any:
        return run(None, *args, **kwargs)[1]

    return mapped


# --- planning: which leaves are scanned ----------------------------------------------------


class _Plan:
    __slots__ = ("arrays", "indices", "inner_axes", "length")

    def __init__(self, arrays, indices, inner_axes, length):
        self.arrays = arrays
        self.indices = indices
        self.inner_axes = inner_axes
        self.length = length


def _plan(
    leaves: list[Any], axis: AxisSelector, scanned: Callable, tree: Any, op: str, f: Callable
) -> _Plan:
    name = axis.name if isinstance(axis, Axis) else axis
    paths = lambda: _parameter_paths(tree, f, skip=0 if op == "map" else 1)
    arrays, indices, inner_axes, lengths = [], [], [], []
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, NamedArray):
            names = leaf.axis_names
            if name not in names or not scanned(leaf):
                continue
            pos = names.index(name)
            array = leaf.array if pos == 0 else jax.numpy.moveaxis(leaf.array, pos, 0)
            arrays.append(array)
            inner_axes.append(leaf.axes[:pos] + leaf.axes[pos + 1 :])
            lengths.append(leaf.axes[pos].size)
        elif is_array_like(leaf) and scanned(leaf):
            if np.ndim(leaf) == 0:
                raise ValueError(
                    f"{op}: {paths()[i]} is a 0-d array, so it cannot be scanned over "
                    f"axis {name!r}. Close over it, or pass is_scanned= to leave it unscanned."
                )
            arrays.append(leaf)
            inner_axes.append(None)
            lengths.append(np.shape(leaf)[0])
        else:
            continue
        indices.append(i)
    length = _common_length(axis, lengths, indices, paths, [a is None for a in inner_axes], op)
    return _Plan(arrays, indices, inner_axes, length)


def _common_length(
    axis: AxisSelector,
    lengths: list[int],
    indices: list[int],
    paths: Callable[[], list[str]],
    plain: list[bool],
    op: str,
) -> int:
    expected = axis.size if isinstance(axis, Axis) else None
    found = set(lengths)
    if expected is not None:
        found.add(expected)
    if len(found) == 1:
        return found.pop()
    name = axis.name if isinstance(axis, Axis) else axis
    if not found:
        raise ValueError(
            f"{op}: no argument has axis {name!r} to scan over, so its length is unknown. "
            f"Pass Axis({name!r}, size) instead of the bare name."
        )
    names = paths()
    listing = "; ".join(
        f"{names[i]} has leading dimension {n}" if is_plain else f"{names[i]} has {name}={n}"
        for i, n, is_plain in zip(indices, lengths, plain, strict=True)
    )
    given = f" The axis was given as {axis}." if expected is not None else ""
    raise ValueError(
        f"{op}: the scanned arguments disagree on the length of axis {name!r}: {listing}.{given} "
        "Every scanned argument must have the same length along the axis (a plain array "
        "along its first dimension); slice or pad the odd one out, or close over it "
        "(is_scanned=...)."
    )


def _parameter_paths(tree: Any, f: Callable, skip: int) -> list[str]:
    """`argument_paths(tree)` with `args[i]`/`kwargs['k']` replaced by `f`'s parameter names.

    `skip` leading parameters of `f` (the carry) take no argument from `tree`.
    """
    paths = argument_paths(tree)
    try:
        params = list(inspect.signature(f).parameters.values())[skip:]
    except (TypeError, ValueError):
        return paths
    positional: dict[int, str] = {}
    for param in params:
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            start = len(positional)
            for i in range(start, len(tree[0])):
                positional[i] = f"{param.name}[{i - start}]"
            break
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            positional[len(positional)] = param.name

    def rename(path: str) -> str:
        if m := re.match(r"args\[(\d+)\]", path):
            named = positional.get(int(m.group(1)))
            return path if named is None else named + path[m.end() :]
        if m := re.match(r"kwargs\['([^']*)'\]", path):
            return m.group(1) + path[m.end() :]
        return path

    return [rename(p) for p in paths]


# --- checks and messages -------------------------------------------------------------------


def _check_selector(axis: Any, op: str) -> None:
    if not isinstance(axis, (Axis, str)):
        raise TypeError(
            f"{op}: axis must be one Axis or an axis name, got {describe(axis)}. To scan over "
            "several axes, nest the scans."
        )


def _as_filter(spec: bool | Callable[[Any], bool], op: str, arg: str) -> Callable[[Any], bool]:
    if isinstance(spec, bool):
        return (lambda _: True) if spec else (lambda _: False)
    if not callable(spec):
        raise TypeError(f"{op}: {arg} must be a bool or a callable leaf -> bool, got {spec!r}.")
    return spec


def _output_clash(op: str, axes: tuple[Axis, ...], name: str) -> str:
    return (
        f"{op}: an output NamedArray{format_axes(axes)} already has axis {name!r}, so the "
        "stacked output cannot add it. Rename the output's axis (namedax.rename) or reduce it "
        "before returning."
    )
