"""`haliax.nn.mlp`: namedax's `nn` mlp layer family under Haliax's module path."""

from namedax.nn._mlp import (
    DEFAULT_WIDTH_NAME as DEFAULT_WIDTH_NAME,
    MLP as MLP,
)
