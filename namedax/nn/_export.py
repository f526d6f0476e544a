"""`ModuleWithStateDictSerialization`: the hooks a layer offers to state-dict export.

A module's state dict is normally the dotted path of each array field (see
`namedax.serialization`). A module can change that in three ways, all optional:

* `_state_dict_key_map()` renames fields in the keys (`{"transformer": "model"}`), or
  drops a field's name from them (`{"stacked": None}`);
* `to_state_dict` / `from_state_dict` replace the walk for this module entirely;
* `flatten_for_export` / `unflatten_from_export` give the torch layout used by
  `namedax.serialization.to_torch_compatible_state_dict`: every multi-axis input or output
  of a layer merged into one axis, as `torch.nn.Linear` stores a 2-d weight.

`Linear`, `LayerNorm` and `RmsNorm` subclass it. The flattening helpers here merge only
the layer's own axes, so they work unchanged on a layer inside a `Stacked` (its weight
carries the `Layers` axis too, which stays where it is).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

import equinox as eqx
import jax.numpy as jnp

from namedax.core._array import NamedArray
from namedax.core._axes import Axis
from namedax.core._state_dict import (
    default_module_from_state_dict,
    default_module_to_state_dict,
    default_state_dict_method,
)
from namedax.ops._rearrange import rearrange
from namedax.ops._shape import flatten_axes, unflatten_axis

__all__ = ["ModuleWithStateDictSerialization"]

M = TypeVar("M", bound=eqx.Module)

OUT_NAME, IN_NAME = "__OUT__", "__IN__"
NORM_NAME = "__OUT"


class ModuleWithStateDictSerialization(eqx.Module):
    """An Equinox module that controls its own state-dict keys and torch export layout.

    Subclass it and override any of the methods; the defaults give the plain layout.

    Examples:
        >>> class Block(nx.serialization.ModuleWithStateDictSerialization):
        ...     proj: nx.nn.Linear
        ...     def _state_dict_key_map(self):
        ...         return {"proj": "dense"}
        >>> block = Block(nx.nn.Linear.init(Axis("a", 2), Axis("b", 3), key=jax.random.key(0)))
        >>> sorted(block.to_state_dict(prefix="h"))
        ['h.dense.bias', 'h.dense.weight']
    """

    @default_state_dict_method
    def to_state_dict(self, prefix: str | None = None) -> dict[str, Any]:
        """This module's state dict, its keys under `prefix` (the default walk)."""
        return default_module_to_state_dict(self, prefix)

    @default_state_dict_method
    def from_state_dict(self: M, state_dict: dict[str, Any], prefix: str | None = None) -> M:
        """This module with its arrays read from `state_dict` under `prefix` (the default walk)."""
        return default_module_from_state_dict(self, state_dict, prefix)

    def _state_dict_key_map(self) -> dict[str, str | None]:
        """`{field: key}` renames for the state dict; a `None` key drops the field's name."""
        return {}

    def flatten_for_export(self: M) -> M:
        """This module in the torch layout (the default: unchanged)."""
        return self

    def unflatten_from_export(self: M, template: M) -> M:
        """This module in `template`'s layout after `flatten_for_export` (default: unchanged)."""
        del template
        return self


def _merged(axes: tuple[Axis, ...], name: str) -> Axis:
    return Axis(name, math.prod(a.size for a in axes))


def flatten_linear(weight: NamedArray | None, bias: NamedArray | None, ins, outs):
    """(weight, bias, In, Out) with `ins` merged into `__IN__` and `outs` into `__OUT__`.

    `ins` are the weight's names for the input axes; the merged axes keep the weight's
    order (`__OUT__` before `__IN__` when the output axes came first).
    """
    In, Out = _merged(ins, IN_NAME), _merged(outs, OUT_NAME)
    if isinstance(weight, NamedArray):
        out_first = weight.axes[-len(ins) :] == ins
        merged = flatten_axes(flatten_axes(weight, outs, OUT_NAME), ins, IN_NAME)
        last = (OUT_NAME, IN_NAME) if out_first else (IN_NAME, OUT_NAME)
        weight = rearrange(merged, (..., *last))
    if isinstance(bias, NamedArray):
        bias = flatten_axes(bias, outs, OUT_NAME)
    return weight, bias, In, Out


def unflatten_linear(weight: Any, bias: Any, ins, outs, template_weight, template_bias):
    """(weight, bias) split back into `ins`/`outs` and ordered as the template's arrays."""
    if isinstance(weight, NamedArray):
        split = unflatten_axis(unflatten_axis(weight, OUT_NAME, outs), IN_NAME, ins)
        weight = rearrange(split, template_weight.axes)
    if isinstance(bias, NamedArray):
        bias = rearrange(unflatten_axis(bias, OUT_NAME, outs), template_bias.axes)
    return weight, bias


def flatten_norm(arrays: tuple[Any, ...], axis: tuple[Axis, ...]):
    """The norm's arrays with `axis` merged into `__OUT`, and the merged axis."""
    merged = tuple(flatten_axes(x, axis, NORM_NAME) if x is not None else None for x in arrays)
    return merged, _merged(axis, NORM_NAME)


def unflatten_norm(arrays: tuple[Any, ...], axis: tuple[Axis, ...], templates: tuple[Any, ...]):
    """The norm's arrays with `__OUT` split back into `axis`, ordered as the templates."""
    return tuple(
        rearrange(unflatten_axis(x, NORM_NAME, axis), t.axes) if x is not None else None
        for x, t in zip(arrays, templates, strict=True)
    )


def _layer_key(key: str, prefix: str | None) -> tuple[int, str] | None:
    """(layer index, rest) of a key `<prefix>.<i>.<rest>`, or None if it is not one."""
    head = f"{prefix}." if prefix is not None else ""
    if not key.startswith(head):
        return None
    index, dot, rest = key[len(head) :].partition(".")
    return (int(index), rest) if dot and index.isdigit() else None


def _stack_state_dict(state_dict: Mapping[str, Any], prefix: str | None = None) -> dict[str, Any]:
    """Keys `<prefix>.<i>.<rest>` (torch `Sequential`) stacked on a new axis 0 as `<prefix>.<rest>`.

    Other keys are kept as they are. (Haliax's private `haliax.nn.scan._stack_state_dict`.)

    Raises:
        ValueError: If a layer is missing for some key (the layers must be `0..n-1`).
    """
    out: dict[str, Any] = {}
    layers: dict[str, dict[int, Any]] = {}
    for key, value in state_dict.items():
        found = _layer_key(key, prefix)
        if found is None:
            out[key] = value
        else:
            layers.setdefault(found[1], {})[found[0]] = value
    for rest, by_index in layers.items():
        if sorted(by_index) != list(range(len(by_index))):
            raise ValueError(
                f"_stack_state_dict: the layers of {rest!r} under {prefix!r} are "
                f"{sorted(by_index)}, not 0..{len(by_index) - 1}."
            )
        joined = f"{prefix}.{rest}" if prefix is not None else rest
        out[joined] = jnp.stack([by_index[i] for i in range(len(by_index))], axis=0)
    return out


def _unstack_state_dict(state_dict: Mapping[str, Any], prefix: str | None = None) -> dict[str, Any]:
    """The inverse of `_stack_state_dict`: each `<prefix>.<rest>` split along its first axis."""
    head = f"{prefix}." if prefix is not None else ""
    out: dict[str, Any] = {}
    for key, value in state_dict.items():
        if key.startswith(head) and getattr(value, "ndim", 0) > 0:
            rest = key[len(head) :]
            for i in range(value.shape[0]):
                out[f"{head}{i}.{rest}"] = value[i]
        else:
            out[key] = value
    return out
