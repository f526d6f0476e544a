"""`haliax._src.dot`: where Haliax defines `dot` (namedax's `nx.dot`)."""

from namedax.ops._dot import dot as dot

__all__ = ["dot"]
