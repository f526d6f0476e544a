"""`haliax.nn.attention`: namedax's `nn` attention layer family under Haliax's module path."""

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
