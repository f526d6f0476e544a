"""The `dot_general=` interface of `nn.Linear` (`haliax.quantization`).

`nn.Linear.init(..., dot_general=op)` computes the layer's product with `op` instead of
`jax.lax.dot_general`; `op` takes `jax.lax.dot_general`'s parameters. This is the hook
quantised matmuls plug into.

The training-step side of that hook is here too, as Haliax-based trainers call it on
every step: state that the backward pass computes (an fp8 op's scales, say) lives in
`OverwriteWithGradient` modules, `partition_for_grad_overwrite` splits such leaves off the
gradients, and `apply_updates` writes them in place of an optimizer update.

namedax does not provide fp8/int8 matmuls themselves (Haliax's `Fp8DotGeneralOp` and
`Int8DotGeneralOp`): `quantize_linear_layers` with `fp8=True` or `int8=True` raises
`NotImplementedError`, and importing those op classes is an `ImportError`.

Examples:
    >>> from namedax.compat.haliax.quantization import DotGeneralOp
    >>> In, Out = Axis("in", 3), Axis("out", 2)
    >>> key = jax.random.key(0)
    >>> layer = nx.nn.Linear.init(In, Out, key=key, dot_general=DotGeneralOp.default())
    >>> x = nx.ones(In)
    >>> bool(nx.allclose(layer(x), nx.nn.Linear.init(In, Out, key=key)(x)))
    True
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Protocol, TypeVar

import equinox as eqx
import jax
from jax.typing import DTypeLike

from namedax.compat.haliax.types import PrecisionLike

__all__ = [
    "DefaultDotGeneralOp",
    "DotGeneralOp",
    "OverwriteWithGradient",
    "QuantizationConfig",
    "apply_updates",
    "partition_for_grad_overwrite",
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
        precision: PrecisionLike = None,
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


class OverwriteWithGradient(eqx.Module):
    """Marks a module whose gradient is its next value, not an update to add.

    Subclass it for state that the backward pass computes; `apply_updates` then
    replaces such a module with its "gradient" instead of adding the optimizer's update.
    """


def _is_overwrite(x: Any) -> bool:
    return isinstance(x, OverwriteWithGradient)


def partition_for_grad_overwrite(grads: T) -> tuple[T, T]:
    """Splits gradients into `(overwrites, updates)`: `OverwriteWithGradient` parts and the rest.

    Both trees have the structure of `grads`, with `None` where the other one holds a leaf
    (`equinox.partition`). Feed `updates` to the optimizer and both to `apply_updates`.

    Examples:
        >>> class Scale(OverwriteWithGradient):
        ...     value: jax.Array
        >>> grads = {"w": jnp.ones(2), "scale": Scale(jnp.array(4.0))}
        >>> overwrites, updates = partition_for_grad_overwrite(grads)
        >>> overwrites["w"] is None, updates["scale"] is None
        (True, True)
    """
    overwrites, updates = eqx.partition(grads, _is_overwrite, is_leaf=_is_overwrite)
    return overwrites, updates


def apply_updates(model: T, updates: Any, overwrites: Any) -> T:
    """`equinox.apply_updates(model, updates)`, except where `overwrites` holds a value.

    Args:
        model: The parameters.
        updates: The optimizer's updates (a prefix tree of `model`; `None` keeps a leaf).
        overwrites: The first tree of `partition_for_grad_overwrite`: its modules replace
            the model's.

    Examples:
        >>> class Scale(OverwriteWithGradient):
        ...     value: jax.Array
        >>> model = {"w": jnp.zeros(2), "scale": Scale(jnp.array(1.0))}
        >>> grads = {"w": jnp.ones(2), "scale": Scale(jnp.array(4.0))}
        >>> overwrites, updates = partition_for_grad_overwrite(grads)
        >>> new = apply_updates(model, updates, overwrites)
        >>> new["w"].tolist(), float(new["scale"].value)
        ([1.0, 1.0], 4.0)
    """

    def apply(leaf: Any, update: Any, overwrite: Any) -> Any:
        if overwrite is not None:
            return overwrite
        return eqx.apply_updates(leaf, update)

    def is_leaf(x: Any) -> bool:
        return x is None or _is_overwrite(x)

    return jax.tree_util.tree_map(apply, model, updates, overwrites, is_leaf=is_leaf)


@dataclasses.dataclass(frozen=True)
class QuantizationConfig:
    """Which linear layers to quantise, and how (Haliax's trainer configuration field).

    Attributes:
        targets: Layer names to quantise: a list of the last path component, or a
            regular expression matched against the whole path; `None` for all.
        amax_history_length: The fp8 scale history length.
        compute_dtype: The dtype of the quantised product.
        fp8: Quantise to fp8.
        int8: Quantise to int8.
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
    """Haliax's entry point for fp8/int8 linear layers; without either, returns `tree` as it is.

    Raises:
        NotImplementedError: If `config` asks for fp8 or int8, which namedax does not
            implement.

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     quantize_linear_layers({"w": 1}, QuantizationConfig())
        {'w': 1}
    """
    if config.fp8 or config.int8:
        kind = "fp8" if config.fp8 else "int8"
        raise NotImplementedError(
            f"quantize_linear_layers: namedax does not implement {kind} matmuls (Haliax's "
            f"{'Fp8' if config.fp8 else 'Int8'}DotGeneralOp). Train unquantised (fp8=False, "
            "int8=False), or pass your own op with nn.Linear.init(..., dot_general=op)."
        )
    warnings.warn(
        "quantize_linear_layers: neither fp8 nor int8 is set, so nothing is quantised.",
        stacklevel=2,
    )
    return tree
