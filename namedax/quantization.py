"""The `dot_general=` interface of `nn.Linear` (`haliax.quantization` under `install_as_haliax()`).

`nn.Linear.init(..., dot_general=op)` computes the layer's product with `op` instead of
`jax.lax.dot_general`; `op` takes `jax.lax.dot_general`'s parameters. This is the hook
quantised matmuls plug into. namedax provides the interface and the default; it does not
provide Haliax's fp8/int8 quantisation (`QuantizationConfig`, `quantize_linear_layers`,
`Fp8DotGeneralOp`, ...), so importing those is an `ImportError`.

Examples:
    >>> from namedax.quantization import DotGeneralOp
    >>> In, Out = Axis("in", 3), Axis("out", 2)
    >>> key = jax.random.key(0)
    >>> layer = nx.nn.Linear.init(In, Out, key=key, dot_general=DotGeneralOp.default())
    >>> x = nx.ones(In)
    >>> bool(nx.allclose(layer(x), nx.nn.Linear.init(In, Out, key=key)(x)))
    True
"""

from __future__ import annotations

from typing import Any, Protocol

import equinox as eqx
import jax
from jax.typing import DTypeLike

from namedax.types import PrecisionLike

__all__ = ["DefaultDotGeneralOp", "DotGeneralOp"]


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

    def __call__(
        self,
        lhs: Any,
        rhs: Any,
        dimension_numbers: Any,
        precision: PrecisionLike = None,
        preferred_element_type: DTypeLike | None = None,
    ) -> jax.Array:
        return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision, preferred_element_type)

    @staticmethod
    def init() -> DefaultDotGeneralOp:
        """The shared instance."""
        return _DEFAULT


_DEFAULT = DefaultDotGeneralOp()
