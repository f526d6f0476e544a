"""`haliax.types`: type aliases for annotating code that uses named arrays.

Examples:
    >>> from namedax.compat.haliax.types import Scalar, PrecisionLike
    >>> def scale(x: NamedArray, by: Scalar, precision: PrecisionLike = None) -> NamedArray:
    ...     return x * by
    >>> scale(nx.ones(Axis("embed", 2)), 3.0).array.tolist()
    [3.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeAlias

import jax.numpy as jnp
import numpy as np
from jax.lax import Precision
from jax.typing import DTypeLike as DTypeLike
from jaxtyping import PyTree as PyTree

from namedax.core._array import NamedArray
from namedax.core._axes import AxisSelection, AxisSelector

DType: TypeAlias = np.dtype
"""A NumPy dtype object."""

Scalar: TypeAlias = float | int | jnp.ndarray
"""A Python number or a 0-d array (arrays are accepted because `jnp.array(1)` is a scalar)."""

IntScalar: TypeAlias = int | jnp.ndarray
"""A Python int or a 0-d integer array."""

NamedOrNumeric: TypeAlias = Scalar | NamedArray
"""An operand of an elementwise op: a NamedArray or a scalar."""

PrecisionLike: TypeAlias = str | Precision | tuple[str, str] | tuple[Precision, Precision] | None
"""What `jax.lax.dot_general`'s `precision=` accepts."""

GatherScatterModeStr: TypeAlias = Literal["promise_in_bounds", "clip", "drop", "fill"]
"""The `mode=` strings of JAX's gathers and scatters."""

FilterSpec: TypeAlias = bool | Callable[[Any], bool]
"""Keep a pytree leaf (`True`), drop it (`False`), or decide per leaf with a predicate."""

FilterTree: TypeAlias = FilterSpec | PyTree[FilterSpec]
"""A `FilterSpec`, or a pytree prefix of them."""


class ReductionFunction(Protocol):
    """A reduction over named axes that takes a `where=` mask (`namedax.sum`, `namedax.mean`...)."""

    def __call__(
        self,
        array: NamedArray,
        axis: AxisSelection | None = None,
        where: NamedArray | None = None,
        **kwargs: Any,
    ) -> NamedArray: ...


class SimpleReductionFunction(Protocol):
    """A reduction along at most one named axis, without `where=` (`namedax.argmax`...)."""

    def __call__(
        self, array: NamedArray, axis: AxisSelector | None = None, **kwargs: Any
    ) -> NamedArray: ...
