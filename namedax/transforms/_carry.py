"""The carry rule of every loop in namedax: the next carry is the carry, up to axis order.

`namedax.fold`, `namedax.scan` and every layer stack (`Stacked`, `BlockSeq`, a `Pattern`
stack, a `Pipeline`) apply one function repeatedly to a carry. They all check what the
function returns with the two functions here, so they all accept the same functions:

* the next carry must have the structure of the carry it received, and each NamedArray
  in it the same axis names and sizes;
* the axis *order* of a NamedArray may differ: it is restored by name, so a block may
  return `x.rearrange(...)` of its input without breaking the loop;
* a fold body that returns a `(carry, output)` pair, as a scan body does, is pointed at
  `scan`, and a scan body that returns a lone carry at `fold` (`ScanResultError`, which
  is both a `TypeError` and a `ValueError`).

Examples:
    >>> carry = nx.zeros((Axis("batch", 2), Axis("embed", 3)))
    >>> out = next_carry("fold", carry, carry.rearrange(("embed", "batch")))
    >>> out.axis_names
    ('batch', 'embed')
"""

from __future__ import annotations

from typing import Any

import jax

from namedax.core._array import NamedArray, _wrap, is_named_array
from namedax.core._broadcast import align_array
from namedax.core._errors import describe_tree

__all__ = ["ScanResultError", "next_carry", "next_carry_and_output", "realigned"]


class ScanResultError(TypeError, ValueError):
    """A scanned or folded function returned the wrong form (a pair where a carry is due, or
    the reverse).

    It is a `TypeError` (the value has the wrong kind) and also a `ValueError`, which
    is what Haliax code expects here (Haliax fails when it unpacks the result).
    """


def realigned(carry: Any, out: Any) -> Any:
    """`out` with each NamedArray laid out in its carry counterpart's axis order.

    Only NamedArrays whose axes are the carry's in another order are transposed; anything
    else (a different structure, other axes) is returned as it is, for the checks to report.
    """
    carry_leaves, carry_def = jax.tree_util.tree_flatten(carry, is_leaf=is_named_array)
    out_leaves, out_def = jax.tree_util.tree_flatten(out, is_leaf=is_named_array)
    if carry_def != out_def:
        return out
    fixed = [_like(c, o) for c, o in zip(carry_leaves, out_leaves, strict=True)]
    return jax.tree_util.tree_unflatten(out_def, fixed)


def _like(carry: Any, out: Any) -> Any:
    if (
        isinstance(carry, NamedArray)
        and isinstance(out, NamedArray)
        and carry.axes != out.axes
        and sorted(carry.axes, key=_by_name) == sorted(out.axes, key=_by_name)
    ):
        return _wrap(align_array(out.array, out.axes, carry.axes), carry.axes)
    return out


def _by_name(axis: Any) -> str:
    return axis.name


def next_carry(op: str, carry: Any, out: Any, fn: str = "the function") -> Any:
    """What a fold body returned, checked and realigned as the next carry.

    Args:
        op: The operation, for messages (`"fold"`, `"Stacked.fold"`, ...).
        carry: The carry the body received.
        out: What the body returned.
        fn: The body's name, for messages.

    Returns:
        `out`, with its NamedArrays in the carry's axis order.

    Raises:
        ScanResultError: If the body returned a `(carry, output)` pair (use `scan`).
        ValueError: If the structure, axis names or sizes differ from the carry's.
    """
    fixed = realigned(carry, out)
    want = jax.tree_util.tree_structure(carry)
    if jax.tree_util.tree_structure(fixed) == want:
        return fixed
    if _is_pair(out) and not _is_pair(carry):
        output, scan, _ = _spelling(op)
        raise ScanResultError(
            f"{op}: {fn} returned a pair (carry, {output}) {describe_tree(out)}, but a fold "
            f"keeps only the carry (here like {describe_tree(carry)}). Use {scan} for a "
            f"function that returns (carry, {output}); its outputs are stacked along the "
            "looped axis."
        )
    raise ValueError(_mismatch(op, fn, carry, out))


def next_carry_and_output(op: str, carry: Any, out: Any, fn: str = "the function") -> Any:
    """What a scan body returned, checked: `(next carry realigned, output)`.

    Raises:
        ScanResultError: If the body did not return a pair (use `fold`).
        ValueError: If the returned carry's structure, axis names or sizes differ.
    """
    if not _is_pair(out):
        output, _, fold = _spelling(op)
        raise ScanResultError(
            f"{op}: {fn} must return a pair (carry, {output}), but it returned "
            f"{describe_tree(out)}. Use {fold} for a function that returns only the carry."
        )
    fixed = realigned(carry, out[0])
    if jax.tree_util.tree_structure(fixed) != jax.tree_util.tree_structure(carry):
        raise ValueError(_mismatch(op, fn, carry, out[0]))
    return fixed, out[1]


def _is_pair(x: Any) -> bool:
    return isinstance(x, tuple) and len(x) == 2


def _spelling(op: str) -> tuple[str, str, str]:
    """(what the output is called, the scan to use, the fold to use) for `op`'s messages."""
    if "." in op:  # a method of a layer stack: Stacked.fold, BlockSeq.scan, Pipeline.fold
        return "output", ".scan (or .scan_via)", ".fold (or .fold_via)"
    return "y", "namedax.scan", "namedax.fold"


def _mismatch(op: str, fn: str, carry: Any, out: Any) -> str:
    return (
        f"{op}: {fn} must return the next carry, with the structure and axes of the initial "
        f"carry, but it returned a carry {describe_tree(out)} that differs from the initial "
        f"carry {describe_tree(carry)}. The axis order may "
        "differ (it is restored by name); the structure, axis names and sizes may not. "
        "Reduce, rename (namedax.rename) or resize what changed, or carry it elsewhere."
    )
