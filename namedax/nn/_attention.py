"""Dot-product attention over named axes, and attention masks.

`query` holds the query positions (`QPos`) and the key/head dimension (`Key`);
`key` and `value` hold the key positions (`KPos`, named differently from `QPos`)
and `Key`. Every other axis is a batch axis: heads, batch, ... An axis present in
both `query` and `key` (other than `Key`) is matched by name, one present in only
one of them is broadcast.

Layout: the attention scores are laid out as `(shared batch axes, query-only axes,
key-only axes)`, the natural output order of `dot_general`, so the softmax over
`KPos` runs on the minor dimension and no transposes appear around it; the result
has `query`'s axes in `query`'s order, with `value`'s own axes (usually `Key`) last.

Masks are boolean NamedArrays, `True` where attention is allowed, broadcast against
the scores by name: `causal_mask(QPos, KPos)` has axes `(QPos, KPos)` and serves
every head and batch element.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, overload

import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSelection, AxisSelector, axis_spec_to_tuple
from namedax.core._broadcast import apply_aligned
from namedax.core._errors import describe, format_axes
from namedax.ops._creation import arange
from namedax.ops._dot import dot

__all__ = [
    "causal_mask",
    "combine_masks_and",
    "combine_masks_or",
    "dot_product_attention",
    "dot_product_attention_weights",
    "mask_to_bias",
    "prefix_lm_mask",
]


def _names(selection: AxisSelection) -> tuple[str, ...]:
    return tuple(a.name if isinstance(a, Axis) else a for a in axis_spec_to_tuple(selection))


def _require(op: str, x: Any, arg: str, selection: AxisSelection, what: str) -> tuple[str, ...]:
    if not isinstance(x, NamedArray):
        raise TypeError(f"{op}: {arg} must be a NamedArray, got {describe(x)}.")
    names = _names(selection)
    for sel in axis_spec_to_tuple(selection):
        name = sel.name if isinstance(sel, Axis) else sel
        found = next((a for a in x.axes if a.name == name), None)
        if found is None or (isinstance(sel, Axis) and found != sel):
            raise ValueError(
                f"{op}: {arg} {format_axes(x.axes)} must have the {what} axis {sel}"
                + ("." if found is None else f", but has {found}.")
            )
    return names


def dot_product_attention_weights(
    Key: AxisSelector,
    KPos: AxisSelection,
    query: NamedArray,
    key: NamedArray,
    mask: NamedArray | None = None,
    bias: NamedArray | None = None,
    attention_dtype: Any = None,
    precision: Any = None,
    scaling_factor: float | None = None,
) -> NamedArray:
    """The attention weights `softmax(query . key / sqrt(|Key|) + bias, masked)` over `KPos`.

    Args:
        Key: The axis contracted between `query` and `key` (the head dimension).
        KPos: The key position axis (or axes); the weights sum to one over them. They
            must not be axes of `query`.
        query: Has `Key` and the query positions (and any batch axes, e.g. heads).
        key: Has `Key` and `KPos` (and any batch axes).
        mask: Boolean, `True` where attention is allowed; broadcast by name.
        bias: Added to the scores; broadcast by name.
        attention_dtype: The dtype of the scores and softmax (default: the inputs').
        precision: Passed to the dot product.
        scaling_factor: Multiplies the query (default `1/sqrt(size of Key)`).

    Returns:
        The weights, axes `(shared batch axes, query-only axes, KPos)`, in `query`'s dtype.

    Raises:
        ValueError: If an axis is missing, or `query` has a `KPos` axis.
        TypeError: If an operand is not a NamedArray.

    Examples:
        >>> QPos, KPos, Key = Axis("position", 3), Axis("key_position", 3), Axis("head_dim", 2)
        >>> q = nx.ones((QPos, Key))
        >>> k = nx.ones((KPos, Key))
        >>> mask = nx.nn.causal_mask(QPos, KPos)
        >>> w = nx.nn.dot_product_attention_weights(Key, KPos, q, k, mask=mask)
        >>> w.axes == (QPos, KPos)
        True
        >>> w.array[1]
        Array([0.5, 0.5, 0. ], dtype=float32)
    """
    op = "dot_product_attention_weights"
    key_names = _require(op, query, "query", Key, "Key")
    _require(op, key, "key", Key, "Key")
    kpos = _require(op, key, "key", KPos, "KPos")
    clash = [n for n in kpos if n in query.axis_names]
    if clash:
        raise ValueError(
            f"{op}: query {format_axes(query.axes)} has the key position axis {clash[0]!r}. Query "
            "and key positions must have different names; rename the key's, e.g. "
            f"key.rename({{{clash[0]!r}: 'key_{clash[0]}'}})."
        )
    orig_dtype = query.dtype
    if scaling_factor is None:
        scaling_factor = 1.0 / math.sqrt(query.axis_size(Key))
    query = query * scaling_factor
    if attention_dtype is not None:
        query, key = query.astype(attention_dtype), key.astype(attention_dtype)
    order = _score_order(query, key, key_names)
    scores = dot(query, key, axis=key_names, precision=precision, out_axes=order)
    if bias is not None:
        scores = apply_aligned(op, ("scores", "bias"), jnp.add, (scores, bias))
    if mask is not None:
        scores = apply_aligned(op, ("scores", "mask"), _masked_fill, (scores, mask))
    positions = tuple(scores.axis_names.index(n) for n in kpos)
    weights = jax.nn.softmax(scores.array, axis=positions)
    return _wrap(weights.astype(orig_dtype), scores.axes)


def _score_order(
    query: NamedArray, key: NamedArray, contracted: tuple[str, ...]
) -> tuple[str, ...]:
    """`(shared batch axes, query-only axes, key-only axes)`: dot_general's own output order."""
    in_key = set(key.axis_names)
    shared = tuple(n for n in query.axis_names if n in in_key and n not in contracted)
    query_only = tuple(n for n in query.axis_names if n not in in_key)
    key_only = tuple(n for n in key.axis_names if n not in shared and n not in contracted)
    return shared + query_only + key_only


@overload
def dot_product_attention(
    KPos: AxisSelection,
    Key: AxisSelector,
    query: NamedArray,
    key: NamedArray,
    value: NamedArray,
    mask: NamedArray | None = None,
    bias: NamedArray | None = None,
    attention_dtype: Any = None,
    precision: Any = None,
    scaling_factor: float | None = None,
) -> NamedArray: ...
@overload
def dot_product_attention(
    QPos: AxisSelector,
    KPos: AxisSelection,
    Key: AxisSelector,
    query: NamedArray,
    /,
    key: NamedArray,
    value: NamedArray,
    mask: NamedArray | None = None,
    bias: NamedArray | None = None,
    attention_dtype: Any = None,
    precision: Any = None,
    scaling_factor: float | None = None,
) -> NamedArray: ...
def dot_product_attention(*args: Any, **kwargs: Any) -> NamedArray:
    """Softmax attention: `dot_product_attention_weights(...)` applied to `value` over `KPos`.

    Call it as `dot_product_attention(KPos, Key, query, key, value, mask=None, bias=None,
    attention_dtype=None, precision=None, scaling_factor=None)` (Haliax's current form),
    or with the query position axis first, `dot_product_attention(QPos, KPos, Key, query,
    key, value, ...)` (Haliax's earlier form); `QPos` is then checked against `query`.

    Args:
        *args: `KPos, Key, query, key, value` (optionally preceded by `QPos`), then the
            optional arguments in order.
        **kwargs: `mask`, `bias`, `attention_dtype`, `precision`, `scaling_factor`, as in
            `dot_product_attention_weights` (or any of the leading arguments by name).

    Returns:
        The attended values: `query`'s axes (in its order) without `Key`, then `value`'s
        own axes (those not in `query` and not `KPos`; usually `Key`).

    Raises:
        ValueError: If an axis is missing, or `query` has a `KPos` axis.
        TypeError: If an operand is not a NamedArray or an argument is missing.

    Examples:
        >>> QPos, KPos, Key = Axis("position", 4), Axis("key_position", 4), Axis("head_dim", 2)
        >>> Heads = Axis("heads", 3)
        >>> q = nx.ones((QPos, Heads, Key))
        >>> k = v = nx.ones((KPos, Heads, Key))
        >>> mask = nx.nn.causal_mask(QPos, KPos)
        >>> out = nx.nn.dot_product_attention(KPos, Key, q, k, v, mask=mask)
        >>> out.axes == (QPos, Heads, Key)
        True
        >>> nx.nn.dot_product_attention(QPos, KPos, Key, q, k, v).axes == out.axes
        True
    """
    if len(args) >= 3 and not isinstance(args[2], NamedArray) and "query" not in kwargs:
        QPos, *rest = args
        if isinstance(rest[2], NamedArray):
            _require("dot_product_attention", rest[2], "query", QPos, "QPos")
        return _attention(*rest, **kwargs)
    return _attention(*args, **kwargs)


def _attention(
    KPos: AxisSelection,
    Key: AxisSelector,
    query: NamedArray,
    key: NamedArray,
    value: NamedArray,
    mask: NamedArray | None = None,
    bias: NamedArray | None = None,
    attention_dtype: Any = None,
    precision: Any = None,
    scaling_factor: float | None = None,
) -> NamedArray:
    kpos = _require("dot_product_attention", value, "value", KPos, "KPos")
    weights = dot_product_attention_weights(
        Key, KPos, query, key, mask, bias, attention_dtype, precision, scaling_factor
    )
    contracted = _names(Key)
    order = tuple(n for n in query.axis_names if n not in contracted)
    return dot(weights, value, axis=kpos, precision=precision, out_axes=(*order, ...))


dot_product_attention.__signature__ = inspect.signature(_attention)  # type: ignore[attr-defined]


def causal_mask(QPos: Axis, KPos: Axis, q_start: Any = 0, k_start: Any = 0) -> NamedArray:
    """A boolean mask `(QPos, KPos)`: query position `i` may attend to key positions `<= i`.

    Args:
        QPos: The query position axis.
        KPos: The key position axis (a different name).
        q_start: The absolute position of the first query (an int, or a NamedArray,
            e.g. one offset per batch element, whose axes the mask then gains).
        k_start: The absolute position of the first key.

    Returns:
        The mask.

    Raises:
        ValueError: If `QPos` and `KPos` have the same name.

    Examples:
        >>> nx.nn.causal_mask(Axis("position", 3), Axis("key_position", 3)).array
        Array([[ True, False, False],
               [ True,  True, False],
               [ True,  True,  True]], dtype=bool)
    """
    if QPos.name == KPos.name:
        raise ValueError(
            f"causal_mask: QPos and KPos are both named {QPos.name!r}; give the key positions "
            f"another name, e.g. {QPos.name}.alias('key_{QPos.name}')."
        )
    return (arange(QPos) + q_start) >= (arange(KPos) + k_start)


def prefix_lm_mask(
    QPos: Axis, KPos: Axis, prefix_len: Any, q_start: Any = 0, k_start: Any = 0
) -> NamedArray:
    """A causal mask in which the first `prefix_len` key positions are visible to every query.

    Examples:
        >>> nx.nn.prefix_lm_mask(Axis("position", 3), Axis("key_position", 3), 2).array
        Array([[ True,  True, False],
               [ True,  True, False],
               [ True,  True,  True]], dtype=bool)
    """
    prefix = (arange(KPos) + k_start) < (prefix_len + k_start)
    return causal_mask(QPos, KPos, q_start, k_start) | prefix


def combine_masks_and(mask1: NamedArray | None, mask2: NamedArray | None) -> NamedArray | None:
    """Both masks (by name); `None` means "no mask" and yields the other one.

    Examples:
        >>> a = named(jnp.array([True, False]), "k")
        >>> nx.nn.combine_masks_and(a, None) is a
        True
    """
    if mask1 is None:
        return mask2
    if mask2 is None:
        return mask1
    return mask1 & mask2


def combine_masks_or(mask1: NamedArray | None, mask2: NamedArray | None) -> NamedArray | None:
    """Either mask (by name); `None` means "no mask" and yields the other one."""
    if mask1 is None:
        return mask2
    if mask2 is None:
        return mask1
    return mask1 | mask2


def mask_to_bias(mask: NamedArray, mask_value: float = -1e9) -> NamedArray:
    """An additive bias from a boolean mask: `0` where allowed, `mask_value` where not.

    Examples:
        >>> nx.nn.mask_to_bias(named(jnp.array([True, False]), "k")).array
        Array([ 0.e+00, -1.e+09], dtype=float32)
    """
    if not isinstance(mask, NamedArray):
        raise TypeError(f"mask_to_bias: mask must be a NamedArray, got {describe(mask)}.")
    return _wrap(jnp.where(mask.array, 0.0, mask_value).astype(jnp.float32), mask.axes)


def _masked_fill(scores: jax.Array, mask: jax.Array) -> jax.Array:
    """Scores where `mask` holds, the dtype's lowest value elsewhere (before the softmax)."""
    return jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
