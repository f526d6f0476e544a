"""`nmap`: lift a positional function over every named axis of its inputs.

`nmap(fn)(*args)` calls `fn` once per element of the *joint* named shape of the
NamedArray arguments, vectorised with `jax.vmap`: each named axis is mapped by name
across every argument that has it (size checked), so inside `fn` a NamedArray
arrives as a plain positional array of its remaining dimensions. Plain arrays and
other values are passed as they are, unmapped.

`axes=` exposes chosen axes to `fn` instead of mapping them: each NamedArray
arrives holding the exposed axes it has as its trailing positional dimensions, in
the order given, so functions with no named wrapper (`jnp.linalg.norm`,
`jnp.fft.fft`, `jnp.interp`, ...) work along a named axis.

Outputs: every array returned by `fn` becomes a NamedArray whose axes are the
mapped axes (in order of first appearance among the inputs) followed by names for
the dimensions `fn` returned. Those names come from `out_axes=`, or, when it is not
given and the returned dimensions match the exposed axes in number and size, from
the exposed axes. A 0-d result needs no names. Non-array outputs pass through.

Because the lifting is `jax.vmap`, the compiled program is the one a hand-written
positional version would give (the same dots, no extra copies).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax import lax

from namedax.core._array import NamedArray, is_named_array
from namedax.core._axes import Axis, AxisSelection, AxisSelector, axis_spec_to_tuple
from namedax.core._errors import argument_paths, describe_tree, format_axes
from namedax.transforms._lifting import Static, is_array, stack_output

__all__ = ["nmap"]


def nmap(
    fn: Callable[..., Any],
    axes: AxisSelection = (),
    *,
    out_axes: Any = None,
) -> Callable[..., Any]:
    """Lifts a positional function so it maps over every named axis of its inputs.

    Args:
        fn: Any function of positional arrays.
        axes: Axes *not* mapped but passed to `fn` as the trailing dimensions of each
            NamedArray argument that has them, in the order given.
        out_axes: Names for the positional dimensions of `fn`'s array outputs: one
            selection (a name, an `Axis`, or a sequence/dict of them) for every output,
            or a tuple/list/dict mirroring the output whose entries are selections
            (write a single name as `("name",)` there). Defaults to the exposed `axes`
            when the output dimensions match them.

    Returns:
        The lifted function; its array outputs are NamedArrays.

    Raises:
        ValueError: (when called) if an axis name has different sizes in different
            arguments (the message lists every argument's path and named shape), if an
            exposed axis is in no argument, or if an output dimension has no name.

    Examples:
        >>> x = named(jnp.array([[3.0, 4.0], [6.0, 8.0], [0.0, 1.0]]), ("batch", "embed"))
        >>> nx.nmap(jnp.linalg.norm, axes="embed")(x)
        NamedArray(f32{batch:3},
        [ 5. 10.  1.])
        >>> nx.nmap(jax.nn.softmax, axes="embed")(x).axes
        (Axis(name='batch', size=3), Axis(name='embed', size=2))
        >>> w = named(jnp.ones((2, 4)), ("embed", "out"))
        >>> nx.nmap(jnp.dot, axes="embed")(x, w).shape
        {'batch': 3, 'out': 4}
    """
    exposed = axis_spec_to_tuple(axes)
    exposed_names = tuple(a.name if isinstance(a, Axis) else a for a in exposed)
    if len(set(exposed_names)) != len(exposed_names):
        raise ValueError(f"nmap: axes={exposed_names} repeats a name; expose each axis once.")
    single_out = _single_selection(out_axes)

    @functools.wraps(fn)
    def lifted(*args: Any, **kwargs: Any) -> Any:
        tree = (args, kwargs)
        leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_named_array)
        named_idx = [i for i, x in enumerate(leaves) if isinstance(x, NamedArray)]
        sizes = _joint_sizes(leaves, named_idx, tree)
        exposed_axes = _resolve_exposed(exposed, sizes, tree)
        mapped = [Axis(n, s) for n, s in sizes.items() if n not in exposed_names]
        slots: list[Any] = []

        def innermost(dyn: list[Any]) -> list[Any]:
            full = list(leaves)
            for i, x in zip(named_idx, dyn, strict=True):
                perm = _exposed_perm(leaves[i].axes, exposed_names)
                full[i] = x if perm is None else lax.transpose(x, perm)
            a, k = jax.tree_util.tree_unflatten(treedef, full)
            out = fn(*a, **k)
            dyn_out, slots_out = _name_outputs(out, exposed_axes, out_axes, single_out, mapped)
            slots[:] = [slots_out]
            return dyn_out

        body = innermost
        remaining = [leaves[i].axis_names for i in named_idx]
        levels = []
        for ax in mapped:
            in_axes = [names.index(ax.name) if ax.name in names else None for names in remaining]
            remaining = [tuple(n for n in names if n != ax.name) for names in remaining]
            levels.append(in_axes)
        for ax, in_axes in zip(reversed(mapped), reversed(levels), strict=True):
            body = jax.vmap(body, in_axes=(in_axes,), out_axes=0, axis_name=ax.name)
        out = body([leaves[i].array for i in named_idx])
        return stack_output(out, slots[0], tuple(mapped))

    return lifted


def _single_selection(out_axes: Any) -> tuple[AxisSelector, ...] | None:
    """`out_axes` as one selection for every output, or None if it mirrors the output."""
    if out_axes is None:
        return None
    if isinstance(out_axes, (str, Axis)):
        return (out_axes,)
    if isinstance(out_axes, Mapping) and all(isinstance(v, int) for v in out_axes.values()):
        return axis_spec_to_tuple(out_axes)
    if isinstance(out_axes, Sequence) and all(isinstance(a, (str, Axis)) for a in out_axes):
        return tuple(out_axes)
    return None


def _joint_sizes(leaves: list[Any], named_idx: list[int], tree: Any) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for i in named_idx:
        for a in leaves[i].axes:
            if sizes.setdefault(a.name, a.size) != a.size:
                raise ValueError(
                    f"nmap: axis {a.name!r} has different sizes among the arguments "
                    f"({sizes[a.name]} and {a.size}); axes are matched by name, so each name "
                    f"needs one size. Arguments: {_named_listing(tree)}. Rename or slice one "
                    "of them."
                )
    return sizes


def _resolve_exposed(exposed, sizes, tree) -> tuple[Axis, ...]:
    out = []
    for sel in exposed:
        name = sel.name if isinstance(sel, Axis) else sel
        if name not in sizes:
            raise ValueError(
                f"nmap: axes= exposes {name!r}, but no argument has that axis. Arguments: "
                f"{_named_listing(tree)}."
            )
        if isinstance(sel, Axis) and sel.size != sizes[name]:
            raise ValueError(
                f"nmap: axes= exposes {sel}, but the arguments have {name}({sizes[name]}). "
                f"Arguments: {_named_listing(tree)}."
            )
        out.append(Axis(name, sizes[name]))
    return tuple(out)


@functools.lru_cache(maxsize=512)
def _exposed_perm(axes: tuple[Axis, ...], exposed: tuple[str, ...]) -> tuple[int, ...] | None:
    """The transpose that puts an argument's exposed dims in the order of `axes=`."""
    held = [a.name for a in axes if a.name in exposed]
    wanted = [n for n in exposed if n in held]
    if held == wanted:
        return None
    return tuple(held.index(n) for n in wanted)


def _name_outputs(out, exposed_axes, out_axes, single, mapped):
    leaves, treedef = jax.tree_util.tree_flatten(out, is_leaf=is_named_array)
    if out_axes is None or single is not None:
        per_leaf: list[Any] = [single] * len(leaves)
    else:
        try:
            per_leaf = treedef.flatten_up_to(out_axes)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"nmap: out_axes={out_axes!r} does not mirror the output of the function "
                f"({describe_tree(out)}): {e}. Give one selection for every output, or a container "
                "of the output's structure holding one selection per array."
            ) from None
    mapped_names = {a.name for a in mapped}
    dyn, slots = [], []
    for leaf, names in zip(leaves, per_leaf, strict=True):
        if isinstance(leaf, NamedArray):
            dyn.append(leaf.array)
            slots.append(leaf.axes)
        elif is_array(leaf):
            dyn.append(leaf)
            slots.append(_output_axes(np.shape(leaf), names, exposed_axes))
        else:
            slots.append(Static(leaf))
            continue
        clash = [a.name for a in slots[-1] if a.name in mapped_names]
        if clash:
            raise ValueError(
                f"nmap: an output is named {format_axes(slots[-1])}, but {clash} are mapped "
                f"axes {format_axes(mapped)} that the output gets in front. Use other names in "
                "out_axes."
            )
    return dyn, (treedef, slots)


def _output_axes(shape, names, exposed_axes) -> tuple[Axis, ...]:
    if not shape:
        return ()
    if names is None:
        if tuple(a.size for a in exposed_axes) == tuple(shape):
            return exposed_axes
        raise ValueError(
            f"nmap: the function returned an array of shape {tuple(shape)} per element, and "
            f"its dimensions have no names (the exposed axes are {format_axes(exposed_axes)}). "
            "Name them with out_axes=..., e.g. out_axes=('embed',)."
        )
    selectors = axis_spec_to_tuple(names)
    if len(selectors) != len(shape):
        raise ValueError(
            f"nmap: out_axes gives {len(selectors)} names {[str(s) for s in selectors]} for an "
            f"output of shape {tuple(shape)} per element. Give one name per dimension."
        )
    axes = []
    for sel, size in zip(selectors, shape, strict=True):
        if isinstance(sel, Axis) and sel.size != size:
            raise ValueError(
                f"nmap: out_axes names {sel} but the output has size {size} there (shape "
                f"{tuple(shape)} per element)."
            )
        axes.append(sel if isinstance(sel, Axis) else Axis(sel, size))
    return tuple(axes)


def _named_listing(tree: Any) -> str:
    leaves = jax.tree_util.tree_leaves(tree, is_leaf=is_named_array)
    return "; ".join(
        f"{path} is {format_axes(x.axes)}"
        for path, x in zip(argument_paths(tree), leaves, strict=True)
        if isinstance(x, NamedArray)
    )
