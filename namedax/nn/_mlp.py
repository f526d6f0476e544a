"""`MLP`: a stack of `Linear` layers with an activation between them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

from namedax.core._array import NamedArray
from namedax.core._axes import Axis, AxisSpec

from ._activations import relu
from ._linear import Linear

__all__ = ["MLP"]


class MLP(eqx.Module):
    """A multi-layer perceptron: `depth` hidden layers of axis `width`, then the output layer.

    Build it with `MLP.init`. Hidden layers map the width axis to itself (a square
    `Linear`), so the hidden axis keeps one name throughout.

    Attributes:
        layers: The `depth + 1` Linear layers.
        activation: Applied after every layer but the last.

    Examples:
        >>> In, Out = Axis("features", 3), Axis("targets", 2)
        >>> mlp = nx.nn.MLP.init(In, Out, width=8, depth=2, key=jax.random.key(0))
        >>> [layer.weight.axes for layer in mlp.layers][1]
        (Axis(name='mlp', size=8), Axis(name='mlp_in', size=8))
        >>> mlp(nx.ones((Axis("batch", 5), In))).shape
        {'batch': 5, 'targets': 2}
    """

    layers: tuple[Linear, ...]
    activation: Callable[[NamedArray], NamedArray] = eqx.field(static=True)

    @staticmethod
    def init(
        Input: AxisSpec,
        Output: AxisSpec,
        width: int | Axis,
        depth: int,
        activation: Callable[[NamedArray], NamedArray] = relu,
        *,
        key: Any,
        use_bias: bool = True,
        use_final_bias: bool = True,
        out_first: bool = True,
        init_scale: float = 1.0,
    ) -> MLP:
        """Builds an MLP.

        Args:
            Input: The input axis or axes.
            Output: The output axis or axes.
            width: The hidden axis, or its size (the axis is then called `mlp`).
            depth: The number of hidden layers (0 gives a single Linear layer).
            activation: The activation between layers.
            key: The PRNG key (split over the layers).
            use_bias: Whether hidden layers have a bias.
            use_final_bias: Whether the output layer has a bias.
            out_first: The weight layout, as in `Linear.init`.
            init_scale: As in `Linear.init`.

        Returns:
            The module.

        Raises:
            ValueError: If `depth` is negative.
        """
        if not isinstance(depth, int) or depth < 0:
            raise ValueError(f"MLP.init: depth must be an int >= 0, got {depth!r}.")
        Width = width if isinstance(width, Axis) else Axis("mlp", width)
        ins = [Input] + [Width] * depth
        outs = [Width] * depth + [Output]
        keys = jax.random.split(key, depth + 1)
        layers = tuple(
            Linear.init(
                i,
                o,
                key=k,
                use_bias=use_bias if n < depth else use_final_bias,
                out_first=out_first,
                init_scale=init_scale,
            )
            for n, (i, o, k) in enumerate(zip(ins, outs, keys, strict=True))
        )
        return MLP(layers, activation)

    def __call__(self, x: NamedArray, *, key: Any = None) -> NamedArray:
        """Applies the layers (`key` is accepted and ignored)."""
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)
