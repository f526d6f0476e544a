"""Quantised linear layers: the `dot_general=` hook of `Linear` and `quantize_linear_layers`.

`Linear.init(..., dot_general=op)` computes the layer's product with `op` instead of
`jax.lax.dot_general`; `op` takes `jax.lax.dot_general`'s parameters
(`DotGeneralOp`). `Fp8DotGeneralOp` and `Int8DotGeneralOp` are such ops, and
`quantize_linear_layers(model, QuantizationConfig(fp8=True))` installs one in every
(selected) `Linear` of a model, including the layers inside `Stacked` stacks, where
the op's state gets one copy per layer.

Examples:
    >>> In, Hidden = Axis("in", 4), Axis("hidden", 8)
    >>> mlp = nx.nn.MLP.init(In, In, width=Hidden, depth=2, key=jax.random.key(0))
    >>> q = quantize_linear_layers(mlp, QuantizationConfig(int8=True))
    >>> [type(layer.dot_general).__name__ for layer in q.layers]
    ['Int8DotGeneralOp', 'Int8DotGeneralOp', 'Int8DotGeneralOp']
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.tree_util import DictKey, FlattenedIndexKey, GetAttrKey, SequenceKey
from jax.typing import DTypeLike

from namedax.core._array import is_named_array

from ._fp8 import Fp8DotGeneralOp
from ._int8 import Int8DotGeneralOp
from ._linear import Linear
from ._stacked import Stacked

__all__ = [
    "DefaultDotGeneralOp",
    "DotGeneralOp",
    "QuantizationConfig",
    "quantize_linear_layers",
]

T = TypeVar("T")


class DotGeneralOp(Protocol):
    """A function with the parameters of `jax.lax.dot_general`, for `Linear(dot_general=...)`."""

    def __call__(
        self,
        lhs: Any,
        rhs: Any,
        dimension_numbers: Any,
        precision: Any = None,
        preferred_element_type: DTypeLike | None = None,
    ) -> jax.Array: ...

    @staticmethod
    def default() -> DefaultDotGeneralOp:
        """The plain `jax.lax.dot_general`, as a `DefaultDotGeneralOp`."""
        return DefaultDotGeneralOp.init()


class DefaultDotGeneralOp(eqx.Module):
    """`jax.lax.dot_general` as a (field-less) module, so a model tree holds no bare function.

    Examples:
        >>> op = DefaultDotGeneralOp.init()
        >>> op(jnp.ones((2, 3)), jnp.ones((3, 4)), (((1,), (0,)), ((), ()))).shape
        (2, 4)
        >>> op is DefaultDotGeneralOp.init()
        True
    """

    __call__ = staticmethod(jax.lax.dot_general)  # the very function, same parameters

    @staticmethod
    def init() -> DefaultDotGeneralOp:
        """The shared instance."""
        return _DEFAULT


_DEFAULT = DefaultDotGeneralOp()


@dataclasses.dataclass(frozen=True)
class QuantizationConfig:
    """Which linear layers to quantise, and how.

    Attributes:
        targets: Layer names to quantise: a list of the last path component, or a
            regular expression matched (from the start) against the whole dotted path,
            such as `"layers.0"` or `".*up_proj"`; `None` for all.
        amax_history_length: The fp8 scale history length.
        compute_dtype: The dtype of the quantised product's arithmetic; None for each
            layer's weight dtype.
        fp8: Quantise to fp8 (`Fp8DotGeneralOp`).
        int8: Quantise to int8 (`Int8DotGeneralOp`).
    """

    targets: list[str] | str | None = None
    amax_history_length: int = 1024
    compute_dtype: DTypeLike | None = None
    fp8: bool = False
    int8: bool = False

    def __post_init__(self) -> None:
        if self.fp8 and self.int8:
            raise ValueError(
                "QuantizationConfig: fp8=True and int8=True together; choose one of them."
            )


def quantize_linear_layers(tree: T, config: QuantizationConfig) -> T:
    """`tree` with an fp8 or int8 `dot_general` in each `Linear` that `config.targets` selects.

    A `Linear` inside a `Stacked` gets an op whose arrays have one row per layer (a
    leading dimension per enclosing stack), recorded as per-layer arrays of the stack.
    With neither `fp8` nor `int8` set, `tree` is returned as it is, with a warning.

    Args:
        tree: A model (any pytree of modules).
        config: What to quantise.

    Returns:
        The model with quantised layers.

    Examples:
        >>> In, Hidden = Axis("in", 4), Axis("hidden", 8)
        >>> mlp = nx.nn.MLP.init(In, In, width=Hidden, depth=2, key=jax.random.key(0))
        >>> q = quantize_linear_layers(mlp, QuantizationConfig(targets=["0"], fp8=True))
        >>> [type(layer.dot_general).__name__ for layer in q.layers]
        ['Fp8DotGeneralOp', 'NoneType', 'NoneType']
    """
    if config.fp8:

        def make() -> Any:
            return Fp8DotGeneralOp.init(config.amax_history_length, config.compute_dtype)
    elif config.int8:

        def make() -> Any:
            return Int8DotGeneralOp.init(config.compute_dtype)
    else:
        warnings.warn(
            "quantize_linear_layers: neither fp8 nor int8 is set, so nothing is quantised.",
            stacklevel=2,
        )
        return tree
    return _quantize(tree, config, make, (), ())


def _is_layer_or_stack(x: Any) -> bool:
    return isinstance(x, (Linear, Stacked))


def _quantize(
    tree: Any, config: QuantizationConfig, make: Any, prefix: tuple, per_layer: tuple[int, ...]
) -> Any:
    def visit(path: tuple, node: Any) -> Any:
        full = prefix + tuple(path)
        if isinstance(node, Stacked):
            return _quantize_stack(node, config, make, full, per_layer)
        if isinstance(node, Linear) and _selected(full, config.targets):
            op = make()
            if per_layer:  # one copy of the op's state per layer of each enclosing stack
                op = jax.tree.map(lambda a: jnp.broadcast_to(a, per_layer + a.shape), op)
            return dataclasses.replace(node, dot_general=op)
        return node

    return jax.tree_util.tree_map_with_path(visit, tree, is_leaf=_is_layer_or_stack)


def _quantize_stack(
    stack: Stacked, config: QuantizationConfig, make: Any, path: tuple, per_layer: tuple[int, ...]
) -> Stacked:
    steps = stack._Steps.size
    inner = _quantize(
        stack.stacked, config, make, (*path, GetAttrKey("stacked")), (*per_layer, steps)
    )
    added = _plain_array_paths(inner) - _plain_array_paths(stack.stacked)
    return dataclasses.replace(
        stack, stacked=inner, per_layer_arrays=stack.per_layer_arrays | added
    )


def _plain_array_paths(tree: Any) -> frozenset[str]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_named_array)
    return frozenset(
        jax.tree_util.keystr(path) for path, leaf in flat if isinstance(leaf, jax.Array)
    )


def _selected(path: Sequence[Any], targets: list[str] | str | None) -> bool:
    """Whether the layer at `path` is a target: by last name (a list) or whole path (a regex)."""
    if targets is None:
        return True
    names = [_key_name(k) for k in path]
    if isinstance(targets, str):
        return re.match(targets, ".".join(names)) is not None
    if not isinstance(targets, (list, tuple)):
        raise TypeError(
            f"QuantizationConfig.targets: expected a list of layer names, a regular "
            f"expression or None, got {type(targets).__name__}."
        )
    return bool(names) and names[-1] in targets


def _key_name(key: Any) -> str:
    if isinstance(key, GetAttrKey):
        return key.name
    if isinstance(key, DictKey):
        return str(key.key)
    if isinstance(key, SequenceKey):
        return str(key.idx)
    if isinstance(key, FlattenedIndexKey):
        return str(key.key)
    return str(key)
