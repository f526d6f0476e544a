"""Neural-network building blocks on Equinox, addressed by named axes.

Modules are `equinox.Module`s built by a static `init(...)` factory that takes axes
and `key=`. `Stacked` holds many copies of a block (deep stacks, ensembles) with
per-layer or shared parameters and applies them with one `scan`; `BlockSeq` is its
unrolled counterpart. This module only re-exports; each family lives in its own
private module.

Examples:
    >>> Batch, Embed = Axis("batch", 2), Axis("embed", 4)
    >>> layer = nx.nn.Linear.init(Embed, Embed, key=jax.random.key(0))
    >>> y = nx.nn.relu(layer(nx.ones((Batch, Embed))))
    >>> y.shape
    {'batch': 2, 'embed': 4}
"""

from namedax.core._array import NamedArray as NamedArray  # haliax.nn re-exports these three
from namedax.core._axes import Axis as Axis
from namedax.transforms._remat import ScanCheckpointPolicy as ScanCheckpointPolicy

from . import _attention as attention  # noqa: F401  # the `hax.nn.attention` namespace
from ._activations import (
    celu as celu,
    elu as elu,
    gelu as gelu,
    glu as glu,
    hard_sigmoid as hard_sigmoid,
    hard_silu as hard_silu,
    hard_swish as hard_swish,
    hard_tanh as hard_tanh,
    identity as identity,
    leaky_relu as leaky_relu,
    log_sigmoid as log_sigmoid,
    mish as mish,
    quick_gelu as quick_gelu,
    relu as relu,
    relu6 as relu6,
    relu_squared as relu_squared,
    selu as selu,
    sigmoid as sigmoid,
    silu as silu,
    soft_sign as soft_sign,
    softplus as softplus,
    sparse_plus as sparse_plus,
    squareplus as squareplus,
    swish as swish,
    tanh as tanh,
)
from ._attention import (
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
from ._blockseq import BlockSeq as BlockSeq
from ._conv import Conv as Conv, ConvTranspose as ConvTranspose
from ._dropout import Dropout as Dropout, dropout as dropout
from ._embedding import Embedding as Embedding
from ._foldable import BlockFoldable as BlockFoldable
from ._fp8 import Fp8DotGeneralOp as Fp8DotGeneralOp
from ._grad_state import (
    CustomGradientAccumulation as CustomGradientAccumulation,
    OverwriteWithGradient as OverwriteWithGradient,
    accumulate_gradients as accumulate_gradients,
    apply_updates as apply_updates,
    partition_for_grad_overwrite as partition_for_grad_overwrite,
)
from ._int8 import Int8DotGeneralOp as Int8DotGeneralOp
from ._linear import Linear as Linear
from ._loss import (
    binary_cross_entropy_loss as binary_cross_entropy_loss,
    cross_entropy_loss as cross_entropy_loss,
    cross_entropy_loss_and_log_normalizers as cross_entropy_loss_and_log_normalizers,
    maybe_reduce_loss as maybe_reduce_loss,
    one_hot as one_hot,
    reduce_loss as reduce_loss,
)
from ._mlp import MLP as MLP
from ._moe import MoELinear as MoELinear
from ._normalization import (
    LayerNorm as LayerNorm,
    LayerNormBase as LayerNormBase,
    RmsNorm as RmsNorm,
    log_softmax as log_softmax,
    logsumexp as logsumexp,
    softmax as softmax,
    standardize as standardize,
)
from ._pattern import Pattern as Pattern, PatternBlocks as PatternBlocks
from ._pipeline import Pipeline as Pipeline
from ._pool import max_pool as max_pool, mean_pool as mean_pool, min_pool as min_pool
from ._quantize import (
    DefaultDotGeneralOp as DefaultDotGeneralOp,
    DotGeneralOp as DotGeneralOp,
    QuantizationConfig as QuantizationConfig,
    quantize_linear_layers as quantize_linear_layers,
)
from ._ragged_dot import Implementation as Implementation, ragged_dot as ragged_dot
from ._reparam import (
    EmbeddingMup as EmbeddingMup,
    EmbeddingStandardParam as EmbeddingStandardParam,
    HiddenLinearMup as HiddenLinearMup,
    InputLinearMup as InputLinearMup,
    LinearStandardParam as LinearStandardParam,
    OutputLinearMup as OutputLinearMup,
)
from ._stacked import SharedSpec as SharedSpec, Stacked as Stacked
