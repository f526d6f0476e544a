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
from namedax.core._broadcast import apply_aligned, broadcast_arrays
from namedax.core._errors import describe, format_axes
from namedax.ops._creation import arange
from namedax.ops._dot import dot
from namedax.parallel._sharding import auto_sharded

__all__ = [
    "alibi_attention_bias",
    "causal_mask",
    "combine_masks_and",
    "combine_masks_or",
    "dot_product_attention",
    "dot_product_attention_weights",
    "forgetful_causal_mask",
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
                + (" (not found)." if found is None else f", but has {found}.")
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
            "and key position axes must be distinct (different names); rename the key's, e.g. "
            f"key.rename({{{clash[0]!r}: 'key_{clash[0]}'}})."
        )
    orig_dtype = query.dtype
    if scaling_factor is None:
        scaling_factor = 1.0 / math.sqrt(query.axis_size(Key))
    query = query * scaling_factor
    if attention_dtype is not None:
        query, key = query.astype(attention_dtype), key.astype(attention_dtype)
    order = _score_order(query, key, key_names)
    scores = auto_sharded(dot(query, key, axis=key_names, precision=precision, out_axes=order))
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
    out = dot(weights, value, axis=kpos, precision=precision, out_axes=(*order, ...))
    return auto_sharded(out)


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
    # The mask is the outer combination of the two position axes (and any axes of the
    # starts), so it is asked for explicitly: elementwise ops refuse non-nested operands.
    q, k, q0, k0 = broadcast_arrays(arange(QPos), arange(KPos), q_start, k_start)
    return (q + q0) >= (k + k0)


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
    causal = causal_mask(QPos, KPos, q_start, k_start)
    # Key position k + k_start is in the prefix when it is below prefix_len + k_start.
    causal, k, n = broadcast_arrays(causal, arange(KPos), prefix_len)
    return causal | (k < n)


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
    a, b = broadcast_arrays(mask1, mask2)  # masks over different axes combine outer-wise
    return a & b


def combine_masks_or(mask1: NamedArray | None, mask2: NamedArray | None) -> NamedArray | None:
    """Either mask (by name); `None` means "no mask" and yields the other one."""
    if mask1 is None:
        return mask2
    if mask2 is None:
        return mask1
    a, b = broadcast_arrays(mask1, mask2)
    return a | b


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


def _alibi_slopes(heads: int, bias_max: float) -> list[float]:
    """ALiBi's per-head slopes: a geometric sequence reaching `2**-bias_max` at the last head.

    For a power-of-two head count `n`, head `h` (from 0) gets `2 ** (-bias_max * (h + 1) / n)`.
    Otherwise the `p = 2 ** floor(log2(heads))` slopes of `p` heads come first, followed by
    every other slope of `2 p` heads (the ones in between `p`'s), as in the ALiBi paper.
    """

    def geometric(n: int) -> list[float]:
        return [2.0 ** (-bias_max * (h + 1) / n) for h in range(n)]

    if heads & (heads - 1) == 0:
        return geometric(heads)
    p = 1 << (heads.bit_length() - 1)
    return geometric(p) + geometric(2 * p)[0::2][: heads - p]


def alibi_attention_bias(
    Heads: Axis, KPos: Axis, bias_max: float = 8, dtype: Any = jnp.float32
) -> NamedArray:
    """The ALiBi attention bias `(Heads, KPos)`: head `h`'s slope times the key position.

    ALiBi (Press et al., "Train Short, Test Long") adds `-slope_h * (i - j)` to the score
    of query `i` and key `j`. Within a query's row this equals `slope_h * j` plus a
    constant, and softmax ignores constants, so the bias depends on the key position
    only: `slope_h * j`, with slopes `2 ** (-bias_max * (h + 1) / n_heads)` for a
    power-of-two head count (see `_alibi_slopes` for other counts). Add it to the
    scores with `dot_product_attention(..., bias=...)`, together with a causal mask.

    Args:
        Heads: The head axis.
        KPos: The key position axis.
        bias_max: The exponent of the smallest slope, `2 ** -bias_max` (8 in the paper).
        dtype: The result's dtype.

    Returns:
        The bias, with axes `(Heads, KPos)`.

    Raises:
        TypeError: If `Heads` or `KPos` is not an Axis.
        ValueError: If `bias_max` is not positive.

    Examples:
        >>> bias = nx.nn.attention.alibi_attention_bias(Axis("heads", 2), Axis("key", 3))
        >>> bias.axes
        (Axis(name='heads', size=2), Axis(name='key', size=3))
        >>> bias.array
        Array([[0.        , 0.0625    , 0.125     ],
               [0.        , 0.00390625, 0.0078125 ]], dtype=float32)
    """
    for arg, ax in (("Heads", Heads), ("KPos", KPos)):
        if not isinstance(ax, Axis):
            raise TypeError(
                f"alibi_attention_bias: {arg} must be an Axis(name, size), got {describe(ax)}."
            )
    if not bias_max > 0:
        raise ValueError(f"alibi_attention_bias: bias_max must be > 0, got {bias_max!r}.")
    slopes = jnp.asarray(_alibi_slopes(Heads.size, float(bias_max)), jnp.float32)
    positions = jnp.arange(KPos.size, dtype=jnp.float32)
    return _wrap((slopes[:, None] * positions[None, :]).astype(dtype), (Heads, KPos))


def forgetful_causal_mask(
    KPos: Axis, mask_prob: float, sample_prob: bool = True, *, key: Any
) -> NamedArray:
    """A random boolean mask over key positions that drops each one with `mask_prob` (not 0).

    Forgetful causal masking (Liu et al., 2022) hides random key positions from every
    query during training; position 0 always stays visible, so no query is left with
    nothing to attend to. Combine it with a causal mask by `combine_masks_and`.

    Args:
        KPos: The key position axis.
        mask_prob: The probability of hiding a position, in `[0, 1]`.
        sample_prob: Draw the probability uniformly from `[0, mask_prob]` first, as the
            paper does, instead of using `mask_prob` itself.
        key: The PRNG key.

    Returns:
        A boolean mask with axis `KPos` (True: visible).

    Raises:
        TypeError: If `KPos` is not an Axis.
        ValueError: If `mask_prob` is outside `[0, 1]`.

    Examples:
        >>> mask = nx.nn.attention.forgetful_causal_mask(Axis("key", 6), 0.5, key=jax.random.key(0))
        >>> mask.axes, bool(mask.array[0])
        ((Axis(name='key', size=6),), True)
    """
    if not isinstance(KPos, Axis):
        raise TypeError(
            f"forgetful_causal_mask: KPos must be an Axis(name, size), got {describe(KPos)}."
        )
    if isinstance(mask_prob, (int, float)) and not 0 <= mask_prob <= 1:
        raise ValueError(f"forgetful_causal_mask: mask_prob must be in [0, 1], got {mask_prob!r}.")
    first = jnp.arange(KPos.size) == 0
    if isinstance(mask_prob, (int, float)) and mask_prob == 0:
        return _wrap(jnp.ones((KPos.size,), jnp.bool_), (KPos,))
    if isinstance(mask_prob, (int, float)) and mask_prob == 1:
        return _wrap(first, (KPos,))
    prob: Any = mask_prob
    if sample_prob:
        key, subkey = jax.random.split(key)
        prob = jax.random.uniform(subkey, (), minval=0, maxval=mask_prob)
    keep = jax.random.bernoulli(key, 1 - prob, (KPos.size,))
    return _wrap(keep | first, (KPos,))
