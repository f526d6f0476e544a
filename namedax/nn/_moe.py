"""`MoELinear`: one `Linear` map per expert, applied to tokens grouped by expert.

A mixture-of-experts layer routes each token to an expert; after sorting the tokens
by expert, expert `e` owns a contiguous run of `group_sizes[e]` rows. `MoELinear`
multiplies each run by its own expert's weight in one grouped matmul
(`jax.lax.ragged_dot_general`), instead of gathering a weight per token.

Every axis of the input other than `In` is a token axis: they are flattened, in the
input's order, into the one row dimension that `group_sizes` partitions, so the rows
of expert `e` are the flattened positions `sum(group_sizes[:e])` to
`sum(group_sizes[:e+1])`. Rows past `sum(group_sizes)` belong to no expert and give
zeros (before the bias).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, replace_axis, sized_axes
from namedax.core._errors import describe, format_axes
from namedax.nn._init_hint import builds_with_init
from namedax.ops._out_sharding import out_sharding, sharding_errors
from namedax.parallel._sharding import auto_sharded, explicit_sharded

__all__ = ["MoELinear"]


@builds_with_init
class MoELinear(eqx.Module):
    """Per-expert affine maps from axis `In` to axis `Out`, over tokens grouped by expert.

    Build it with `MoELinear.init`; call it as `layer(inputs, group_sizes)`.

    Attributes:
        weight: Axes `(Experts, In, Out)`, or `(Experts, Out, In)` with `out_first`.
        bias: Axes `(Out,)`, shared by the experts (as in Haliax), or None.
        Experts: The expert axis.
        In: The input axis.
        Out: The output axis.
        use_gmm: Accepted for Haliax compatibility. namedax always computes the grouped
            matmul with `jax.lax.ragged_dot_general`, which XLA lowers to a grouped
            matmul kernel itself; the result is the same.

    Examples:
        >>> Experts, Embed, Mlp = Axis("experts", 2), Axis("embed", 3), Axis("mlp", 4)
        >>> layer = nx.nn.MoELinear.init(Experts, Embed, Mlp, key=jax.random.key(0))
        >>> layer.weight.axes
        (Axis(name='experts', size=2), Axis(name='embed', size=3), Axis(name='mlp', size=4))
        >>> tokens = nx.ones((Axis("token", 5), Embed))
        >>> group_sizes = named(jnp.array([3, 2]), "experts")  # rows 0-2: expert 0
        >>> layer(tokens, group_sizes).shape
        {'token': 5, 'mlp': 4}
    """

    weight: NamedArray
    bias: NamedArray | None
    Experts: Axis = eqx.field(static=True)
    In: Axis = eqx.field(static=True)
    Out: Axis = eqx.field(static=True)
    use_gmm: bool = eqx.field(static=True, default=False)

    @staticmethod
    def init(
        Experts: Axis,
        In: Axis,
        Out: Axis,
        *,
        key: Any,
        use_bias: bool = True,
        out_first: bool = False,
        init_scale: float = 1.0,
        use_gmm: bool = False,
    ) -> MoELinear:
        """Builds the layer: truncated-normal weights of std `init_scale / sqrt(In.size)`.

        Args:
            Experts: The expert axis (sized).
            In: The input axis (sized).
            Out: The output axis (sized).
            key: The PRNG key of the weight.
            use_bias: Whether to add a bias (zeros, axes `(Out,)`).
            out_first: Store the weight as `(Experts, Out, In)` instead of
                `(Experts, In, Out)`.
            init_scale: Multiplies the weight's standard deviation.
            use_gmm: See the class attributes.

        Returns:
            The layer.

        Raises:
            ValueError: If two of `Experts`, `In`, `Out` share a name.
        """
        (experts,) = sized_axes(Experts, "MoELinear.init")
        (ins,) = sized_axes(In, "MoELinear.init")
        (outs,) = sized_axes(Out, "MoELinear.init")
        names = [experts.name, ins.name, outs.name]
        if len(set(names)) != 3:
            raise ValueError(
                f"MoELinear.init: Experts {experts}, In {ins} and Out {outs} must have three "
                "different names (the weight holds all three). Rename the output axis, e.g. "
                f"{outs.name}.alias('{outs.name}_out')."
            )
        axes = (experts, outs, ins) if out_first else (experts, ins, outs)
        weight = jax.random.truncated_normal(key, -3.0, 3.0, tuple(a.size for a in axes))
        weight = weight * (init_scale / math.sqrt(ins.size))
        bias = _wrap(jnp.zeros(outs.size), (outs,)) if use_bias else None
        return MoELinear(_wrap(weight, axes), bias, experts, ins, outs, use_gmm=use_gmm)

    @property
    def out_first(self) -> bool:
        """Whether the weight stores `Out` before `In`."""
        names = self.weight.axis_names
        return names.index(self.Out.name) < names.index(self.In.name)

    def __call__(self, inputs: NamedArray, group_sizes: Any, *, key: Any = None) -> NamedArray:
        """Applies expert `e`'s map to its run of `group_sizes[e]` flattened token rows.

        Args:
            inputs: Has the `In` axis; every other axis is a token axis.
            group_sizes: Integer run lengths, a NamedArray with just the `Experts` axis
                (or a 1-d array of `Experts.size` entries).
            key: Ignored.

        Returns:
            `inputs` with `In` replaced by `Out` (same position).

        Raises:
            TypeError: If `inputs` is not a NamedArray, or `group_sizes` is not integer.
            ValueError: If `inputs` lacks `In` (or has it at another size) or already has
                `Out`, or `group_sizes` does not have exactly the `Experts` axis.
        """
        del key
        _check_inputs(inputs, self.In, self.Out)
        sizes = _group_sizes(group_sizes, self.Experts)
        tokens = inputs.rearrange((..., self.In.name))
        rows = math.prod(tokens.array.shape[:-1])
        flat = tokens.array.reshape(rows, self.In.size)
        w_names = self.weight.axis_names
        numbers = jax.lax.RaggedDotDimensionNumbers(
            dot_dimension_numbers=(((1,), (w_names.index(self.In.name),)), ((), ())),
            lhs_ragged_dimensions=(0,),
            rhs_group_dimensions=(w_names.index(self.Experts.name),),
        )
        token_axes = tokens.axes[:-1]
        spec = out_sharding((*token_axes, self.Out), "MoELinear")

        def ragged(x: jax.Array, w: jax.Array, g: jax.Array) -> jax.Array:
            return jax.lax.ragged_dot_general(x, w, g, numbers)

        if spec is not None:  # JAX infers no explicit sharding for ragged dots (nor their
            # gradients), so the dot runs with the mesh's axes as Auto, its result laid out
            # auto_axes is unannotated; given a function, it returns one of the same signature.
            ragged = jax.sharding.auto_axes(  # pyright: ignore[reportAssignmentType]
                ragged, out_sharding=_flat_spec(spec)
            )
        with sharding_errors("MoELinear", inputs.axes, self.weight.axes):
            out = ragged(flat, self.weight.array, sizes)
            out = jax.lax.reshape(
                out, (*(a.size for a in token_axes), self.Out.size), out_sharding=spec
            )
        result = _wrap(out, (*token_axes, self.Out))
        order = tuple(a.name for a in replace_axis(inputs.axes, self.In, self.Out))
        result = result.rearrange(order)
        if self.bias is not None:
            result = result + explicit_sharded(self.bias)
        return auto_sharded(result)


def _flat_spec(spec: PartitionSpec | None) -> PartitionSpec | None:
    """The spec of the flattened `(rows, Out)` result, given the one of `(*tokens, Out)`.

    The rows keep the leading token axis's sharding when it is the only sharded token
    axis (the row-major merge then keeps each shard contiguous); otherwise the rows are
    replicated and the reshape back lays the tokens out.
    """
    if spec is None:
        return None
    *tokens, out = spec
    lead = tokens[0] if tokens and all(e is None for e in tokens[1:]) else None
    return PartitionSpec(lead, out)


def _check_inputs(inputs: Any, In: Axis, Out: Axis) -> None:
    if not isinstance(inputs, NamedArray):
        raise TypeError(f"MoELinear: inputs must be a NamedArray, got {describe(inputs)}.")
    found = next((a for a in inputs.axes if a.name == In.name), None)
    if found != In:
        problem = "lacks the input axis" if found is None else f"has {found}, not the input axis"
        raise ValueError(
            f"MoELinear: inputs {format_axes(inputs.axes)} {problem} {In} (the layer maps "
            f"{In} to {Out})."
        )
    if Out.name in inputs.axis_names:
        raise ValueError(
            f"MoELinear: inputs {format_axes(inputs.axes)} already have the output axis "
            f"{Out.name!r}. Rename that axis of the input."
        )


def _group_sizes(group_sizes: Any, Experts: Axis) -> jax.Array:
    """The run lengths as a 1-d integer array of `Experts.size` entries."""
    if isinstance(group_sizes, NamedArray):
        if group_sizes.axes != (Experts,):
            raise ValueError(
                f"MoELinear: group_sizes {format_axes(group_sizes.axes)} must have exactly the "
                f"expert axis {Experts} (one run length per expert)."
            )
        array = group_sizes.array
    else:
        array = jnp.asarray(group_sizes)
        if array.shape != (Experts.size,):
            raise ValueError(
                f"MoELinear: group_sizes of shape {array.shape} must hold one run length per "
                f"expert: shape ({Experts.size},) for {Experts}."
            )
    if not jnp.issubdtype(array.dtype, jnp.integer):
        raise TypeError(
            f"MoELinear: group_sizes must be integers, got dtype {array.dtype}. Count the tokens "
            "routed to each expert, e.g. with jnp.bincount."
        )
    return array.astype(jnp.int32)
