"""`haliax.nn.conv`: namedax's `nn` conv layer family under Haliax's module path."""

from namedax.nn._conv import (
    Conv as Conv,
    ConvTranspose as ConvTranspose,
)
