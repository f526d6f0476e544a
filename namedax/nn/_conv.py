"""`Conv` and `ConvTranspose`: N-dimensional convolutions over spatial axes named by the caller.

A layer is built for named spatial axes, an input-channel axis and an output-channel
axis. A call accepts its input in any axis order: the convolution's dimension numbers
are read off the input's axis names, so the array is never transposed, and the output
keeps the input's order with the input-channel axis replaced by the output-channel
axis. Every other axis is a batch axis; several batch axes are mapped over with
`jax.vmap`, and an input without one gets a temporary unit batch dimension.

The weight has axes `(Out, In', *kernel)`, where `In'` is the input-channel axis resized
to `In.size // groups` and each kernel axis carries the name of its spatial axis and
the kernel's extent along it; the bias has axis `Out`. This is the layout of
`equinox.nn.Conv`, and the same key gives the same parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import equinox as eqx
import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSelection, axis_spec_to_tuple
from namedax.core._errors import describe, format_axes
from namedax.parallel._sharding import auto_sharded, explicit_sharded

from ._init_hint import builds_with_init

__all__ = ["Conv", "ConvTranspose", "ConvPadding"]

ConvPadding: TypeAlias = str | int | Sequence[int] | Sequence[tuple[int, int]]
"""A convolution's padding: `"SAME"`, `"SAME_LOWER"`, `"VALID"`, one int for every side of
every spatial axis, one int per spatial axis (both sides), or one `(low, high)` pair per
spatial axis."""

_PAD_STRINGS = ("SAME", "SAME_LOWER", "VALID")


def _int_tuple(op: str, arg: str, value: Any, n: int, minimum: int) -> tuple[int, ...]:
    """`value` (an int, or a sequence of `n` ints or of one) as `n` ints, each `>= minimum`."""
    items = (value,) if isinstance(value, int) else value
    if not isinstance(items, Sequence) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in items
    ):
        raise TypeError(
            f"{op}: {arg} must be an int or a sequence of ints (one per spatial axis), got "
            f"{describe(value)}."
        )
    items = tuple(items)
    if len(items) == 1:
        items = items * n
    if len(items) != n:
        raise ValueError(
            f"{op}: {arg}={value!r} has {len(items)} entries but there are {n} spatial axes. "
            f"Give one int, or {n} ints."
        )
    if any(v < minimum for v in items):
        raise ValueError(f"{op}: every entry of {arg}={value!r} must be >= {minimum}.")
    return items


def _padding(op: str, padding: Any, n: int) -> str | tuple[tuple[int, int], ...]:
    """The padding as a canonical string or `n` `(low, high)` pairs."""
    if isinstance(padding, str):
        upper = padding.upper()
        if upper not in _PAD_STRINGS:
            raise ValueError(
                f"{op}: padding={padding!r} is not one of {', '.join(map(repr, _PAD_STRINGS))}; "
                "or pass ints or (low, high) pairs."
            )
        return upper
    if isinstance(padding, int) and not isinstance(padding, bool):
        return ((padding, padding),) * n
    if isinstance(padding, Sequence):
        entries = list(padding)
        if len(entries) == 1:
            entries = entries * n
        if len(entries) != n:
            raise ValueError(
                f"{op}: padding={padding!r} has {len(entries)} entries but there are {n} "
                "spatial axes. Give one entry per spatial axis."
            )
        pairs = []
        for p in entries:
            if isinstance(p, int) and not isinstance(p, bool):
                pairs.append((p, p))
            elif (
                isinstance(p, Sequence)
                and len(p) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in p)
            ):
                pairs.append((p[0], p[1]))
            else:
                raise TypeError(
                    f"{op}: each padding entry must be an int or a (low, high) pair of ints, got "
                    f"{p!r} in padding={padding!r}."
                )
        return tuple(pairs)
    raise TypeError(
        f"{op}: padding must be 'SAME', 'SAME_LOWER', 'VALID', an int, or a sequence of ints or "
        f"(low, high) pairs, got {describe(padding)}."
    )


def _spatial_names(op: str, Spatial: AxisSelection) -> tuple[str, ...]:
    names = tuple(a.name if isinstance(a, Axis) else a for a in axis_spec_to_tuple(Spatial))
    if not names:
        raise ValueError(f"{op}: Spatial must name at least one axis, got {Spatial!r}.")
    if len(set(names)) != len(names):
        raise ValueError(f"{op}: Spatial {names} repeats an axis name.")
    return names


def _init_params(
    op: str,
    Spatial: AxisSelection,
    In: Axis,
    Out: Axis,
    kernel_size: int | Sequence[int],
    groups: int,
    use_bias: bool,
    key: Any,
    dtype: Any,
) -> tuple[tuple[str, ...], tuple[int, ...], NamedArray, NamedArray | None]:
    """Checks the shared arguments and draws the weight and bias (Equinox's scheme)."""
    for arg, ax in (("In", In), ("Out", Out)):
        if not isinstance(ax, Axis):
            raise TypeError(f"{op}: {arg} must be an Axis(name, size), got {describe(ax)}.")
    names = _spatial_names(op, Spatial)
    if In.name == Out.name:
        raise ValueError(
            f"{op}: In {In} and Out {Out} share the name {In.name!r}; the weight holds both, "
            f"so give Out another name, e.g. Out=Axis({(In.name + '_out')!r}, {Out.size})."
        )
    for name in names:
        if name in (In.name, Out.name):
            raise ValueError(
                f"{op}: the spatial axis {name!r} is also a channel axis (In {In}, Out {Out})."
            )
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be an int >= 1, got {groups!r}.")
    if In.size % groups or Out.size % groups:
        raise ValueError(
            f"{op}: groups={groups} must divide both channel sizes, In {In} and Out {Out}."
        )
    kernel = _int_tuple(op, "kernel_size", kernel_size, len(names), 1)
    in_per_group = In.resize(In.size // groups)
    axes = (Out, in_per_group, *(Axis(n, k) for n, k in zip(names, kernel, strict=True)))
    dtype = dtype or jnp.float32
    limit = 1 / math.sqrt(in_per_group.size * math.prod(kernel))
    wkey, bkey = jax.random.split(key, 2)
    shape = tuple(a.size for a in axes)
    weight = _wrap(jax.random.uniform(wkey, shape, dtype, -limit, limit), axes)
    bias = (
        _wrap(jax.random.uniform(bkey, (Out.size,), dtype, -limit, limit), (Out,))
        if use_bias
        else None
    )
    return names, kernel, weight, bias


def _layout(op: str, layer: _ConvBase, inputs: Any) -> list[Any]:
    """Each input axis's role: `"N"` (batch), `"C"` (input channels) or a spatial index."""
    if not isinstance(inputs, NamedArray):
        raise TypeError(f"{op}: inputs must be a NamedArray, got {describe(inputs)}.")
    axes = inputs.axes
    sizes = {a.name: a.size for a in axes}
    what = f"(the layer maps {layer.In} to {layer.Out} over spatial axes {layer.Spatial})"
    if layer.In.name not in sizes:
        raise ValueError(
            f"{op}: the input {format_axes(axes)} lacks the input-channel axis {layer.In} {what}."
        )
    if sizes[layer.In.name] != layer.In.size:
        raise ValueError(
            f"{op}: the input's channel axis {layer.In.name!r} has size {sizes[layer.In.name]}, "
            f"but the layer expects {layer.In} (input {format_axes(axes)})."
        )
    missing = [n for n in layer.Spatial if n not in sizes]
    if missing:
        raise ValueError(
            f"{op}: the input {format_axes(axes)} lacks the spatial axis {missing[0]!r} {what}."
        )
    if layer.Out.name in sizes:
        raise ValueError(
            f"{op}: the input {format_axes(axes)} already has the output-channel axis "
            f"{layer.Out.name!r} {what}. Rename that axis of the input."
        )
    return [
        "C"
        if a.name == layer.In.name
        else layer.Spatial.index(a.name)
        if a.name in layer.Spatial
        else "N"
        for a in axes
    ]


def _apply(
    core: Callable[[jax.Array, list[Any]], jax.Array], x: jax.Array, roles: list[Any]
) -> jax.Array:
    """`core(x, roles)` on an array with any number of batch dimensions (`"N"` roles).

    `core` handles exactly one batch dimension; further ones are vmapped in place, and a
    missing one is added as a leading unit dimension and removed again.
    """
    batch = [i for i, r in enumerate(roles) if r == "N"]
    if not batch:
        return core(x[None], ["N", *roles])[0]
    if len(batch) == 1:
        return core(x, roles)
    p = batch[-1]
    inner = roles[:p] + roles[p + 1 :]
    return jax.vmap(lambda y: _apply(core, y, inner), in_axes=p, out_axes=p)(x)


def _dimension_numbers(roles: list[Any], n_spatial: int) -> jax.lax.ConvDimensionNumbers:
    lhs = (
        roles.index("N"),
        roles.index("C"),
        *(roles.index(i) for i in range(n_spatial)),
    )
    rhs = tuple(range(n_spatial + 2))  # the weight is stored (Out, In', *kernel)
    return jax.lax.ConvDimensionNumbers(lhs_spec=lhs, rhs_spec=rhs, out_spec=lhs)


class _ConvBase(eqx.Module):
    """Fields and the call shared by `Conv` and `ConvTranspose`."""

    Spatial: tuple[str, ...] = eqx.field(static=True)
    In: Axis = eqx.field(static=True)
    Out: Axis = eqx.field(static=True)
    weight: NamedArray
    bias: NamedArray | None

    def _pads(self, op: str, spatial_sizes: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        raise NotImplementedError

    def _conv(self, x: jax.Array, roles: list[Any], pads: tuple[tuple[int, int], ...]) -> Any:
        raise NotImplementedError

    def _call(self, op: str, inputs: NamedArray) -> NamedArray:
        roles = _layout(op, self, inputs)
        sizes = {a.name: a.size for a in inputs.axes}
        spatial_sizes = tuple(sizes[n] for n in self.Spatial)
        pads = self._pads(op, spatial_sizes)
        out = _apply(lambda x, r: self._conv(x, r, pads), inputs.array, roles)
        out_axes = tuple(
            self.Out
            if r == "C"
            else a
            if r == "N"
            else a.resize(out.shape[i])  # spatial: the convolution sets its size
            for i, (a, r) in enumerate(zip(inputs.axes, roles, strict=True))
        )
        result = _wrap(out, out_axes)
        if self.bias is not None:
            result = result + explicit_sharded(self.bias)
        return auto_sharded(result)  # laid out by the axis mapping, if one is set

    def _check_sizes(self, op: str, spatial_sizes: tuple[int, ...], out_sizes: list[int]) -> None:
        for name, size, out in zip(self.Spatial, spatial_sizes, out_sizes, strict=True):
            if out < 1:
                raise ValueError(
                    f"{op}: the spatial axis {name!r} of size {size} is too small for the "
                    f"kernel {self.weight.shape} with this stride, padding and dilation: the "
                    f"output would have size {out}. Pad the input or shrink the kernel."
                )


@builds_with_init
class Conv(_ConvBase):
    """An N-dimensional convolution over named spatial axes, from channels `In` to `Out`.

    Build it with `Conv.init`. The input needs the `In` axis and every spatial axis;
    every other axis is a batch axis, and the axes may come in any order. The output
    has the input's axes in the input's order, with `In` replaced by `Out` and each
    spatial axis resized to
    `(size + low + high - dilation * (kernel - 1) - 1) // stride + 1`.

    Attributes:
        Spatial: The names of the spatial axes.
        In: The input-channel axis.
        Out: The output-channel axis.
        weight: Axes `(Out, In resized to In.size // groups, *kernel)`, each kernel axis
            named after its spatial axis.
        bias: Axis `Out`, or None.
        kernel_size: The kernel's extent along each spatial axis.
        stride: The step between windows along each spatial axis.
        padding: `(low, high)` zero padding per spatial axis, or `"SAME"`,
            `"SAME_LOWER"` or `"VALID"` (resolved for each input's sizes).
        dilation: The spacing between kernel taps along each spatial axis.
        groups: The number of channel groups, each convolved with its own kernels.

    Examples:
        >>> Batch, H, W = Axis("batch", 2), Axis("h", 5), Axis("w", 6)
        >>> C, F = Axis("channels", 3), Axis("features", 4)
        >>> conv = nx.nn.Conv.init((H, W), C, F, kernel_size=3, padding=1, key=jax.random.key(0))
        >>> conv.weight.shape
        {'features': 4, 'channels': 3, 'h': 3, 'w': 3}
        >>> conv(nx.ones((W, C, Batch, H))).shape
        {'w': 6, 'features': 4, 'batch': 2, 'h': 5}
        >>> strided = nx.nn.Conv.init(("h", "w"), C, F, kernel_size=(3, 2), stride=2,
        ...                           key=jax.random.key(0))
        >>> strided(nx.ones((Batch, C, H, W))).shape
        {'batch': 2, 'features': 4, 'h': 2, 'w': 3}
    """

    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: str | tuple[tuple[int, int], ...] = eqx.field(static=True)
    dilation: tuple[int, ...] = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    @staticmethod
    def init(
        Spatial: AxisSelection,
        In: Axis,
        Out: Axis,
        kernel_size: int | Sequence[int],
        *,
        stride: int | Sequence[int] = 1,
        padding: ConvPadding = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        use_bias: bool = True,
        key: Any,
        dtype: Any = None,
    ) -> Conv:
        """Builds a convolution with weight and bias uniform in `±1 / sqrt(fan_in)`.

        `fan_in` is `In.size // groups` times the kernel's volume, as in Equinox (the same
        key gives the same parameters as `equinox.nn.Conv`).

        Args:
            Spatial: The spatial axes: names, or Axes (their sizes are not used; each
                call takes the input's sizes).
            In: The input-channel axis.
            Out: The output-channel axis (a different name from `In`).
            kernel_size: The kernel's extent: one int for every spatial axis, or one per
                spatial axis in `Spatial`'s order.
            stride: The window step, as one int or one per spatial axis.
            padding: Zero padding: an int for both sides of every spatial axis, one int
                per spatial axis, one `(low, high)` pair per spatial axis, or `"SAME"`
                (output size `ceil(size / stride)`, extra padding high), `"SAME_LOWER"`
                (the same, extra padding low) or `"VALID"` (none).
            dilation: The spacing of kernel taps, as one int or one per spatial axis.
            groups: Split the channels into this many groups, each convolved with its own
                kernels; it must divide `In.size` and `Out.size`.
            use_bias: Whether to add a bias over `Out`.
            key: The PRNG key.
            dtype: The parameter dtype (default float32).

        Returns:
            The layer.

        Raises:
            TypeError: If `In`/`Out` is not an Axis, or an int argument is not an int.
            ValueError: If `Spatial` is empty or repeats a name, `In` and `Out` share a
                name, `groups` does not divide the channels, an entry count does not
                match the spatial axes, or a size/stride/dilation is below 1.
        """
        op = "Conv.init"
        names, kernel, weight, bias = _init_params(
            op, Spatial, In, Out, kernel_size, groups, use_bias, key, dtype
        )
        n = len(names)
        return Conv(
            names,
            In,
            Out,
            weight,
            bias,
            kernel,
            _int_tuple(op, "stride", stride, n, 1),
            _padding(op, padding, n),
            _int_tuple(op, "dilation", dilation, n, 1),
            groups,
        )

    def _pads(self, op: str, spatial_sizes: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        reach = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation, strict=True))
        if isinstance(self.padding, str):
            pads = tuple(
                (int(lo), int(hi))
                for lo, hi in jax.lax.padtype_to_pads(
                    spatial_sizes, reach, self.stride, self.padding
                )
            )
        else:
            pads = self.padding
        out = [
            (size + lo + hi - r) // s + 1
            for size, (lo, hi), r, s in zip(spatial_sizes, pads, reach, self.stride, strict=True)
        ]
        self._check_sizes(op, spatial_sizes, out)
        return pads

    def _conv(self, x: jax.Array, roles: list[Any], pads: tuple[tuple[int, int], ...]) -> Any:
        return jax.lax.conv_general_dilated(
            x,
            self.weight.array,
            window_strides=self.stride,
            padding=pads,
            rhs_dilation=self.dilation,
            feature_group_count=self.groups,
            dimension_numbers=_dimension_numbers(roles, len(self.Spatial)),
        )

    def __call__(self, inputs: NamedArray, *, key: Any = None) -> NamedArray:
        """Convolves `inputs` (any axis order, any batch axes); `key` is ignored.

        Raises:
            TypeError: If `inputs` is not a NamedArray.
            ValueError: If `inputs` lacks `In` (or has it at another size) or a spatial
                axis, already has `Out`, or a spatial axis is too small for the kernel.
        """
        del key
        return self._call("Conv", inputs)


@builds_with_init
class ConvTranspose(_ConvBase):
    """The transposed convolution of `Conv`: it maps a `Conv` output's shape back to its input's.

    Build it with `ConvTranspose.init`. Inputs follow the rules of `Conv` (any axis
    order, any batch axes). Each spatial axis grows to
    `(size - 1) * stride - low - high + dilation * (kernel - 1) + output_padding + 1`,
    where `(low, high)` is the padding of the equivalent `Conv`. The kernel is applied
    as stored (not flipped), as in `equinox.nn.ConvTranspose`.

    Attributes:
        Spatial: The names of the spatial axes.
        In: The input-channel axis.
        Out: The output-channel axis.
        weight: Axes `(Out, In resized to In.size // groups, *kernel)`.
        bias: Axis `Out`, or None.
        kernel_size: The kernel's extent along each spatial axis.
        stride: The stride of the equivalent `Conv` (the input is dilated by it).
        padding: The padding of the equivalent `Conv`: `(low, high)` pairs, or
            `"SAME"`, `"SAME_LOWER"` or `"VALID"`.
        output_padding: Extra size added at the high end of each spatial axis, to pick
            one of the input sizes a strided `Conv` maps to the same output size.
        dilation: The spacing between kernel taps along each spatial axis.
        groups: The number of channel groups.

    Examples:
        >>> Batch, H, W = Axis("batch", 2), Axis("h", 5), Axis("w", 6)
        >>> C, F = Axis("channels", 3), Axis("features", 4)
        >>> up = nx.nn.ConvTranspose.init((H, W), C, F, kernel_size=3, stride=2, padding=1,
        ...                               output_padding=1, key=jax.random.key(0))
        >>> up(nx.ones((Batch, H, W, C))).shape
        {'batch': 2, 'h': 10, 'w': 12, 'features': 4}
    """

    kernel_size: tuple[int, ...] = eqx.field(static=True)
    stride: tuple[int, ...] = eqx.field(static=True)
    padding: str | tuple[tuple[int, int], ...] = eqx.field(static=True)
    output_padding: tuple[int, ...] = eqx.field(static=True)
    dilation: tuple[int, ...] = eqx.field(static=True)
    groups: int = eqx.field(static=True)

    @staticmethod
    def init(
        Spatial: AxisSelection,
        In: Axis,
        Out: Axis,
        kernel_size: int | Sequence[int],
        *,
        stride: int | Sequence[int] = 1,
        padding: ConvPadding = 0,
        output_padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        use_bias: bool = True,
        key: Any,
        dtype: Any = None,
    ) -> ConvTranspose:
        """Builds a transposed convolution (parameters drawn as in `Conv.init`).

        Args:
            Spatial: The spatial axes: names, or Axes (sizes not used).
            In: The input-channel axis.
            Out: The output-channel axis (a different name from `In`).
            kernel_size: The kernel's extent, one int or one per spatial axis.
            stride: The stride of the equivalent `Conv`, one int or one per spatial axis.
            padding: The padding of the equivalent `Conv`, in any form `Conv.init`
                accepts. With `"SAME"`/`"SAME_LOWER"` the output size is
                `size * stride - output_padding`.
            output_padding: Extra output size at the high end, one int >= 0 or one per
                spatial axis.
            dilation: The spacing of kernel taps, one int or one per spatial axis.
            groups: The number of channel groups; it must divide `In.size` and `Out.size`.
            use_bias: Whether to add a bias over `Out`.
            key: The PRNG key.
            dtype: The parameter dtype (default float32).

        Returns:
            The layer.

        Raises:
            TypeError: As for `Conv.init`.
            ValueError: As for `Conv.init`, or if an `output_padding` entry is negative.
        """
        op = "ConvTranspose.init"
        names, kernel, weight, bias = _init_params(
            op, Spatial, In, Out, kernel_size, groups, use_bias, key, dtype
        )
        n = len(names)
        return ConvTranspose(
            names,
            In,
            Out,
            weight,
            bias,
            kernel,
            _int_tuple(op, "stride", stride, n, 1),
            _padding(op, padding, n),
            _int_tuple(op, "output_padding", output_padding, n, 0),
            _int_tuple(op, "dilation", dilation, n, 1),
            groups,
        )

    def _pads(self, op: str, spatial_sizes: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        # The transposed convolution is a stride-1 convolution of the input dilated by
        # `stride`, padded so that every output position sees every tap that the forward
        # convolution would have connected to it: `reach - 1 - low` below and
        # `reach - 1 - high + output_padding` above.
        pads = []
        taps = zip(self.kernel_size, self.stride, self.dilation, strict=True)
        for i, (k, s, d) in enumerate(taps):
            extra = self.output_padding[i]
            if self.padding == "VALID":
                lo = hi = 0
            elif isinstance(self.padding, str):  # SAME / SAME_LOWER: output = size * stride
                total = d * (k - 1) + 1 - s + extra
                # `output_padding` trims the output to `size * stride - output_padding`;
                # where the kernel is too short for that, the high side pads the output.
                extra, total = max(-total, 0), max(total, 0)
                lo = (total + (self.padding == "SAME_LOWER")) // 2
                hi = total - lo
            else:
                lo, hi = self.padding[i]
            pads.append((d * (k - 1) - lo, d * (k - 1) - hi + extra))
        out = [
            (size - 1) * s + 1 + lo + hi - d * (k - 1)
            for size, (lo, hi), s, d, k in zip(
                spatial_sizes, pads, self.stride, self.dilation, self.kernel_size, strict=True
            )
        ]
        self._check_sizes(op, spatial_sizes, out)
        return tuple(pads)

    def _conv(self, x: jax.Array, roles: list[Any], pads: tuple[tuple[int, int], ...]) -> Any:
        return jax.lax.conv_general_dilated(
            x,
            self.weight.array,
            window_strides=(1,) * len(self.Spatial),
            padding=pads,
            lhs_dilation=self.stride,
            rhs_dilation=self.dilation,
            feature_group_count=self.groups,
            dimension_numbers=_dimension_numbers(roles, len(self.Spatial)),
        )

    def __call__(self, inputs: NamedArray, *, key: Any = None) -> NamedArray:
        """Applies the transposed convolution (any axis order, any batch axes); `key` is ignored.

        Raises:
            TypeError: If `inputs` is not a NamedArray.
            ValueError: As for `Conv.__call__`.
        """
        del key
        return self._call("ConvTranspose", inputs)
