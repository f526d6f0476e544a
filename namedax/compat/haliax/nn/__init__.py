"""`haliax.nn`: namedax's layers and functions under Haliax's module path.

The submodules (`haliax.nn.linear`, `haliax.nn.scan`, ...) are the twins beside this file.
"""

from namedax.core._array import NamedArray as NamedArray
from namedax.core._axes import Axis as Axis
from namedax.nn import (
    MLP as MLP,
    BlockSeq as BlockSeq,
    Conv as Conv,
    ConvTranspose as ConvTranspose,
    Dropout as Dropout,
    Embedding as Embedding,
    LayerNorm as LayerNorm,
    Linear as Linear,
    MoELinear as MoELinear,
    RmsNorm as RmsNorm,
    Stacked as Stacked,
    binary_cross_entropy_loss as binary_cross_entropy_loss,
    celu as celu,
    cross_entropy_loss as cross_entropy_loss,
    cross_entropy_loss_and_log_normalizers as cross_entropy_loss_and_log_normalizers,
    elu as elu,
    gelu as gelu,
    glu as glu,
    hard_sigmoid as hard_sigmoid,
    hard_silu as hard_silu,
    hard_swish as hard_swish,
    hard_tanh as hard_tanh,
    leaky_relu as leaky_relu,
    log_sigmoid as log_sigmoid,
    log_softmax as log_softmax,
    logsumexp as logsumexp,
    max_pool as max_pool,
    maybe_reduce_loss as maybe_reduce_loss,
    mean_pool as mean_pool,
    min_pool as min_pool,
    one_hot as one_hot,
    quick_gelu as quick_gelu,
    reduce_loss as reduce_loss,
    relu as relu,
    relu6 as relu6,
    relu_squared as relu_squared,
    selu as selu,
    sigmoid as sigmoid,
    silu as silu,
    soft_sign as soft_sign,
    softmax as softmax,
    softplus as softplus,
    standardize as standardize,
    swish as swish,
)
from namedax.transforms._remat import ScanCheckpointPolicy as ScanCheckpointPolicy

from . import attention as attention
from .dropout import dropout as dropout  # functions win over their submodules, as in Haliax
from .ragged_dot import ragged_dot as ragged_dot
