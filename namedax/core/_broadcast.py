"""Broadcasting by name.

Operands are aligned by axis name, never by position. The result's axes are:

* if one operand's axis names contain the other's, the larger operand's axes in its
  order (the left operand's order when both hold the same names);
* otherwise (neither contains the other) elementwise operations and `where` raise a
  ValueError, as in Haliax: an outer combination such as `{batch, embed}` with
  `{batch, hidden}` is almost always a bug. Ask for it explicitly with
  `broadcast_arrays` (or `broadcast_axis`, or `nmap`), which use *union
  broadcasting*: the left operand's axes followed by the right operand's new axes,
  in their order.

With more than two operands the rule folds from left to right. An axis present in
several operands must have the same size in each. Python numbers and 0-d arrays
combine with anything; a plain array with dimensions has no names to align by and
is refused.

Alignment never materialises a broadcast: operands are transposed into the result
order and given size-1 dimensions for the axes they lack, and `jax.numpy`'s own
broadcasting does the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Number
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSpec, check_unique_names, resolve_axis, sized_axes
from namedax.core._errors import describe, format_axes

__all__ = ["broadcast_arrays", "broadcast_axis", "broadcast_to"]

_PAIR_CACHE: dict[tuple[tuple[Axis, ...], tuple[Axis, ...], bool], tuple[Axis, ...]] = {}
_PLAN_CACHE: dict[tuple[tuple[Axis, ...], tuple[Axis, ...]], tuple[Any, Any]] = {}


def is_scalar_like(x: Any) -> bool:
    """Whether `x` combines with any NamedArray: a Python/NumPy number or a 0-d array."""
    if isinstance(x, (Number, np.bool_)):
        return True
    return getattr(x, "shape", None) == ()


def pair_result_axes(
    op: str,
    left: tuple[Axis, ...],
    right: tuple[Axis, ...],
    names: tuple[str, str],
    *,
    union: bool = False,
) -> tuple[Axis, ...]:
    """The result axes of broadcasting `left` with `right` by name (see module docs).

    Raises:
        ValueError: If same-named axes differ in size, or (unless `union`) neither
            operand's axis names contain the other's.
    """
    if left == right:
        return left
    key = (left, right, union)
    cached = _PAIR_CACHE.get(key)
    if cached is not None:
        return cached
    sizes = {a.name: a.size for a in left}
    for a in right:
        size = sizes.get(a.name)
        if size is not None and size != a.size:
            raise ValueError(
                f"{op}: axis {a.name!r} has size {size} in {names[0]} {format_axes(left)} but "
                f"size {a.size} in {names[1]} {format_axes(right)}. Operands are aligned by "
                "name, so same-named axes must have the same size; rename or slice one of them."
            )
    right_names = {a.name for a in right}
    if right_names.issubset(sizes):
        result = left
    elif right_names.issuperset(sizes):
        result = right
    elif union:
        result = left + tuple(a for a in right if a.name not in sizes)
    else:
        raise _not_nested(op, left, right, names)
    _PAIR_CACHE[key] = result
    return result


def _not_nested(
    op: str, left: tuple[Axis, ...], right: tuple[Axis, ...], names: tuple[str, str]
) -> ValueError:
    left_only = tuple(a for a in left if a not in right)
    right_only = tuple(a for a in right if a.name not in {b.name for b in left})
    return ValueError(
        f"{op}: cannot broadcast {names[0]} {format_axes(left)} with {names[1]} "
        f"{format_axes(right)}: neither holds all the other's axes ({names[0]} alone has "
        f"{format_axes(left_only)}, {names[1]} alone has {format_axes(right_only)}). "
        "Elementwise operations only add an operand's missing axes when the other has them "
        "all. If the outer combination is meant, say so: nx.broadcast_arrays(a, b) gives both "
        "the union of the axes, nx.broadcast_axis(a, b.axes) adds b's axes to a, and "
        "nx.nmap(f) maps f over the axes the operands do not share."
    )


def align_array(array: Any, axes: tuple[Axis, ...], out_axes: tuple[Axis, ...]) -> Any:
    """Transposes `array` (with `axes`) into `out_axes` order, size 1 where an axis is absent."""
    if axes == out_axes:
        return array
    key = (axes, out_axes)
    plan = _PLAN_CACHE.get(key)
    if plan is None:
        positions = {a.name: i for i, a in enumerate(axes)}
        order = [positions[a.name] for a in out_axes if a.name in positions]
        perm = None if order == list(range(len(order))) else tuple(order)
        missing = tuple(i for i, a in enumerate(out_axes) if a.name not in positions)
        plan = _PLAN_CACHE[key] = (perm, missing)
    perm, missing = plan
    if perm is not None:
        array = lax.transpose(array, perm)
    if missing:
        array = lax.expand_dims(array, missing)
    return array


def align_operands(
    op: str, names: Sequence[str], operands: Sequence[Any], *, union: bool = False
) -> tuple[list[Any], tuple[Axis, ...] | None]:
    """Aligns operands by name for an elementwise `op`.

    Args:
        op: The operation's name, for error messages.
        names: The parameter name of each operand, for error messages.
        operands: NamedArrays and scalar-likes.
        union: Combine operands whose axis sets are not nested (union broadcasting)
            instead of raising.

    Returns:
        The positional operands, aligned to the result axes, and those axes; the axes
        are `None` when no operand is a NamedArray (the operands are returned as given).

    Raises:
        TypeError: If an operand is a plain array with dimensions.
        ValueError: If same-named axes disagree in size, or (unless `union`) two
            operands' axis sets are not nested.
    """
    out_axes: tuple[Axis, ...] | None = None
    out_name = ""
    for name, x in zip(names, operands, strict=True):
        if isinstance(x, NamedArray):
            if out_axes is None:
                out_axes, out_name = x.axes, name
            else:
                out_axes = pair_result_axes(op, out_axes, x.axes, (out_name, name), union=union)
                out_name = f"the broadcast of {out_name} and {name}"
        elif x is not None and not is_scalar_like(x):
            raise TypeError(
                f"{op}: {name} is a plain {describe(x)}; it has no axis names to align by. "
                f"Wrap it with namedax.named(array, axes) to say which axes it has."
            )
    if out_axes is None:
        return list(operands), None
    return [
        align_array(x.array, x.axes, out_axes) if isinstance(x, NamedArray) else x for x in operands
    ], out_axes


def apply_aligned(
    op: str, names: Sequence[str], fn: Callable[..., Any], operands: Sequence[Any], **kwargs: Any
) -> Any:
    """Calls the positional `fn` on `operands` aligned by name and names its result.

    Operands that already share their axes (see `same_axes`) skip the alignment.

    Args:
        op: The operation's name, for error messages.
        names: The parameter name of each operand, for error messages.
        fn: The positional function, called as `fn(*aligned_operands, **kwargs)`.
        operands: NamedArrays, scalar-likes and `None`s.
        **kwargs: Further arguments of `fn`.

    Returns:
        `fn`'s result as a NamedArray with the result axes, or as it is when no
        operand is a NamedArray.

    Raises:
        TypeError: If an operand is a plain array with dimensions.
        ValueError: If same-named axes disagree in size, or two operands' axis sets
            are not nested (see the module docs).
    """
    axes = same_axes(*operands)
    if axes is not None:
        arrays = [x.array if type(x) is NamedArray else x for x in operands]
        return _wrap(fn(*arrays, **kwargs), axes)
    arrays, axes = align_operands(op, names, operands)
    out = fn(*arrays, **kwargs)
    return out if axes is None else _wrap(out, axes)


def broadcast_axis(a: NamedArray, axis: AxisSpec) -> NamedArray:
    """Adds the axes of `axis` that `a` lacks, in front, broadcasting the values.

    Axes already present are kept where they are (their sizes must agree).

    Examples:
        >>> import namedax as nx
        >>> x = nx.named(jnp.arange(3), "b")
        >>> nx.broadcast_axis(x, nx.Axis("a", 2)).shape
        {'a': 2, 'b': 3}
    """
    wanted = sized_axes(axis, "broadcast_axis")
    if len(wanted) > 1:
        check_unique_names(wanted, "broadcast_axis")
    new = tuple(ax for ax in wanted if _absent(a, ax, "broadcast_axis"))
    if not new:
        return a
    out_axes = new + a.axes
    return _wrap(jnp.broadcast_to(a.array, tuple(ax.size for ax in out_axes)), out_axes)


def broadcast_to(
    a: NamedArray | Any,
    axes: AxisSpec,
    ensure_order: bool = True,
    enforce_no_extra_axes: bool = True,
) -> NamedArray:
    """Broadcasts `a` to hold (at least) `axes`.

    Args:
        a: A NamedArray or a scalar-like.
        axes: The axes the result must have.
        ensure_order: If true, the result holds `a`'s extra axes (if any) first, then
            `axes` in the given order; otherwise missing axes are added in front of
            `a`'s axes, which keep their order.
        enforce_no_extra_axes: If true, `a` may not have axes outside `axes`.

    Raises:
        ValueError: On a size mismatch, or an extra axis when it is not allowed.

    Examples:
        >>> import namedax as nx
        >>> x = nx.named(jnp.arange(3), "b")
        >>> nx.broadcast_to(x, {"b": 3, "a": 2}).shape
        {'b': 3, 'a': 2}
        >>> nx.broadcast_to(2.0, {"a": 2}).array
        Array([2., 2.], dtype=float32, weak_type=True)
    """
    target = sized_axes(axes, "broadcast_to")
    if len(target) > 1:
        check_unique_names(target, "broadcast_to")
    if not isinstance(a, NamedArray):
        if not is_scalar_like(a):
            raise TypeError(
                f"broadcast_to: expected a NamedArray or a scalar, got a plain {describe(a)}. "
                "Wrap it with namedax.named(array, axes) first."
            )
        return _wrap(jnp.broadcast_to(jnp.asarray(a), tuple(ax.size for ax in target)), target)
    target_names = {ax.name for ax in target}
    extra = tuple(ax for ax in a.axes if ax.name not in target_names)
    if extra and enforce_no_extra_axes:
        raise ValueError(
            f"broadcast_to: the array {format_axes(a.axes)} has axes {format_axes(extra)} that "
            f"are not in the target {format_axes(target)}. Reduce them first, or pass "
            "enforce_no_extra_axes=False."
        )
    out = broadcast_axis(a, target)
    if not ensure_order:
        return out
    order = extra + target
    return _wrap(align_array(out.array, out.axes, order), order)


def broadcast_arrays(
    *arrays: NamedArray | Any, require_subset: bool = False, ensure_order: bool = True
) -> tuple[NamedArray | Any, ...]:
    """Broadcasts every NamedArray to the union of all their axes (scalars pass through).

    This is the explicit outer combination that elementwise operations refuse: the
    common axes are the first array's axes followed by each later array's new axes,
    in order (when one array's axes contain all the others', its order is kept).

    Args:
        *arrays: NamedArrays and scalars.
        require_subset: Refuse, as elementwise operations do, arrays whose axis sets
            are not nested (Haliax's default; namedax's default is the union).
        ensure_order: Accepted for Haliax code; the results always share one axis
            order, which is what Haliax gives with `True`.

    Returns:
        The arrays, each with the common axes in the common order.

    Raises:
        ValueError: If same-named axes differ in size, or (with `require_subset`) the
            axis sets are not nested.

    Examples:
        >>> import namedax as nx
        >>> x, y = nx.broadcast_arrays(nx.named(jnp.ones(2), "a"), nx.named(jnp.ones(3), "b"))
        >>> x.shape, y.shape
        ({'a': 2, 'b': 3}, {'a': 2, 'b': 3})
    """
    del ensure_order  # the common order is always applied
    names = [f"arrays[{i}]" for i in range(len(arrays))]
    _, out_axes = align_operands("broadcast_arrays", names, arrays, union=not require_subset)
    if out_axes is None:
        return tuple(arrays)
    return tuple(
        broadcast_to(x, out_axes, enforce_no_extra_axes=False) if isinstance(x, NamedArray) else x
        for x in arrays
    )


def _absent(a: NamedArray, ax: Axis, op: str) -> bool:
    if ax.name in a.axis_names:
        resolve_axis(a.axes, ax, op)  # checks the size
        return False
    return True


def along_axis(op: str, name: str, x: Any, axis: Axis) -> Any:
    """The positional 1-d array of an operand that must lie along exactly `axis`.

    `x` is a NamedArray with the single axis `axis`, or a plain 1-d array of its size
    (unambiguous, as it has only one dimension).

    Raises:
        ValueError: If `x` has other axes or another size.
    """
    if isinstance(x, NamedArray):
        if x.axes != (axis,):
            raise ValueError(
                f"{op}: {name} {format_axes(x.axes)} must lie along exactly {format_axes((axis,))}."
            )
        return x.array
    x = jnp.asarray(x)
    if x.shape != (axis.size,):
        raise ValueError(
            f"{op}: {name} of shape {x.shape} must be 1-d of size {axis.size} (the axis "
            f"{axis}). Pass a NamedArray along {axis.name!r} instead."
        )
    return x


_PYTHON_SCALARS = (float, int, bool)


def same_axes(*operands: Any) -> tuple[Axis, ...] | None:
    """The fast path of `align_operands`: the common axes when no alignment is needed.

    Returns the axes shared by every NamedArray operand when they all have the same
    axes in the same order and every other operand is a Python scalar or `None`;
    otherwise `None` (the caller then falls back to `align_operands`).
    """
    axes = None
    for x in operands:
        if type(x) is NamedArray:
            if axes is None:
                axes = x.axes
            elif x.axes is not axes and x.axes != axes:
                return None
        elif x is not None and type(x) not in _PYTHON_SCALARS:
            return None
    return axes
