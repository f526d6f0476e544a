"""fp8 matmuls with delayed scaling: `Fp8DotGeneralOp`, a `dot_general` for `nn.Linear`.

Both operands of the forward product are cast to `float8_e4m3fn` and contracted as
fp8 (`lax.dot_general` on fp8 arrays, accumulating in the compute dtype); the
backward pass casts the output gradient to `float8_e5m2` (more range, less
precision) and computes both operand gradients as fp8 products too.

An fp8 number has a tiny range (e4m3: +-448), so each tensor is divided by a *scale*
before the cast and the product multiplied back. The scales are *delayed*: a tensor's
scale for this step is `max(amax history) / fp8_max`, from the largest magnitudes of
previous steps, and this step's magnitude is pushed onto the history (a rolling buffer,
newest first). Input and kernel state is updated in the forward pass, the output
gradient's in the backward pass; all of it leaves the step as the op's "gradient"
(see `namedax.nn._grad_state`), so a training step must use
`partition_for_grad_overwrite` and `apply_updates`.

The scaling rule is the one of NVIDIA Transformer Engine and Flax's fp8 ops: a zero or
non-finite amax keeps the previous scale.

Examples:
    >>> In, Out = Axis("in", 8), Axis("out", 4)
    >>> op = Fp8DotGeneralOp.init()
    >>> layer = nx.nn.Linear.init(In, Out, key=jax.random.key(0), dot_general=op)
    >>> x = nx.random.normal(jax.random.key(1), In)
    >>> y = layer(x)
    >>> exact = nx.nn.Linear.init(In, Out, key=jax.random.key(0))(x)
    >>> bool(jnp.allclose(y.array, exact.array, atol=0.1))
    True
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import DTypeLike

from namedax.nn._grad_state import CustomGradientAccumulation

__all__ = [
    "Fp8DotGeneralOp",
    "amax_history_update",
    "delayed_scale",
    "fp8_dequantize",
    "fp8_dot_general",
    "fp8_quantize",
    "operand_cotangent",
]

DimensionNumbers = tuple[tuple[Sequence[int], Sequence[int]], tuple[Sequence[int], Sequence[int]]]


def fp8_max(dtype: DTypeLike, out_dtype: DTypeLike = jnp.float32) -> jax.Array:
    """The largest finite value of an fp8 dtype, as a scalar of `out_dtype`."""
    if jnp.dtype(dtype) not in (jnp.dtype(jnp.float8_e4m3fn), jnp.dtype(jnp.float8_e5m2)):
        raise TypeError(
            "fp8: the quantised dtype must be float8_e4m3fn or float8_e5m2, got "
            f"{jnp.dtype(dtype)}."
        )
    return jnp.asarray(float(jnp.finfo(dtype).max), dtype=out_dtype)


def fp8_quantize(
    x: jax.Array, dtype: DTypeLike, scale: jax.Array, compute_dtype: DTypeLike
) -> jax.Array:
    """`x / scale`, clipped to the range of `dtype` and cast to it (computed in `compute_dtype`).

    Examples:
        >>> fp8_quantize(jnp.array([1.0, 1000.0]), jnp.float8_e4m3fn, jnp.ones(1), jnp.float32)
        Array([1, 448], dtype=float8_e4m3fn)
    """
    top = fp8_max(dtype, compute_dtype)
    scaled = jnp.asarray(x, compute_dtype) / jnp.asarray(scale, compute_dtype).reshape(())
    return jnp.clip(scaled, -top, top).astype(dtype)


def fp8_dequantize(x: jax.Array, dtype: DTypeLike, scale: jax.Array) -> jax.Array:
    """`x` cast to `dtype` and multiplied by `scale` (the inverse of `fp8_quantize`)."""
    return x.astype(dtype) * jnp.asarray(scale, dtype).reshape(())


def delayed_scale(
    amax: jax.Array, scale: jax.Array, fp8_max_value: jax.Array, margin: int = 0
) -> jax.Array:
    """The scale that maps `amax` to the top of the fp8 range (times `2**margin`).

    A zero or non-finite `amax` (no history yet, or an overflow) keeps `scale`.

    Examples:
        >>> float(delayed_scale(jnp.array(896.0), jnp.array(1.0), jnp.array(448.0))[()])
        2.0
        >>> float(delayed_scale(jnp.array(0.0), jnp.array(3.0), jnp.array(448.0))[()])
        3.0
    """
    usable = (amax > 0.0) & jnp.isfinite(amax)
    proposed = amax / fp8_max_value * (2.0**margin)
    return jnp.where(usable, proposed, scale)


def amax_history_update(x: jax.Array, history: jax.Array) -> jax.Array:
    """The window of the last `len(history)` amaxes, with `max(|x|)` in place of the oldest.

    The layout is Transformer Engine's: the buffer is rolled back one place and the newest
    value written at index 0, so the dropped entry is always the oldest.

    Examples:
        >>> h = amax_history_update(jnp.array([-3.0, 2.0]), jnp.array([1.0, 0.0, 0.0]))
        >>> h.tolist()
        [3.0, 0.0, 1.0]
        >>> amax_history_update(jnp.array(5.0), h).tolist()
        [5.0, 1.0, 3.0]
    """
    newest = jnp.max(jnp.abs(x)).astype(history.dtype)
    return jnp.roll(history, -1, axis=0).at[0].set(newest)


def next_scale_and_history(
    x: jax.Array, dtype: DTypeLike, scale: jax.Array, history: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """This step's scale (from the history so far) and the history with `x`'s amax added."""
    new_scale = delayed_scale(jnp.max(history, axis=0), scale, fp8_max(dtype, jnp.float32))
    return new_scale, amax_history_update(x, history)


def _kept(ndim: int, *removed: Sequence[int]) -> list[int]:
    gone = {d for dims in removed for d in dims}
    return [d for d in range(ndim) if d not in gone]


def operand_cotangent(
    g: jax.Array,
    other: jax.Array,
    dimension_numbers: DimensionNumbers,
    operand_ndim: int,
    of_lhs: bool,
    product: Callable[..., jax.Array],
    like: jax.Array | None = None,
) -> jax.Array:
    """The gradient of one operand of `dot_general(lhs, rhs, dimension_numbers)`.

    `g` is the output's cotangent, `other` the operand that is not differentiated, and
    `product(a, b, dims)` the `dot_general`-like function that contracts `g` with
    `other` (a quantised one, for quantised backward passes). The result has the
    differentiated operand's layout. Under a mesh with explicit axes, give the
    differentiated operand (or an array sharded like it) as `like`: the product is then
    asked for that sharding (`out_sharding=`), which JAX needs when the contracted
    dimensions (a weight gradient's batch) are sharded.

    Examples:
        >>> x, w = jnp.arange(6.0).reshape(2, 3), jnp.arange(12.0).reshape(3, 4)
        >>> dims = (((1,), (0,)), ((), ()))
        >>> g = jnp.ones((2, 4))
        >>> grad_x = operand_cotangent(g, w, dims, 2, True, lax.dot_general)
        >>> expected = jax.grad(lambda x: lax.dot_general(x, w, dims).sum())(x)
        >>> bool(jnp.array_equal(grad_x, expected))
        True
    """
    (lc, rc), (lb, rb) = dimension_numbers
    own_c, other_c, own_b, other_b = (lc, rc, lb, rb) if of_lhs else (rc, lc, rb, lb)
    own_kept = _kept(operand_ndim, own_c, own_b)
    other_kept = _kept(np.ndim(other), other_c, other_b)
    n_batch = len(own_b)
    # g's layout is (batch, lhs kept, rhs kept); contract it with `other`'s kept dims.
    start = n_batch + (len(own_kept) if of_lhs else 0)
    g_other = tuple(range(start, start + len(other_kept)))
    dims = ((g_other, tuple(other_kept)), (tuple(range(n_batch)), tuple(other_b)))
    # the product's layout: (batch, own kept, other's contracted dims in ascending order)
    own_of_other = [own_c[list(other_c).index(d)] for d in sorted(other_c)]
    layout = list(own_b) + own_kept + own_of_other
    sharding = None if like is None else _explicit_sharding(like, layout)
    if sharding is None:
        out = product(g, other, dims)
    else:
        out = product(g, other, dims, out_sharding=sharding)
    order = np.argsort(layout)
    return lax.transpose(out, tuple(int(i) for i in order))


def _explicit_sharding(like: jax.Array, layout: Sequence[int]) -> Any:
    """`like`'s explicit sharding with its dimensions in `layout` order, or None without one."""
    sharding = getattr(jax.typeof(like), "sharding", None)
    spec = tuple(getattr(sharding, "spec", None) or ())
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or mesh.empty:  # an unplaced operand (replicated): the context's mesh
        mesh, spec = jax.sharding.get_abstract_mesh(), ()
    if mesh.empty or jax.sharding.AxisType.Explicit not in tuple(mesh.axis_types):
        return None
    spec = spec + (None,) * (len(layout) - len(spec))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*[spec[d] for d in layout]))


def _fp8_product(out_dtype: DTypeLike) -> Callable[..., jax.Array]:
    def product(a: jax.Array, b: jax.Array, dims: DimensionNumbers, **kw: Any) -> jax.Array:
        return lax.dot_general(a, b, dims, preferred_element_type=out_dtype, **kw)

    return product


@functools.partial(jax.custom_vjp, nondiff_argnums=(8, 9, 10, 11))
def fp8_dot_general(
    lhs: jax.Array,
    rhs: jax.Array,
    lhs_scale: jax.Array,
    rhs_scale: jax.Array,
    grad_scale: jax.Array,
    lhs_history: jax.Array,
    rhs_history: jax.Array,
    grad_history: jax.Array,
    dimension_numbers: DimensionNumbers,
    compute_dtype: Any = jnp.float32,
    fwd_dtype: Any = jnp.float8_e4m3fn,
    rev_dtype: Any = jnp.float8_e5m2,
) -> jax.Array:
    """`dot_general(lhs, rhs)` as an fp8 product with delayed scaling, in `compute_dtype`.

    The "gradients" of the six state arrays are their next values (see the module
    documentation), so differentiate it only through a model whose state lives in an
    `OverwriteWithGradient` module such as `Fp8DotGeneralOp`.

    Args:
        lhs: The left operand.
        rhs: The right operand.
        lhs_scale: The left operand's scale from the previous step (shape `(1,)`).
        rhs_scale: The right operand's scale, likewise.
        grad_scale: The output gradient's scale, likewise.
        lhs_history: The left operand's amax history (newest first).
        rhs_history: The right operand's amax history.
        grad_history: The output gradient's amax history.
        dimension_numbers: As for `jax.lax.dot_general`.
        compute_dtype: The dtype of quantisation arithmetic, accumulation and result.
        fwd_dtype: The fp8 dtype of the forward operands.
        rev_dtype: The fp8 dtype of the output gradient.

    Returns:
        The product, of `compute_dtype`.
    """
    out, _ = _fp8_forward(
        lhs, rhs, lhs_scale, rhs_scale, grad_scale, lhs_history, rhs_history, grad_history,
        dimension_numbers, compute_dtype, fwd_dtype, rev_dtype,
    )  # fmt: skip
    return out


def _fp8_forward(
    lhs, rhs, lhs_scale, rhs_scale, grad_scale, lhs_history, rhs_history, grad_history,
    dimension_numbers, compute_dtype, fwd_dtype, rev_dtype,
):  # fmt: skip
    new_lhs_scale, new_lhs_history = next_scale_and_history(lhs, fwd_dtype, lhs_scale, lhs_history)
    new_rhs_scale, new_rhs_history = next_scale_and_history(rhs, fwd_dtype, rhs_scale, rhs_history)
    q_lhs = fp8_quantize(lhs, fwd_dtype, new_lhs_scale, compute_dtype)
    q_rhs = fp8_quantize(rhs, fwd_dtype, new_rhs_scale, compute_dtype)
    raw = _fp8_product(compute_dtype)(q_lhs, q_rhs, dimension_numbers)
    out = fp8_dequantize(raw, compute_dtype, new_lhs_scale * new_rhs_scale)
    residuals = (
        q_lhs, q_rhs, new_lhs_scale, new_rhs_scale, new_lhs_history, new_rhs_history,
        grad_scale, grad_history, jnp.zeros((0,), lhs.dtype), jnp.zeros((0,), rhs.dtype),
    )  # fmt: skip
    return out, residuals


def _fp8_backward(dimension_numbers, compute_dtype, fwd_dtype, rev_dtype, residuals, g):
    (
        q_lhs, q_rhs, lhs_scale, rhs_scale, lhs_history, rhs_history,
        grad_scale, grad_history, lhs_dtype_marker, rhs_dtype_marker,
    ) = residuals  # fmt: skip
    new_grad_scale, new_grad_history = next_scale_and_history(
        g, rev_dtype, grad_scale, grad_history
    )
    q_g = fp8_quantize(g, rev_dtype, new_grad_scale, compute_dtype)
    product = _fp8_product(compute_dtype)
    grad_lhs = operand_cotangent(q_g, q_rhs, dimension_numbers, q_lhs.ndim, True, product, q_lhs)
    grad_rhs = operand_cotangent(q_g, q_lhs, dimension_numbers, q_rhs.ndim, False, product, q_rhs)
    grad_lhs = fp8_dequantize(grad_lhs, compute_dtype, rhs_scale * new_grad_scale)
    grad_rhs = fp8_dequantize(grad_rhs, compute_dtype, lhs_scale * new_grad_scale)
    return (
        grad_lhs.astype(lhs_dtype_marker.dtype),
        grad_rhs.astype(rhs_dtype_marker.dtype),
        lhs_scale,
        rhs_scale,
        new_grad_scale,
        lhs_history,
        rhs_history,
        new_grad_history,
    )


fp8_dot_general.defvjp(_fp8_forward, _fp8_backward)


def quantized_compute_dtype(
    op: str, product: str, compute_dtype: Any, rhs: Any, precision: Any, kwargs: dict[str, Any]
) -> np.dtype:
    """The dtype a quantised op computes in, after checking its `dot_general` options.

    `precision` has no meaning for a quantised product and is ignored with a warning;
    any other keyword is a `TypeError` naming the parameters the op takes.
    """
    if precision is not None:
        warnings.warn(
            f"{op}: precision= has no effect on {product} product; it is ignored.", stacklevel=3
        )
    if kwargs:
        raise TypeError(
            f"{op}: unexpected keyword arguments {sorted(kwargs)}; it takes "
            "jax.lax.dot_general's lhs, rhs, dimension_numbers, precision and "
            "preferred_element_type."
        )
    return jnp.dtype(compute_dtype or jnp.result_type(rhs))


class Fp8DotGeneralOp(CustomGradientAccumulation):
    """A `dot_general` for `nn.Linear` that multiplies in fp8 with delayed scaling.

    Build it with `Fp8DotGeneralOp.init()` and pass it as `Linear.init(...,
    dot_general=op)`, or convert a model with `quantize_linear_layers`. Its arrays are
    the scaling state of the input, the kernel and the output gradient; train with
    `partition_for_grad_overwrite` / `apply_updates`, which write the state the
    backward pass computes. Microbatches combine by taking the larger amax.

    Attributes:
        input_scale: The input's scale, shape `(1,)`.
        output_grad_scale: The output gradient's scale.
        kernel_scale: The kernel's (weight's) scale.
        input_amax_history: The input's amax history, newest first.
        output_grad_amax_history: The output gradient's amax history.
        kernel_amax_history: The kernel's amax history.
        compute_dtype: The dtype of the arithmetic and the result; None for the
            kernel's dtype.
        fwd_dtype: The fp8 dtype of the forward operands (`float8_e4m3fn`).
        rev_dtype: The fp8 dtype of the output gradient (`float8_e5m2`).

    Examples:
        >>> op = Fp8DotGeneralOp.init(amax_history_length=16)
        >>> op.input_amax_history.shape, op.input_scale.tolist()
        ((16,), [1.0])
    """

    input_scale: jax.Array
    output_grad_scale: jax.Array
    kernel_scale: jax.Array
    input_amax_history: jax.Array
    output_grad_amax_history: jax.Array
    kernel_amax_history: jax.Array
    compute_dtype: DTypeLike | None = eqx.field(static=True, default=None)
    fwd_dtype: DTypeLike = eqx.field(static=True, default=jnp.float8_e4m3fn)
    rev_dtype: DTypeLike = eqx.field(static=True, default=jnp.float8_e5m2)

    @classmethod
    def init(
        cls,
        amax_history_length: int = 1024,
        compute_dtype: DTypeLike | None = None,
        fwd_dtype: DTypeLike = jnp.float8_e4m3fn,
        rev_dtype: DTypeLike = jnp.float8_e5m2,
    ) -> Fp8DotGeneralOp:
        """Fresh state: scales of one and empty (zero) histories of `amax_history_length`."""
        if not isinstance(amax_history_length, int) or amax_history_length < 1:
            raise ValueError(
                f"Fp8DotGeneralOp.init: amax_history_length must be a positive int, got "
                f"{amax_history_length!r}."
            )
        fp8_max(fwd_dtype)  # validates both dtypes
        fp8_max(rev_dtype)
        one, history = jnp.ones(1, jnp.float32), jnp.zeros(amax_history_length, jnp.float32)
        return cls(one, one, one, history, history, history, compute_dtype, fwd_dtype, rev_dtype)

    def __call__(
        self,
        lhs: jax.Array,
        rhs: jax.Array,
        dimension_numbers: DimensionNumbers,
        precision: Any = None,
        preferred_element_type: DTypeLike | None = None,
        **kwargs: Any,
    ) -> jax.Array:
        """`jax.lax.dot_general(lhs, rhs, dimension_numbers)` computed in fp8.

        `precision` does not apply to an fp8 product and is ignored with a warning;
        `preferred_element_type`, if given, is the result's dtype.
        """
        compute = quantized_compute_dtype(
            "Fp8DotGeneralOp", "an fp8", self.compute_dtype, rhs, precision, kwargs
        )
        # jax.custom_vjp's call is typed as returning `object`; fp8_dot_general returns an Array.
        out = cast(
            jax.Array,
            fp8_dot_general(
                jnp.asarray(lhs, compute),
                rhs,
                self.input_scale,
                self.kernel_scale,
                self.output_grad_scale,
                self.input_amax_history,
                self.kernel_amax_history,
                self.output_grad_amax_history,
                _hashable(dimension_numbers),
                compute,
                jnp.dtype(self.fwd_dtype),
                jnp.dtype(self.rev_dtype),
            ),
        )
        return out if preferred_element_type is None else out.astype(preferred_element_type)

    def accumulate(self, other: Fp8DotGeneralOp) -> Fp8DotGeneralOp:
        """Two microbatches' state: `other`'s, with the larger of each newest amax.

        Every microbatch starts from the same state, so the scales and all but the
        newest history entry agree; the zero-filled starting accumulator is neutral.
        """
        return dataclasses.replace(
            other,
            input_amax_history=jnp.maximum(self.input_amax_history, other.input_amax_history),
            output_grad_amax_history=jnp.maximum(
                self.output_grad_amax_history, other.output_grad_amax_history
            ),
            kernel_amax_history=jnp.maximum(self.kernel_amax_history, other.kernel_amax_history),
        )


def _hashable(dimension_numbers: Any) -> DimensionNumbers:
    """`dimension_numbers` as nested tuples of ints (a static argument must hash)."""
    (lc, rc), (lb, rb) = dimension_numbers
    return (
        (tuple(int(d) for d in lc), tuple(int(d) for d in rc)),
        (tuple(int(d) for d in lb), tuple(int(d) for d in rb)),
    )
