"""`haliax.quantization`: fp8/int8 linear layers and gradient-carried state, Haliax's names.

Everything here is namedax's (`namedax.nn`): `Fp8DotGeneralOp` (delayed-scaling fp8,
e4m3 forward and e5m2 backward products), `Int8DotGeneralOp` (per-channel int8
products forward and backward; Haliax's is Google AQT's `config_v3`, so int8 results
differ in the last bits), `quantize_linear_layers`, and the training-step helpers
`partition_for_grad_overwrite`, `apply_updates` and (newest Haliax) `accumulate_gradients`
with `CustomGradientAccumulation`. Haliax 280f49f's `OverwriteWithGradient` is here too:
it is the base class of `CustomGradientAccumulation`.

Examples:
    >>> from namedax.compat.haliax.quantization import QuantizationConfig, quantize_linear_layers
    >>> In, Out = Axis("in", 4), Axis("out", 2)
    >>> layer = nx.nn.Linear.init(In, Out, key=jax.random.key(0))
    >>> type(quantize_linear_layers(layer, QuantizationConfig(fp8=True)).dot_general).__name__
    'Fp8DotGeneralOp'
"""

from namedax.nn._fp8 import Fp8DotGeneralOp as Fp8DotGeneralOp
from namedax.nn._grad_state import (
    CustomGradientAccumulation as CustomGradientAccumulation,
    OverwriteWithGradient as OverwriteWithGradient,
    accumulate_gradients as accumulate_gradients,
    apply_updates as apply_updates,
    partition_for_grad_overwrite as partition_for_grad_overwrite,
)
from namedax.nn._int8 import Int8DotGeneralOp as Int8DotGeneralOp
from namedax.nn._quantize import (
    DefaultDotGeneralOp as DefaultDotGeneralOp,
    DotGeneralOp as DotGeneralOp,
    QuantizationConfig as QuantizationConfig,
    quantize_linear_layers as quantize_linear_layers,
)

__all__ = [
    "CustomGradientAccumulation",
    "DefaultDotGeneralOp",
    "DotGeneralOp",
    "Fp8DotGeneralOp",
    "Int8DotGeneralOp",
    "OverwriteWithGradient",
    "QuantizationConfig",
    "accumulate_gradients",
    "apply_updates",
    "partition_for_grad_overwrite",
    "quantize_linear_layers",
]
