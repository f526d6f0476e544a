"""`ragged_dot`: the grouped matmul of mixture-of-experts layers, with a choice of kernel.

Tokens sorted by expert, `lhs` `[tokens, in]`, are multiplied group by group with
their expert's weight, `rhs` `[experts, in, out]`: rows
`sum(group_sizes[:e]) .. sum(group_sizes[:e + 1])` use `rhs[e]`. Rows past
`sum(group_sizes)` are zero.

`implementation` picks the kernel: `"xla"` is `jax.lax.ragged_dot` and runs on every
backend. The accelerator kernels Haliax can dispatch to (`"megablox"` on TPU, the
Pallas-Triton ones on GPU) are not part of namedax; asking for one warns and runs
`"xla"`, with the same result. `"auto"` is `"xla"`.

Examples:
    >>> lhs = jnp.arange(12.0).reshape(4, 3)
    >>> rhs = jnp.stack([jnp.eye(3), 2 * jnp.eye(3)])  # expert 0: identity, expert 1: doubling
    >>> ragged_dot(lhs, rhs, jnp.array([1, 3]))[:, 0].tolist()
    [0.0, 6.0, 12.0, 18.0]
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, TypeAlias, cast, get_args

import jax
import jax.numpy as jnp
import numpy as np

from namedax.core._errors import describe
from namedax.parallel._mesh import ResourceAxis

__all__ = ["Implementation", "ragged_dot"]

Implementation: TypeAlias = Literal[
    "auto", "megablox", "triton", "triton_group_grid", "triton_tile_map", "xla"
]
"""Which grouped-matmul kernel `ragged_dot` asks for (Haliax's names).

`"xla"` (`jax.lax.ragged_dot`) runs everywhere and is what `"auto"` picks here; the
accelerator kernels (`"megablox"`, `"triton*"`) are not part of namedax, so asking for
one warns and runs `"xla"`.
"""
_KNOWN = get_args(Implementation)


def ragged_dot(
    lhs_: jax.Array,
    rhs_: jax.Array,
    group_sizes_: jax.Array,
    ar: bool = False,
    implementation: Implementation = "auto",
) -> jax.Array:
    """Multiplies each group of rows of `lhs_` by its expert's matrix in `rhs_`.

    Args:
        lhs_: `[tokens, in]`, rows sorted by group.
        rhs_: `[experts, in, out]`.
        group_sizes_: `[experts]` integer row counts (summing to at most `tokens`).
        ar: Sum the result over the `ResourceAxis.MODEL` mesh axis (`jax.lax.psum`),
            for expert weights split along `in` inside a `shard_map`.
        implementation: The kernel (see the module documentation).

    Returns:
        `[tokens, out]`, of `lhs_`'s dtype.

    Raises:
        TypeError: If an argument is not an array of the right kind, or
            `implementation` is unknown.
        ValueError: If the shapes do not fit together.

    Examples:
        >>> import warnings
        >>> lhs, rhs = jnp.ones((2, 3)), jnp.ones((2, 3, 4))
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     out = ragged_dot(lhs, rhs, jnp.array([1, 1]), implementation="megablox")
        >>> out.shape, "runs the 'xla' kernel" in str(caught[0].message)
        ((2, 4), True)
    """
    _check(lhs_, rhs_, group_sizes_, implementation)
    if implementation not in ("auto", "xla"):
        warnings.warn(
            f"ragged_dot: the {implementation!r} kernel is not part of namedax; it runs the "
            "'xla' kernel (jax.lax.ragged_dot) instead, with the same result. Pass "
            "implementation='xla' to silence this.",
            RuntimeWarning,
            stacklevel=2,
        )
    out = jax.lax.ragged_dot(
        lhs_, rhs_, jnp.asarray(group_sizes_, jnp.int32), preferred_element_type=lhs_.dtype
    )
    if ar:
        out = jax.lax.psum(out, ResourceAxis.MODEL)
    return out


def _check(lhs: object, rhs: object, group_sizes: object, implementation: object) -> None:
    if implementation not in _KNOWN:
        raise TypeError(
            f"ragged_dot: implementation must be one of {', '.join(map(repr, _KNOWN))}, got "
            f"{implementation!r}."
        )
    shapes = {}
    for name, x in (("lhs_", lhs), ("rhs_", rhs), ("group_sizes_", group_sizes)):
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise TypeError(f"ragged_dot: {name} must be an array, got {describe(x)}.")
        shapes[name] = tuple(np.shape(cast(Any, x)))  # an array-like: it has .shape
    if not jnp.issubdtype(jnp.result_type(group_sizes), jnp.integer):
        raise TypeError("ragged_dot: group_sizes_ must be an integer array of row counts.")
    lhs_s, rhs_s, g_s = shapes["lhs_"], shapes["rhs_"], shapes["group_sizes_"]
    if len(lhs_s) != 2 or len(rhs_s) != 3 or g_s != rhs_s[:1] or lhs_s[1] != rhs_s[1]:
        raise ValueError(
            f"ragged_dot: expected lhs_ [tokens, in], rhs_ [experts, in, out] and "
            f"group_sizes_ [experts]; got lhs_ {lhs_s}, rhs_ {rhs_s}, group_sizes_ {g_s}."
        )
