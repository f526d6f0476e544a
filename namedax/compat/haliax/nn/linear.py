"""`haliax.nn.linear`: namedax's `nn` linear layer family under Haliax's module path."""

import jax

from namedax.nn._linear import (
    Linear as Linear,
    MoELinear as MoELinear,
    weight_input_axes as weight_input_axes,
)
from namedax.parallel._mesh import ResourceAxis


def gmm_sharded(
    lhs_: jax.Array, rhs_: jax.Array, group_sizes_: jax.Array, ar: bool = False
) -> jax.Array:
    """The grouped matmul of one shard: row block `g` of `lhs_` times `rhs_[g]`.

    `lhs_` is `(tokens, in)` with its rows sorted by group, `rhs_` is `(groups, in, out)`
    and `group_sizes_` the number of rows of each group; the result is `(tokens, out)`.
    This is `jax.lax.ragged_dot` (XLA's grouped matmul; Haliax calls a Pallas kernel).
    With `ar=True` the result is summed over the `model` mesh axis (inside `shard_map`).

    Examples:
        >>> from namedax.compat.haliax.nn.linear import gmm_sharded
        >>> lhs, rhs = jnp.ones((3, 2)), jnp.stack([jnp.eye(2), 2 * jnp.eye(2)])
        >>> gmm_sharded(lhs, rhs, jnp.array([1, 2], dtype=jnp.int32))
        Array([[1., 1.],
               [2., 2.],
               [2., 2.]], dtype=float32)
    """
    out = jax.lax.ragged_dot(lhs_, rhs_, group_sizes_, preferred_element_type=lhs_.dtype)
    if ar:
        out = jax.lax.psum(out, ResourceAxis.MODEL)
    return out
