"""`haliax._src.fp8`: Haliax's fp8 building blocks, both generations, over `namedax.nn._fp8`.

Haliax 280f49f simulates fp8 by quantise-dequantise around a full-precision product
(`in_qdq`, `out_qdq`, `dot_general_with_precision`); the newest Haliax multiplies fp8
operands directly (`in_q`, `quantized_dot`, `out_dq`, `fp8_scaled_dot_general`). Both
sets are here with Haliax's parameters; the scaling rule is namedax's one
implementation. `fp8_scaled_dot_general` is `namedax.nn._fp8.fp8_dot_general` (what
`Fp8DotGeneralOp` calls), so its state updates are the same ones.

Examples:
    >>> from namedax.compat.haliax._src.fp8 import compute_scale, get_fp8_max
    >>> top = get_fp8_max(jnp.float8_e4m3fn, jnp.float32)
    >>> float(compute_scale(jnp.array(896.0), jnp.array(1.0), top))
    2.0
"""

import functools
import warnings
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from namedax.nn._fp8 import (
    amax_history_update,
    delayed_scale,
    fp8_dequantize,
    fp8_dot_general,
    fp8_max,
    fp8_quantize,
    next_scale_and_history,
    operand_cotangent,
)

__all__ = [
    "compute_amax_history",
    "compute_scale",
    "dequantize",
    "dot_general_transpose_lhs",
    "dot_general_transpose_rhs",
    "dot_general_with_precision",
    "dot_general_with_precision_jvp",
    "fp8_scaled_dot_general",
    "get_fp8_max",
    "in_q",
    "in_q_bwd",
    "in_q_fwd",
    "in_qdq",
    "in_qdq_bwd",
    "in_qdq_fwd",
    "out_dq",
    "out_dq_bwd",
    "out_dq_fwd",
    "out_qdq",
    "out_qdq_bwd",
    "out_qdq_fwd",
    "qdq_and_return",
    "quantize",
    "quantize_dequantize",
    "quantized_dot",
    "quantized_dot_bwd",
    "quantized_dot_fwd",
    "update_fp8_meta",
]

_E4M3, _E5M2 = jnp.float8_e4m3fn, jnp.float8_e5m2


def get_fp8_max(fp8_dtype, out_dtype):
    """The largest finite value of `fp8_dtype`, as `out_dtype`."""
    return fp8_max(fp8_dtype, out_dtype)


def quantize(x, q_dtype, scale, compute_dtype):
    """`x / scale` clipped to `q_dtype`'s range and cast to it."""
    return fp8_quantize(x, q_dtype, scale, compute_dtype)


def dequantize(x, dq_dtype, scale):
    """`x` as `dq_dtype`, times `scale`."""
    return fp8_dequantize(x, dq_dtype, scale)


def quantize_dequantize(x, q_dtype, scale, compute_dtype):
    """`x` rounded to what `q_dtype` can hold at `scale`, back in `x`'s dtype."""
    return dequantize(quantize(x, q_dtype, scale, compute_dtype), x.dtype, scale)


def compute_scale(amax, scale, fp8_max, margin=0):
    """The scale mapping `amax` to `fp8_max` (times `2**margin`); keeps `scale` for 0/non-finite."""
    return delayed_scale(amax, scale, fp8_max, margin)


def compute_amax_history(x, amax_history):
    """The amax window with `max(|x|)` in place of its oldest entry."""
    return amax_history_update(x, amax_history)


def update_fp8_meta(x, q_dtype, scale, amax_history):
    """`(scale for this step, history with x's amax)`, without quantising `x`."""
    return next_scale_and_history(x, q_dtype, scale, amax_history)


def qdq_and_return(x, q_dtype, scale, amax_history, compute_dtype):
    """`(x quantise-dequantised at this step's scale, new scale, new history)`."""
    new_scale, new_history = update_fp8_meta(x, q_dtype, scale, amax_history)
    return quantize_dequantize(x, q_dtype, new_scale, compute_dtype), new_scale, new_history


# --- Haliax 280f49f: quantise-dequantise around a full-precision product -------------------


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def in_qdq(compute_dtype, inp, scale, amax_history):
    """`inp` through e4m3; the gradient passes straight, the state's is its next value."""
    return qdq_and_return(inp, _E4M3, scale, amax_history, compute_dtype)[0]


def in_qdq_fwd(compute_dtype, inp, scale, amax_history):
    qin, new_scale, new_history = qdq_and_return(inp, _E4M3, scale, amax_history, compute_dtype)
    return qin, (new_scale, new_history)


def in_qdq_bwd(compute_dtype, res, g):
    new_scale, new_history = res
    return g, new_scale, new_history


in_qdq.defvjp(in_qdq_fwd, in_qdq_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def out_qdq(compute_dtype, out, scale, amax_history):
    """Identity forward; backward sends the gradient through e5m2 and updates its state."""
    return out


def out_qdq_fwd(compute_dtype, out, scale, amax_history):
    return out, (scale, amax_history)


def out_qdq_bwd(compute_dtype, res, g):
    scale, amax_history = res
    return qdq_and_return(g, _E5M2, scale, amax_history, compute_dtype)


out_qdq.defvjp(out_qdq_fwd, out_qdq_bwd)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def dot_general_with_precision(
    lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None
):
    """`dot_general` at default precision, with its derivative at the highest precision."""
    return lax.dot_general(lhs, rhs, dimension_numbers, precision=lax.Precision.DEFAULT)


@dot_general_with_precision.defjvp
def dot_general_with_precision_jvp(
    dimension_numbers, precision, preferred_element_type, primals, tangents
):
    lhs, rhs = primals
    lhs_dot, rhs_dot = tangents
    out = lax.dot_general(lhs, rhs, dimension_numbers, precision=lax.Precision.DEFAULT)
    high = functools.partial(
        lax.dot_general, dimension_numbers=dimension_numbers, precision=lax.Precision.HIGHEST
    )
    return out, high(lhs_dot, rhs) + high(lhs, rhs_dot)


# --- newest Haliax: fp8 operands multiplied directly ---------------------------------------


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def in_q(compute_dtype, q_dtype, inp, scale, amax_history):
    """`(inp as q_dtype at this step's scale, that scale)`; state's gradient: its next value."""
    new_scale, _ = update_fp8_meta(inp, q_dtype, scale, amax_history)
    return quantize(inp, q_dtype, new_scale, compute_dtype), new_scale


def in_q_fwd(compute_dtype, q_dtype, inp, scale, amax_history):
    new_scale, new_history = update_fp8_meta(inp, q_dtype, scale, amax_history)
    return (quantize(inp, q_dtype, new_scale, compute_dtype), new_scale), (new_scale, new_history)


def in_q_bwd(compute_dtype, q_dtype, res, _):
    new_scale, new_history = res
    return None, new_scale, new_history


in_q.defvjp(in_q_fwd, in_q_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def out_dq(dq_type, lhs_scale, rhs_scale, out):
    """`out` times both scales; the backward pass leaves the rescaling to `quantized_dot`."""
    return dequantize(out, dq_type, lhs_scale * rhs_scale)


def out_dq_fwd(dq_type, lhs_scale, rhs_scale, out):
    return out_dq(dq_type, lhs_scale, rhs_scale, out), None


def out_dq_bwd(dq_type, _, g):
    return None, None, g


out_dq.defvjp(out_dq_fwd, out_dq_bwd)


def _standard_layout(g, dimension_numbers, x_ndim, y_ndim):
    """`g` from `(batch, y kept, x kept)` to `(batch, x kept, y kept)`."""
    (xc, yc), (xb, _) = dimension_numbers
    n_batch, x_kept = len(xb), x_ndim - len(xc) - len(xb)
    y_kept = y_ndim - len(yc) - len(xb)
    order = (
        list(range(n_batch))
        + list(range(n_batch + y_kept, n_batch + y_kept + x_kept))
        + list(range(n_batch, n_batch + y_kept))
    )
    return lax.transpose(g, tuple(order))


def dot_general_transpose_lhs(
    g, x, y, *, dimension_numbers, precision, preferred_element_type, swap_ans=False
):
    """The gradient of `x` in `dot_general(x, y, dimension_numbers)`, for output gradient `g`.

    With `swap_ans`, `g`'s non-batch dimensions come as `y`'s then `x`'s.
    """
    x_ndim = np.ndim(x)
    if swap_ans:
        g = _standard_layout(g, dimension_numbers, x_ndim, np.ndim(y))
    product = functools.partial(
        lax.dot_general, precision=precision, preferred_element_type=preferred_element_type
    )
    return operand_cotangent(g, y, dimension_numbers, x_ndim, True, product)


def dot_general_transpose_rhs(g, x, y, *, dimension_numbers, precision, preferred_element_type):
    """The gradient of `y` in `dot_general(x, y, dimension_numbers)`, for output gradient `g`."""
    product = functools.partial(
        lax.dot_general, precision=precision, preferred_element_type=preferred_element_type
    )
    return operand_cotangent(g, x, dimension_numbers, np.ndim(y), False, product)


@functools.partial(jax.custom_vjp, nondiff_argnums=(8, 9, 10))
def quantized_dot(
    lhs,
    q_lhs,
    lhs_scale,
    rhs,
    q_rhs,
    rhs_scale,
    out_grad_scale,
    out_grad_amax_history,
    dimension_numbers,
    preferred_element_type=None,
    rev_dtype=_E5M2,
):
    """The fp8 product `q_lhs . q_rhs`; its gradient is an fp8 product with the e5m2 gradient."""
    return lax.dot_general(
        q_lhs, q_rhs, dimension_numbers, preferred_element_type=preferred_element_type
    )


def quantized_dot_fwd(
    lhs,
    q_lhs,
    lhs_scale,
    rhs,
    q_rhs,
    rhs_scale,
    out_grad_scale,
    out_grad_amax_history,
    dimension_numbers,
    preferred_element_type,
    rev_dtype,
):
    out = lax.dot_general(
        q_lhs, q_rhs, dimension_numbers, preferred_element_type=preferred_element_type
    )
    res = (lhs, q_lhs, lhs_scale, rhs, q_rhs, rhs_scale, out_grad_scale, out_grad_amax_history)
    return out, res


def quantized_dot_bwd(dimension_numbers, preferred_element_type, rev_dtype, res, g):
    lhs, q_lhs, lhs_scale, rhs, q_rhs, rhs_scale, grad_scale, grad_history = res
    new_scale, new_history = update_fp8_meta(g, rev_dtype, grad_scale, grad_history)
    q_g = quantize(g, rev_dtype, new_scale, preferred_element_type)
    common: dict[str, Any] = dict(
        dimension_numbers=dimension_numbers,
        precision=lax.Precision.HIGHEST,
        preferred_element_type=preferred_element_type,
    )
    grad_lhs = dot_general_transpose_lhs(q_g, lhs, q_rhs, **common)
    grad_rhs = dot_general_transpose_rhs(q_g, q_lhs, rhs, **common)
    grad_lhs = dequantize(grad_lhs, preferred_element_type, rhs_scale * new_scale)
    grad_rhs = dequantize(grad_rhs, preferred_element_type, lhs_scale * new_scale)
    return grad_lhs, None, None, grad_rhs, None, None, new_scale, new_history


quantized_dot.defvjp(quantized_dot_fwd, quantized_dot_bwd)


def fp8_scaled_dot_general(
    lhs,
    rhs,
    dimension_numbers,
    precision=None,
    preferred_element_type=None,
    *,
    lhs_scale,
    rhs_scale,
    grad_scale,
    lhs_amax_history,
    rhs_amax_history,
    grad_amax_history,
    quantize_compute_type=jnp.float32,
    fwd_dtype=_E4M3,
    rev_dtype=_E5M2,
):
    """`dot_general` as an fp8 product with delayed scaling (`namedax.nn._fp8.fp8_dot_general`).

    The result has `preferred_element_type` (default: `quantize_compute_type`).
    """
    if precision is not None:
        warnings.warn(
            "fp8_scaled_dot_general: precision= has no effect on an fp8 product; it is ignored.",
            stacklevel=2,
        )
    (lc, rc), (lb, rb) = dimension_numbers
    dims = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    compute = jnp.dtype(quantize_compute_type)
    # jax.custom_vjp's call is typed as returning `object`; fp8_dot_general returns an Array.
    out = cast(
        jax.Array,
        fp8_dot_general(
            jnp.asarray(lhs, compute),
            rhs,
            lhs_scale,
            rhs_scale,
            grad_scale,
            lhs_amax_history,
            rhs_amax_history,
            grad_amax_history,
            dims,
            compute,
            jnp.dtype(fwd_dtype),
            jnp.dtype(rev_dtype),
        ),
    )
    return out if preferred_element_type is None else out.astype(preferred_element_type)
