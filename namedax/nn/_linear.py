"""`Linear`: an affine map from input axes to output axes, contracted by name.

The weight holds the output axes and the input axes (`Out` first by default, as
`out_first=True`). When an input axis has the same name as an output axis (e.g. a
square `Linear.init(Embed, Embed)`), the weight cannot hold the name twice, so its
input copy is stored as `<name>_in`: the weight of `Linear.init(Embed, Embed)` has
axes `(embed, embed_in)`. A call renames the input's axis the same way before
contracting, so callers never see the `_in` name: `embed` in, `embed` out.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSpec, sized_axes
from namedax.core._errors import describe, format_axes
from namedax.ops._dot import dot
from namedax.parallel._sharding import auto_sharded, explicit_sharded

from ._export import ModuleWithStateDictSerialization, flatten_linear, unflatten_linear
from ._init_hint import builds_with_init
from ._moe import MoELinear as MoELinear  # Haliax keeps it in `haliax.nn.linear`
from ._reparam import (
    AbstractLinearReparam,
    HiddenLinearMup,
    InputLinearMup,
    LinearStandardParam,
    OutputLinearMup,
    scaled,
)

__all__ = ["Linear", "MoELinear"]


@functools.cache
def weight_input_axes(In: tuple[Axis, ...], Out: tuple[Axis, ...]) -> tuple[Axis, ...]:
    """The input axes as the weight stores them: names that clash with `Out` get `_in`.

    Examples:
        >>> from namedax.nn._linear import weight_input_axes
        >>> weight_input_axes(make_axes(embed=4), make_axes(embed=4, head=2))
        (Axis(name='embed_in', size=4),)
    """
    taken = {a.name for a in In + Out}
    out_names = {a.name for a in Out}
    result = []
    for a in In:
        if a.name in out_names:
            name = f"{a.name}_in"
            while name in taken:
                name += "_in"
            taken.add(name)
            a = a.alias(name)
        result.append(a)
    return tuple(result)


def _as_spec(axes: tuple[Axis, ...], given: AxisSpec) -> Any:
    return axes[0] if isinstance(given, Axis) else axes


class _FunctionDotGeneral(eqx.Module):
    """A plain function given as `dot_general=`, held as static data (it is no array)."""

    fn: Callable[..., Any] = eqx.field(static=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def _as_dot_general(op: Any) -> Any:
    """`dot_general=` as a pytree: modules (an fp8 op with its scales) kept, functions wrapped."""
    if op is None or isinstance(op, eqx.Module):
        return op
    return _FunctionDotGeneral(op)


@builds_with_init
class Linear(ModuleWithStateDictSerialization):
    """An affine map `x -> dot(x, weight over In) + bias` from axes `In` to axes `Out`.

    Build it with `Linear.init`. The input may have any further (batch) axes, in any
    order; the output has them followed by `Out`.

    Attributes:
        weight: The weight, with axes `Out + In` (`out_first`) or `In + Out`; input axes
            whose name is also an output axis are stored as `<name>_in`.
        bias: The bias, with axes `Out`, or None.
        In: The input axis or axes.
        Out: The output axis or axes.
        dot_general: A replacement for `jax.lax.dot_general` (same signature) used for
            the contraction, e.g. a quantised matmul; None for the default.
        reparam: The parametrisation (`LinearStandardParam` by default), built from
            the class given as `reparam_cls` to `init`.

    Examples:
        >>> Batch, Embed, Hidden = Axis("batch", 2), Axis("embed", 3), Axis("hidden", 4)
        >>> layer = nx.nn.Linear.init(Embed, Hidden, key=jax.random.key(0))
        >>> layer.weight.axes
        (Axis(name='hidden', size=4), Axis(name='embed', size=3))
        >>> layer(nx.ones((Batch, Embed))).axes
        (Axis(name='batch', size=2), Axis(name='hidden', size=4))
        >>> square = nx.nn.Linear.init(Embed, Embed, key=jax.random.key(1))
        >>> square.weight.axes
        (Axis(name='embed', size=3), Axis(name='embed_in', size=3))
        >>> square(nx.ones((Batch, Embed))).axes
        (Axis(name='batch', size=2), Axis(name='embed', size=3))
    """

    weight: NamedArray
    bias: NamedArray | None
    In: AxisSpec = eqx.field(static=True)
    Out: AxisSpec = eqx.field(static=True)
    dot_general: Callable[..., Any] | None = eqx.field(default=None, converter=_as_dot_general)
    _reparam_cls: type[AbstractLinearReparam] = eqx.field(static=True, default=LinearStandardParam)

    @property
    def reparam(self) -> AbstractLinearReparam:
        """The layer's parametrisation, for its `In` and `Out`."""
        return self._reparam_cls(self.In, self.Out)

    @staticmethod
    def init(
        In: AxisSpec,
        Out: AxisSpec,
        *,
        key: Any,
        use_bias: bool = True,
        out_first: bool = True,
        dot_general: Callable[..., Any] | None = None,
        init_scale: float = 1.0,
        reparam_cls: type[AbstractLinearReparam] = LinearStandardParam,
        dtype: Any = None,
    ) -> Linear:
        """Builds a Linear layer with a truncated-normal weight and a zero bias.

        Args:
            In: The input axis or axes (sized).
            Out: The output axis or axes (sized). May share names with `In`.
            key: The PRNG key for the weight.
            use_bias: Whether to add a bias.
            out_first: Store the weight as `Out + In` (True) or `In + Out`.
            dot_general: A function with the signature of `jax.lax.dot_general` that
                performs the contraction (e.g. a quantised matmul), or None.
            init_scale: The weight's standard deviation is `init_scale` times the
                parametrisation's scale, `1 / sqrt(fan_in)` by default (truncated at 3
                standard deviations).
            reparam_cls: The parametrisation class (`LinearStandardParam`, or a muP
                variant such as `HiddenLinearMup`).
            dtype: The parameter dtype (default float32).

        Returns:
            The layer.

        Raises:
            ValueError: If an axis is repeated within `In` or within `Out`.
        """
        ins, outs = sized_axes(In, "Linear.init"), sized_axes(Out, "Linear.init")
        for what, axes in (("In", ins), ("Out", outs)):
            if len({a.name for a in axes}) != len(axes):
                raise ValueError(f"Linear.init: {what} {format_axes(axes)} repeats an axis name.")
        w_in = weight_input_axes(ins, outs)
        axes = outs + w_in if out_first else w_in + outs
        shape = tuple(a.size for a in axes)
        dtype = dtype or jax.numpy.float32
        w = jax.random.truncated_normal(key, -3.0, 3.0, shape, dtype) * (
            init_scale * reparam_cls.init_scale(_as_spec(ins, In), _as_spec(outs, Out))
        )
        bias = (
            _wrap(jax.numpy.zeros(tuple(a.size for a in outs), dtype), outs) if use_bias else None
        )
        return Linear(
            _wrap(w, axes),
            bias,
            _as_spec(ins, In),
            _as_spec(outs, Out),
            dot_general=dot_general,
            _reparam_cls=reparam_cls,
        )

    @staticmethod
    def input_reparam(use_mup: bool = True) -> type[AbstractLinearReparam]:
        """The parametrisation class of an input layer: `InputLinearMup`, or standard."""
        return InputLinearMup if use_mup else LinearStandardParam

    @staticmethod
    def hidden_reparam(use_mup: bool = True) -> type[AbstractLinearReparam]:
        """The parametrisation class of a hidden layer: `HiddenLinearMup`, or standard."""
        return HiddenLinearMup if use_mup else LinearStandardParam

    @staticmethod
    def output_reparam(use_mup: bool = True) -> type[AbstractLinearReparam]:
        """The parametrisation class of an output layer: `OutputLinearMup`, or standard."""
        return OutputLinearMup if use_mup else LinearStandardParam

    def _state_dict_stored(self) -> Linear:
        """This layer as its state dict holds it: the *effective* weight, times the active scale.

        A muP output layer (`OutputLinearMup`) multiplies its weight by `1/fan_in` on every
        call; its checkpoint holds that product, as Haliax's does, so that it loads into
        code that applies the weight as stored. `_state_dict_restored` divides it back out.
        """
        scale = self.reparam.active_scale
        return self if scale == 1 or self.weight is None else self._with_weight(self.weight * scale)

    def _state_dict_restored(self) -> Linear:
        """The inverse of `_state_dict_stored`, for a layer read from a state dict."""
        scale = self.reparam.active_scale
        return self if scale == 1 or self.weight is None else self._with_weight(self.weight / scale)

    def _with_weight(self, weight: Any) -> Linear:
        return dataclasses.replace(self, weight=weight)

    def flatten_for_export(self) -> Linear:
        """This layer in the torch layout: `In` merged into `__IN__`, `Out` into `__OUT__`."""
        ins, outs = sized_axes(self.In, "Linear"), sized_axes(self.Out, "Linear")
        weight, bias, In, Out = flatten_linear(
            self.weight, self.bias, weight_input_axes(ins, outs), outs
        )
        return dataclasses.replace(self, weight=weight, bias=bias, In=In, Out=Out)

    def unflatten_from_export(self, template: Linear) -> Linear:
        """A layer from `flatten_for_export` split back into `template`'s axes and order."""
        ins, outs = sized_axes(template.In, "Linear"), sized_axes(template.Out, "Linear")
        weight, bias = unflatten_linear(
            self.weight,
            self.bias,
            weight_input_axes(ins, outs),
            outs,
            template.weight,
            template.bias,
        )
        return dataclasses.replace(self, weight=weight, bias=bias, In=template.In, Out=template.Out)

    def __call__(self, inputs: NamedArray, *, key: Any = None) -> NamedArray:
        """Applies the layer; `inputs` must have the `In` axes (`key` is ignored)."""
        if not isinstance(inputs, NamedArray):
            raise TypeError(f"Linear: inputs must be a NamedArray, got {describe(inputs)}.")
        ins, outs = sized_axes(self.In, "Linear"), sized_axes(self.Out, "Linear")
        w_in = weight_input_axes(ins, outs)
        _check_inputs(inputs, ins, outs)
        x = inputs if w_in == ins else _rename_inputs(inputs, ins, w_in)
        weight = scaled(self.weight, self.reparam.active_scale)
        if self.dot_general is None:
            out = dot(x, weight, axis=w_in)
        else:
            out = _custom_dot(self.dot_general, x, weight, w_in)
        if self.bias is not None:
            out = out + explicit_sharded(self.bias)
        return auto_sharded(out)  # the output laid out by the axis mapping, if one is set


def _check_inputs(x: NamedArray, ins: tuple[Axis, ...], outs: tuple[Axis, ...]) -> None:
    sizes = dict(zip(x.axis_names, x.shape.values(), strict=True))
    for a in ins:
        if a.name not in sizes:
            raise ValueError(
                f"Linear: the input {format_axes(x.axes)} lacks the input axis {a}: the layer "
                f"maps {format_axes(ins)} to {format_axes(outs)}. Rename that axis of the input."
            )
        if sizes[a.name] != a.size:
            raise ValueError(
                f"Linear: the input's axis {a.name!r} has size {sizes[a.name]}, but the layer "
                f"expects {a} (input {format_axes(x.axes)}; the layer maps {format_axes(ins)} to "
                f"{format_axes(outs)}). Resize the input or build the layer for size "
                f"{sizes[a.name]}."
            )
    in_names = {a.name for a in ins}
    for a in outs:
        if a.name not in in_names and a.name in x.axis_names:
            raise ValueError(
                f"Linear: the input {format_axes(x.axes)} already has the output axis {a.name!r} "
                f"(the layer maps {format_axes(ins)} to {format_axes(outs)}). Rename it first."
            )


def _custom_dot(
    dot_general: Callable[..., Any], x: NamedArray, w: NamedArray, axes: tuple[Axis, ...]
) -> NamedArray:
    """`dot(x, w, axis=axes)` computed by a `jax.lax.dot_general`-like function."""
    names = [a.name for a in axes]
    lhs = tuple(x.axis_names.index(n) for n in names)
    rhs = tuple(w.axis_names.index(n) for n in names)
    out = dot_general(x.array, w.array, ((lhs, rhs), ((), ())))
    kept = [a for a in x.axes if a.name not in names] + [a for a in w.axes if a.name not in names]
    return _wrap(out, tuple(kept))


def _rename_inputs(x: NamedArray, ins: tuple[Axis, ...], w_in: tuple[Axis, ...]) -> NamedArray:
    """`x` with its input axes renamed to the weight's names."""
    renames = {a.name: b for a, b in zip(ins, w_in, strict=True) if a != b}
    names = x.axis_names
    clash = [b.name for b in renames.values() if b.name in names]
    if clash:
        raise ValueError(
            f"Linear: the input {format_axes(x.axes)} already has axis {clash[0]!r}, which the "
            "layer uses internally for its input copy of a same-named output axis. Rename that "
            "axis of the input."
        )
    return _wrap(x.array, tuple(renames.get(a.name, a) for a in x.axes))
