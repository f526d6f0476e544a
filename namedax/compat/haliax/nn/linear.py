"""`haliax.nn.linear`: namedax's `nn` linear layer family under Haliax's module path."""

from namedax.nn._linear import (
    Linear as Linear,
    MoELinear as MoELinear,
    weight_input_axes as weight_input_axes,
)
