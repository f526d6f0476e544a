"""int8 matmuls: `Int8DotGeneralOp`, a `dot_general` for `nn.Linear` that multiplies in int8.

Each product, forward and backward, quantises both of its operands to int8 and
contracts them with int32 accumulation. Quantisation is symmetric and per channel:
every slice along the contracted dimensions gets its own scale `max|slice| / 127`,
computed from the current values (dynamic scaling, so there is no state to carry).
The result is the int32 product times the two operands' scales.

The backward pass quantises again for each of its two products, along *their*
contracted dimensions: `g @ rhs^T` for the input's gradient and `lhs^T @ g` for the
kernel's, both int8. Round-to-nearest; a slice of zeros gets scale one.

Examples:
    >>> In, Out = Axis("in", 8), Axis("out", 4)
    >>> op = Int8DotGeneralOp.init()
    >>> layer = nx.nn.Linear.init(In, Out, key=jax.random.key(0), dot_general=op)
    >>> x = nx.random.normal(jax.random.key(1), In)
    >>> exact = nx.nn.Linear.init(In, Out, key=jax.random.key(0))(x)
    >>> bool(jnp.allclose(layer(x).array, exact.array, atol=0.05))
    True
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import DTypeLike

from namedax.nn._fp8 import (
    DimensionNumbers,
    _hashable,
    _kept,
    operand_cotangent,
    quantized_compute_dtype,
)
from namedax.nn._grad_state import CustomGradientAccumulation

__all__ = ["Int8DotGeneralOp", "int8_dot_general", "int8_product", "int8_quantize"]

_INT8_MAX = 127.0


def int8_quantize(
    x: jax.Array, contracting: Sequence[int], compute_dtype: DTypeLike = jnp.float32
) -> tuple[jax.Array, jax.Array]:
    """`(q, scale)`: `x` as int8 with one scale per slice along `contracting` (`x ~ q * scale`).

    Examples:
        >>> q, scale = int8_quantize(jnp.array([[1.0, -2.0], [0.5, 0.25]]), (1,))
        >>> q.tolist(), scale.ravel().tolist()
        ([[64, -127], [127, 64]], [0.015748031437397003, 0.003937007859349251])
    """
    x = jnp.asarray(x, compute_dtype)
    amax = jnp.max(jnp.abs(x), axis=tuple(contracting), keepdims=True)
    scale = jnp.where(amax > 0, amax / _INT8_MAX, jnp.ones_like(amax))
    q = jnp.clip(jnp.round(x / scale), -_INT8_MAX, _INT8_MAX).astype(jnp.int8)
    return q, scale


def _scale_in_output_layout(
    scale: jax.Array, contract: Sequence[int], batch: Sequence[int], other_kept: int, first: bool
) -> jax.Array:
    """An operand's per-slice scales laid out as `dot_general`'s output, 1 where it has no dim."""
    kept = _kept(scale.ndim, contract, batch)
    moved = lax.transpose(scale, (*batch, *kept, *contract))
    batch_sizes = [scale.shape[d] for d in batch]
    kept_sizes = [scale.shape[d] for d in kept]
    ones = [1] * other_kept
    shape = batch_sizes + (kept_sizes + ones if first else ones + kept_sizes)
    return moved.reshape(shape)


def int8_product(
    a: jax.Array,
    b: jax.Array,
    dims: DimensionNumbers,
    out_dtype: Any = jnp.float32,
    out_sharding: Any = None,
) -> jax.Array:
    """`dot_general(a, b, dims)` computed as an int8 product of per-channel quantised operands.

    Examples:
        >>> a, b = jnp.arange(6.0).reshape(2, 3), jnp.arange(12.0).reshape(3, 4)
        >>> approx = int8_product(a, b, (((1,), (0,)), ((), ())))
        >>> bool(jnp.allclose(approx, a @ b, rtol=0.02))
        True
    """
    (ac, bc), (ab, bb) = dims
    qa, sa = int8_quantize(a, ac, out_dtype)
    qb, sb = int8_quantize(b, bc, out_dtype)
    raw = lax.dot_general(qa, qb, dims, preferred_element_type=jnp.int32, out_sharding=out_sharding)
    a_kept, b_kept = len(_kept(a.ndim, ac, ab)), len(_kept(b.ndim, bc, bb))
    sa_out = _scale_in_output_layout(sa, ac, ab, b_kept, first=True)
    sb_out = _scale_in_output_layout(sb, bc, bb, a_kept, first=False)
    return raw.astype(out_dtype) * sa_out * sb_out


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def int8_dot_general(
    lhs: jax.Array,
    rhs: jax.Array,
    dimension_numbers: DimensionNumbers,
    compute_dtype: Any = jnp.float32,
) -> jax.Array:
    """`dot_general(lhs, rhs)` with int8 products forward and backward (see the module docs).

    Examples:
        >>> x, w = jnp.arange(6.0).reshape(2, 3), jnp.arange(12.0).reshape(3, 4)
        >>> dims = (((1,), (0,)), ((), ()))
        >>> grad = jax.grad(lambda w: int8_dot_general(x, w, dims).sum())(w)
        >>> bool(jnp.allclose(grad, jax.grad(lambda w: (x @ w).sum())(w), rtol=0.02))
        True
    """
    return int8_product(lhs, rhs, dimension_numbers, compute_dtype)


def _int8_forward(lhs, rhs, dimension_numbers, compute_dtype):
    return int8_product(lhs, rhs, dimension_numbers, compute_dtype), (lhs, rhs)


def _int8_backward(dimension_numbers, compute_dtype, residuals, g):
    lhs, rhs = residuals

    def product(a: jax.Array, b: jax.Array, dims: DimensionNumbers, **kw: Any) -> jax.Array:
        return int8_product(a, b, dims, compute_dtype, **kw)

    grad_lhs = operand_cotangent(g, rhs, dimension_numbers, lhs.ndim, True, product, lhs)
    grad_rhs = operand_cotangent(g, lhs, dimension_numbers, rhs.ndim, False, product, rhs)
    return grad_lhs.astype(lhs.dtype), grad_rhs.astype(rhs.dtype)


int8_dot_general.defvjp(_int8_forward, _int8_backward)


class Int8DotGeneralOp(CustomGradientAccumulation):
    """A `dot_general` for `nn.Linear` that multiplies in int8, forward and backward.

    It has no state (the scales are computed from each step's values), so it trains
    with any optimizer step; it is a `CustomGradientAccumulation` only so that it
    passes through `partition_for_grad_overwrite`/`apply_updates` like the fp8 op.

    Attributes:
        compute_dtype: The dtype of the rescaling arithmetic and the result; None for
            the kernel's dtype.

    Examples:
        >>> op = Int8DotGeneralOp.init()
        >>> op(jnp.ones((2, 3)), jnp.ones((3, 4)), (((1,), (0,)), ((), ()))).tolist()[0]
        [3.0, 3.0, 3.0, 3.0]
    """

    compute_dtype: DTypeLike | None = eqx.field(static=True, default=None)

    @classmethod
    def init(cls, compute_dtype: DTypeLike | None = None) -> Int8DotGeneralOp:
        """The op (`compute_dtype` None: the kernel's dtype)."""
        return cls(compute_dtype)

    def __call__(
        self,
        lhs: jax.Array,
        rhs: jax.Array,
        dimension_numbers: DimensionNumbers,
        precision: Any = None,
        preferred_element_type: DTypeLike | None = None,
        **kwargs: Any,
    ) -> jax.Array:
        """`jax.lax.dot_general(lhs, rhs, dimension_numbers)` computed in int8.

        `precision` does not apply to an integer product and is ignored with a
        warning; `preferred_element_type`, if given, is the result's dtype.
        """
        compute = quantized_compute_dtype(
            "Int8DotGeneralOp", "an int8", self.compute_dtype, rhs, precision, kwargs
        )
        # jax.custom_vjp's call is typed as returning `object`; int8_dot_general returns an Array.
        out = cast(
            jax.Array,
            int8_dot_general(jnp.asarray(lhs, compute), rhs, _hashable(dimension_numbers), compute),
        )
        return out if preferred_element_type is None else out.astype(preferred_element_type)

    def accumulate(self, other: Int8DotGeneralOp) -> Int8DotGeneralOp:
        """Stateless: either microbatch's op."""
        return other
