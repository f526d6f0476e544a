"""Named operations on NamedArrays (the named `jax.numpy`, indexing and random).

Built on `namedax.core` only.
"""
