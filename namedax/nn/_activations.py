"""Activation functions: the named versions of `jax.nn`'s elementwise activations.

Every activation keeps the axes of its input. They are made by one factory and
recorded in `ACTIVATIONS` with the `jax.nn` function each wraps, so the tests
check every entry against `jax.nn`. Keyword parameters (`approximate` for `gelu`,
`alpha` for `elu`, `negative_slope` for `leaky_relu`, ...) are passed through.

`glu` is the one activation that is not elementwise: it splits an axis in two
halves, so it takes that axis by name.

Examples:
    >>> x = named(jnp.array([-1.0, 0.0, 2.0]), "embed")
    >>> nx.nn.relu(x).array
    Array([0., 0., 2.], dtype=float32)
    >>> nx.nn.gelu(x, approximate=False).axes
    (Axis(name='embed', size=3),)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import AxisSelector, replace_axis, resolve_axis
from namedax.core._errors import describe, format_axes
from namedax.core._signatures import Elementwise
from namedax.ops._elementwise import elementwise

__all__: list[str] = []  # re-exported by namedax/nn/__init__.py

ACTIVATIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {}
"""Maps each activation's name to `(named function, jax.nn reference)`."""


P = ParamSpec("P")


def _activation(name: str, fn: Callable[Concatenate[Any, P], jax.Array]) -> Elementwise[P]:
    activation = elementwise(name, fn, f"jax.nn.{fn.__name__}")
    ACTIVATIONS[name] = (activation, fn)
    return activation


def _quick_gelu(x: ArrayLike) -> jax.Array:
    return jnp.multiply(x, jax.nn.sigmoid(jnp.multiply(1.702, x)))


_quick_gelu.__name__ = "quick_gelu"


def _relu_squared(x: ArrayLike) -> jax.Array:
    return jnp.square(jax.nn.relu(x))


_relu_squared.__name__ = "relu_squared"

celu = _activation("celu", jax.nn.celu)
elu = _activation("elu", jax.nn.elu)
gelu = _activation("gelu", jax.nn.gelu)
hard_sigmoid = _activation("hard_sigmoid", jax.nn.hard_sigmoid)
hard_silu = _activation("hard_silu", jax.nn.hard_silu)
hard_swish = _activation("hard_swish", jax.nn.hard_swish)
hard_tanh = _activation("hard_tanh", jax.nn.hard_tanh)
identity = _activation("identity", jax.nn.identity)
leaky_relu = _activation("leaky_relu", jax.nn.leaky_relu)
log_sigmoid = _activation("log_sigmoid", jax.nn.log_sigmoid)
mish = _activation("mish", jax.nn.mish)
quick_gelu = _activation("quick_gelu", _quick_gelu)
relu = _activation("relu", jax.nn.relu)
relu6 = _activation("relu6", jax.nn.relu6)
relu_squared = _activation("relu_squared", _relu_squared)
selu = _activation("selu", jax.nn.selu)
sigmoid = _activation("sigmoid", jax.nn.sigmoid)
silu = _activation("silu", jax.nn.silu)
soft_sign = _activation("soft_sign", jax.nn.soft_sign)
softplus = _activation("softplus", jax.nn.softplus)
sparse_plus = _activation("sparse_plus", jax.nn.sparse_plus)
squareplus = _activation("squareplus", jax.nn.squareplus)
swish = _activation("swish", jax.nn.swish)
tanh = _activation("tanh", jax.nn.tanh)


def glu(x: NamedArray, axis: AxisSelector) -> NamedArray:
    """Gated linear unit: splits `axis` into halves `a, b` and returns `a * sigmoid(b)`.

    Args:
        x: The input; `axis` must have an even size.
        axis: The axis to split. The result has it at half its size, same name.

    Returns:
        A NamedArray with the axes of `x`, `axis` halved.

    Raises:
        ValueError: If `x` lacks `axis` or its size is odd.
        TypeError: If `x` is not a NamedArray.

    Examples:
        >>> x = named(jnp.array([1.0, 2.0, 0.0, 0.0]), "embed")
        >>> nx.nn.glu(x, "embed").array
        Array([0.5, 1. ], dtype=float32)
    """
    if not isinstance(x, NamedArray):
        raise TypeError(f"glu: x must be a NamedArray, got {describe(x)}.")
    ax = resolve_axis(x.axes, axis, "glu")
    if ax.size % 2:
        raise ValueError(
            f"glu: axis {ax.name!r} of {format_axes(x.axes)} has odd size {ax.size}; it is "
            "split into two equal halves, so its size must be even."
        )
    out = jax.nn.glu(x.array, axis=x.axes.index(ax))
    return _wrap(out, replace_axis(x.axes, ax, ax.resize(ax.size // 2)))
