"""`haliax.nn.dropout`: namedax's `nn` dropout layer family under Haliax's module path."""

from namedax.nn._dropout import (
    Dropout as Dropout,
    dropout as dropout,
)
