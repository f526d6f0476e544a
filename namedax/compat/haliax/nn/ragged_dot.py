"""`haliax.nn.ragged_dot`: the grouped matmul of MoE layers (namedax's `nn.ragged_dot`).

Only the `"xla"` kernel (`jax.lax.ragged_dot`) is part of namedax; Haliax's TPU/GPU kernel
choices warn and run it, with the same result.
"""

from namedax.nn._ragged_dot import Implementation as Implementation, ragged_dot as ragged_dot

__all__ = ["Implementation", "ragged_dot"]
