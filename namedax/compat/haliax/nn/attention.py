"""`haliax.nn.attention`: namedax's `nn` attention layer family under Haliax's module path."""

from typing import Any

from namedax.core._array import NamedArray
from namedax.core._axes import AxisSpec
from namedax.nn._attention import (
    alibi_attention_bias as alibi_attention_bias,
    causal_mask as causal_mask,
    combine_masks_and as combine_masks_and,
    combine_masks_or as combine_masks_or,
    dot_product_attention as dot_product_attention,
    dot_product_attention_weights as dot_product_attention_weights,
    forgetful_causal_mask as forgetful_causal_mask,
    mask_to_bias as mask_to_bias,
    prefix_lm_mask as prefix_lm_mask,
)
from namedax.ops._random import bernoulli


def dropout_mask(axes: AxisSpec, dropout_rate: float, *, key: Any) -> NamedArray:
    """A boolean keep-mask over `axes`: each entry is True with probability `1 - dropout_rate`.

    This is `namedax.random.bernoulli(key, axes, 1 - dropout_rate)`, drawn in the order
    `axes` lists (like `jax.random.bernoulli` on the positional shape), so the same key and
    axes give Haliax's mask.

    Examples:
        >>> from namedax.compat.haliax.nn.attention import dropout_mask
        >>> mask = dropout_mask({"q": 4, "k": 4}, 0.25, key=jax.random.key(0))
        >>> mask.shape, mask.dtype
        ({'q': 4, 'k': 4}, dtype('bool'))
    """
    return bernoulli(key, axes, 1 - dropout_rate)
