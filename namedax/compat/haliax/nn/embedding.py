"""`haliax.nn.embedding`: namedax's `nn` embedding layer family under Haliax's module path."""

from namedax.nn._embedding import (
    Embedding as Embedding,
)
