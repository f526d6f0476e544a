"""`vmap` over named axes.

`vmap(fn, Batch)` maps `fn` over the axis `Batch`:

* a NamedArray argument that has the axis is mapped over it wherever it sits, and
  arrives in `fn` without it; one that lacks the axis is passed whole to every call;
* a plain array leaf follows a *spec*: an int (map that dimension), `None` (pass it
  whole) or a callable `leaf -> int | None`. `default` applies to every leaf, and
  `args` / `kwargs` override it per argument as pytree prefixes of the actual
  arguments, matched to parameter names through `fn`'s signature (so
  `kwargs={"params": None}` also covers `params` passed by position);
* leaves that are not arrays (numbers, strings, functions) are passed through.

Every NamedArray in the output gets the axis in front; plain arrays get a leading
dimension; non-array outputs are returned as they are. The axis name is bound as
the `jax.vmap` `axis_name`, so collectives such as `jax.lax.psum(x, "batch")` work
inside `fn`, and when the current `axis_mapping` maps the axis to a mesh axis, that
mesh axis is the `spmd_axis_name`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeAlias, TypeVar

import jax
import numpy as np

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._axes import Axis, AxisSelection, AxisSelector
from namedax.core._errors import argument_paths, describe, describe_tree, format_axes, function_name
from namedax.core._mapping import physical_axis_name
from namedax.core._signature_defaults import readable_defaults
from namedax.transforms._lifting import is_array, split_output, stack_output

__all__ = ["vmap"]

P = ParamSpec("P")
R = TypeVar("R")

UnnamedAxisSpec: TypeAlias = int | Callable[[Any], int | None] | None
"""How a plain array leaf is mapped: a dimension, `None` (not mapped) or a callable."""


def arrays_on_first_dim(leaf: Any) -> int | None:
    """The default spec: arrays with at least one dimension map over dimension 0.

    0-d arrays and non-arrays are not mapped.
    """
    return 0 if is_array(leaf) and np.ndim(leaf) > 0 else None


@readable_defaults
def vmap(
    fn: Callable[P, R],
    axis: AxisSelection,
    *,
    default: UnnamedAxisSpec = arrays_on_first_dim,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
) -> Callable[P, R]:
    """Vectorises `fn` over one or more named axes.

    Args:
        fn: The function to map. Inside it, NamedArrays no longer have the axis.
        axis: The axis to map over: an `Axis`, a name, a sequence of them or a
            `{name: size}` dict. Several axes are mapped in turn, the first given
            outermost, so outputs carry them in front in the given order. A bare
            name takes its size from the arguments.
        default: The spec for plain array leaves not covered by `args`/`kwargs`: an
            int, `None`, or a callable `leaf -> int | None`. By default arrays with at
            least one dimension are mapped over dimension 0 (0-d arrays are not).
        args: Specs for positional arguments, each a pytree prefix of the argument.
        kwargs: Specs by parameter name (also for parameters passed by position).

    Returns:
        The mapped function. It takes the arguments `fn` takes and returns what `fn`
        returns (with the axis added), and type checkers see it so: its parameter and
        return types are `fn`'s.

    Raises:
        ValueError: (when called) if the mapped arguments disagree on the size of the
            axis (naming each argument path and size), a spec names a dimension an
            array does not have, or no argument has the axis and its size is unknown.
        TypeError: (when called) if a spec is not an int, `None` or a callable.

    Examples:
        >>> Batch, Embed = Axis("batch", 3), Axis("embed", 2)
        >>> x = named(jnp.arange(6.0).reshape(2, 3), (Embed, Batch))
        >>> def norm_sq(v):
        ...     return (v * v).sum()
        >>> nx.vmap(norm_sq, Batch)(x)
        NamedArray(f32{batch:3}, [ 9. 17. 29.])
        >>> nx.vmap(lambda v: jax.lax.psum(v, "batch"), Batch)(x).axes
        (Axis(name='batch', size=3), Axis(name='embed', size=2))
    """
    axes = _axis_list(axis)
    if not axes:
        return fn
    _check_spec(default, "default")
    spec_kwargs = {} if kwargs is None else dict(kwargs)
    spec_args = tuple(args)
    for path, spec in jax.tree_util.tree_flatten_with_path(
        (spec_args, spec_kwargs), is_leaf=_is_spec_leaf
    )[0]:
        _check_spec(spec, ("args", "kwargs")[path[0].idx] + jax.tree_util.keystr(path[1:]))
    mapped: Callable[P, R] = fn
    for ax in reversed(axes):
        mapped = _vmap_one(mapped, ax, default, spec_args, spec_kwargs)
    return mapped


def _axis_list(axis: AxisSelection) -> list[AxisSelector]:
    if isinstance(axis, (Axis, str)):
        return [axis]
    if isinstance(axis, Mapping):
        return [Axis(name, size) for name, size in axis.items()]
    if isinstance(axis, Sequence):
        out = list(axis)
        for a in out:
            if not isinstance(a, (Axis, str)):
                raise TypeError(f"vmap: expected an Axis or an axis name, got {describe(a)}.")
        names = [a.name if isinstance(a, Axis) else a for a in out]
        if len(set(names)) != len(names):
            raise ValueError(f"vmap: axis {names} repeats a name; map over each axis once.")
        return out
    raise TypeError(
        "vmap: axis must be an Axis, a name, a sequence of them or a {name: size} dict, got "
        f"{describe(axis)}."
    )


def _vmap_one(
    fn: Callable[..., Any],
    axis: AxisSelector,
    default: UnnamedAxisSpec,
    spec_args: tuple[Any, ...],
    spec_kwargs: dict[str, Any],
) -> Callable[..., Any]:
    name = axis.name if isinstance(axis, Axis) else axis
    size = axis.size if isinstance(axis, Axis) else None
    binder = _SpecBinder(fn, default, spec_args, spec_kwargs)

    @functools.wraps(fn)
    def mapped(*call_args: Any, **call_kwargs: Any) -> Any:
        call_args, call_kwargs, specs = binder.bind(call_args, call_kwargs)
        tree = (call_args, call_kwargs)
        leaves, treedef = jax.tree_util.tree_flatten(tree, is_leaf=is_named_array)
        leaf_specs = [default] * len(leaves) if specs is None else _leaf_specs(specs, tree)
        in_axes, dynamic, inner, axis_size = _plan(leaves, leaf_specs, name, size, tree)
        static_out: list[Any] = []

        def body(dyn: list[Any]) -> list[Any]:
            full = list(leaves)
            for i, x in zip(dynamic, dyn, strict=True):
                axes = inner[i]
                full[i] = x if axes is None else _wrap(x, axes)
            a, k = jax.tree_util.tree_unflatten(treedef, full)
            out_dyn, static = split_output(fn(*a, **k))
            static_out[:] = [static]
            return out_dyn

        spmd = physical_axis_name(name)
        out = jax.vmap(
            body,
            in_axes=([in_axes[i] for i in dynamic],),
            out_axes=0,
            axis_name=name,
            axis_size=axis_size,
            spmd_axis_name=spmd,
        )([leaves[i] if inner[i] is None else leaves[i].array for i in dynamic])
        return stack_output(out, static_out[0], (Axis(name, axis_size),), _output_clash)

    return mapped


# --- specs ---------------------------------------------------------------------------------


def _check_spec(spec: Any, where: str) -> None:
    if spec is None or callable(spec) or _is_int(spec):
        return
    raise TypeError(
        f"vmap: the spec {where} is {describe(spec)}; a spec is an int (the dimension to map), "
        "None (not mapped) or a callable leaf -> int | None."
    )


def _is_spec_leaf(x: Any) -> bool:
    return x is None or callable(x) or isinstance(x, (int, np.integer))


class _SpecBinder:
    """Matches `args`/`kwargs` specs to the actual arguments through `fn`'s signature."""

    def __init__(self, fn, default, spec_args, spec_kwargs):
        self.default = default
        self.trivial = not spec_args and not spec_kwargs
        self.spec_args, self.spec_kwargs = spec_args, spec_kwargs
        self.sig = None
        if self.trivial:
            return
        try:
            self.sig = inspect.signature(fn)
        except (TypeError, ValueError):  # builtins without a signature: match by position
            return
        try:
            self.spec_bound = self.sig.bind_partial(*spec_args, **spec_kwargs).arguments
        except TypeError as e:
            raise TypeError(
                f"vmap: the args/kwargs specs do not fit the signature "
                f"{function_name(fn)}{self.sig}: {e}. Give at most one spec per parameter, by "
                "position or by name."
            ) from None
        self.fn = fn

    def bind(self, call_args, call_kwargs):
        """Returns canonical (args, kwargs) and matching spec prefixes, or None if all default."""
        if self.trivial:
            return call_args, call_kwargs, None
        default = self.default
        if self.sig is None:
            given = tuple(self.spec_args[: len(call_args)])
            positional_specs = given + (default,) * (len(call_args) - len(given))
            kw_specs = {k: self.spec_kwargs.get(k, default) for k in call_kwargs}
            return call_args, call_kwargs, (positional_specs, kw_specs)
        try:
            bound = self.sig.bind(*call_args, **call_kwargs)
        except TypeError as e:
            raise TypeError(f"{function_name(self.fn)}{self.sig}: {e}") from None
        args, kwargs = bound.args, bound.kwargs
        specs, params = self.spec_bound, self.sig.parameters
        arg_specs: list[Any] = []
        var_specs: dict[str, Any] = {}
        for pname, param in params.items():  # mirrors BoundArguments.args
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                var_specs = specs.get(pname, {})
            if param.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD):
                continue
            if len(arg_specs) >= len(args) or pname not in bound.arguments:
                continue
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                n = len(bound.arguments[pname])
                given = tuple(specs.get(pname, ()))[:n]
                arg_specs.extend(given + (default,) * (n - len(given)))
            else:
                arg_specs.append(specs.get(pname, default))
        kw_specs = {
            k: var_specs.get(k, default)
            if k not in params or params[k].kind is inspect.Parameter.VAR_KEYWORD
            else specs.get(k, default)
            for k in kwargs
        }
        return args, kwargs, (tuple(arg_specs), kw_specs)


def _leaf_specs(specs: Any, tree: Any) -> list[Any]:
    """Broadcasts the spec prefix `specs` to one spec per leaf of `tree`."""
    spec_leaves, spec_def = jax.tree_util.tree_flatten(specs, is_leaf=_is_spec_leaf)
    try:
        subtrees = spec_def.flatten_up_to(tree)
    except (ValueError, TypeError):
        raise ValueError(
            f"vmap: the args/kwargs specs {specs!r} are not a pytree prefix of the arguments "
            f"({describe_tree(tree)}): {_prefix_mismatch(spec_def, tree)}"
        ) from None
    out: list[Any] = []
    for spec, sub in zip(spec_leaves, subtrees, strict=True):
        n = len(jax.tree_util.tree_leaves(sub, is_leaf=is_named_array))
        out.extend([spec] * n)
    return out


def _prefix_mismatch(spec_def: Any, tree: Any) -> str:
    """JAX's account of why `spec_def` is no prefix of `tree`, its leaves shown as `describe`."""
    described = jax.tree_util.tree_map(describe, tree, is_leaf=is_named_array)
    try:
        spec_def.flatten_up_to(described)
    except (ValueError, TypeError) as e:
        return str(e)
    return "the structures differ"


# --- planning ------------------------------------------------------------------------------


def _plan(leaves, leaf_specs, name, size, tree):
    """Per leaf: in-axis, which leaves go through jax.vmap, inner axes; and the axis size."""
    n = len(leaves)
    in_axes: list[int | None] = [None] * n
    inner: list[tuple[Axis, ...] | None] = [None] * n
    dynamic: list[int] = []
    sizes: list[tuple[int, int]] = []
    for i, (leaf, spec) in enumerate(zip(leaves, leaf_specs, strict=True)):
        if isinstance(leaf, NamedArray):
            names = leaf.axis_names
            dynamic.append(i)
            if name in names:
                pos = names.index(name)
                in_axes[i] = pos
                sizes.append((i, leaf.axes[pos].size))
                inner[i] = leaf.axes[:pos] + leaf.axes[pos + 1 :]
            else:
                inner[i] = leaf.axes
            continue
        if callable(spec):
            spec = spec(leaf)
        if spec is None:
            if is_array(leaf):
                dynamic.append(i)
            continue
        if not _is_int(spec):
            raise TypeError(
                f"vmap: the spec for {argument_paths(tree)[i]} gave {describe(spec)}; a spec "
                "must give an int (the dimension to map) or None (not mapped)."
            )
        dim = int(spec)  # type: ignore[arg-type]  # checked by _is_int
        if is_array(leaf):
            dynamic.append(i)
            ndim = np.ndim(leaf)
            if not -ndim <= dim < ndim:
                raise ValueError(
                    f"vmap: the spec for {argument_paths(tree)[i]} maps dimension {dim} over axis "
                    f"{name!r}, but it is a {describe(leaf)}. Give a dimension in "
                    f"[{-ndim}, {ndim}) or None to pass it whole."
                )
            in_axes[i] = dim % ndim
            sizes.append((i, np.shape(leaf)[dim]))
        elif isinstance(leaf, (int, float, complex)):
            raise ValueError(
                f"vmap: the spec for {argument_paths(tree)[i]} maps dimension {spec} over axis "
                f"{name!r}, but it is a Python {type(leaf).__name__} {leaf!r}, which has no "
                "dimensions. Give None for it, or pass an array."
            )
    return in_axes, dynamic, inner, _axis_size(name, size, sizes, tree)


def _axis_size(name: str, size: int | None, sizes: list[tuple[int, int]], tree: Any) -> int:
    found = {s for _, s in sizes}
    if size is not None:
        found.add(size)
    if len(found) == 1:
        return found.pop()
    if not found:
        raise ValueError(
            f"vmap: no argument has axis {name!r}, so its size is unknown. Pass "
            f"Axis({name!r}, size) (or {{{name!r}: size}}) instead of the bare name to create it."
        )
    paths = argument_paths(tree)
    listing = "; ".join(f"{paths[i]} has size {s}" for i, s in sizes)
    given = f" The axis was given as {name}({size})." if size is not None else ""
    raise ValueError(
        f"vmap: inconsistent sizes for axis {name!r}: {listing}.{given} Every mapped argument "
        "must have the same size along the axis; use None in args/kwargs to pass an argument "
        "whole."
    )


# --- outputs -------------------------------------------------------------------------------


def _output_clash(axes: tuple[Axis, ...], name: str) -> str:
    return (
        f"vmap: fn returned a NamedArray{format_axes(axes)} that already has the mapped axis "
        f"{name!r}, so the output cannot add it. Rename that axis (namedax.rename) before "
        "returning."
    )


# --- small helpers -------------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)
