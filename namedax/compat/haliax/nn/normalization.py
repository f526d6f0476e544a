"""`haliax.nn.normalization`: layer norms and the softmax family along named axes."""

from namedax.nn._normalization import (
    LayerNorm as LayerNorm,
    LayerNormBase as LayerNormBase,
    RmsNorm as RmsNorm,
    log_softmax as log_softmax,
    logsumexp as logsumexp,
    softmax as softmax,
    standardize as standardize,
)
