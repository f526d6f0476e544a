"""`MLP`: a stack of `Linear` layers with an activation between them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

from namedax.core._array import NamedArray
from namedax.core._axes import Axis, AxisSpec

from ._activations import relu
from ._init_hint import builds_with_init
from ._linear import Linear

__all__ = ["DEFAULT_WIDTH_NAME", "MLP"]

DEFAULT_WIDTH_NAME = "mlp"
"""The hidden axis's name when `MLP.init` gets its width as an int."""


@builds_with_init
class MLP(eqx.Module):
    """A multi-layer perceptron: `depth` hidden layers of axis `width`, then the output layer.

    Build it with `MLP.init`. The hidden layers alternate between the width axis `W`
    and its alias `W2` (named `W.name + "2"`): the first layer maps the input to `W`,
    the next `W` to `W2`, the next `W2` to `W`, and so on, and the last layer maps
    whichever is current to the output. Each hidden weight thus holds two distinct
    names, which a sharding can map to different mesh axes.

    Attributes:
        layers: The `depth + 1` Linear layers.
        activation: Applied after every layer but the last.

    Examples:
        >>> In, Out = Axis("features", 3), Axis("targets", 2)
        >>> mlp = nx.nn.MLP.init(In, Out, width=8, depth=2, key=jax.random.key(0))
        >>> [(layer.In, layer.Out) for layer in mlp.layers][1]
        (Axis(name='mlp', size=8), Axis(name='mlp2', size=8))
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
        dot_general: Callable[..., Any] | None = None,
        init_scale: float = 1.0,
    ) -> MLP:
        """Builds an MLP.

        Args:
            Input: The input axis or axes.
            Output: The output axis or axes.
            width: The hidden axis, or its size (the axis is then called
                `DEFAULT_WIDTH_NAME`, "mlp"); its alias with "2" appended alternates
                with it.
            depth: The number of hidden layers (0 gives a single Linear layer).
            activation: The activation between layers.
            key: The PRNG key (split over the layers).
            use_bias: Whether hidden layers have a bias.
            use_final_bias: Whether the output layer has a bias.
            out_first: The weight layout, as in `Linear.init`.
            dot_general: A `jax.lax.dot_general`-like function for every layer's
                contraction, as in `Linear.init`, or None.
            init_scale: As in `Linear.init`.

        Returns:
            The module.

        Raises:
            ValueError: If `depth` is negative.
            TypeError: If `width` is neither an int nor an Axis.
        """
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
            raise ValueError(f"MLP.init: depth must be an int >= 0, got {depth!r}.")
        if isinstance(width, Axis):
            Width = width
        elif isinstance(width, int) and not isinstance(width, bool):
            Width = Axis(DEFAULT_WIDTH_NAME, width)
        else:
            raise TypeError(f"MLP.init: width must be an int or an Axis, got {width!r}.")
        hidden = [Width if n % 2 == 0 else Width.alias(Width.name + "2") for n in range(depth)]
        ins = [Input, *hidden]
        outs = [*hidden, Output]
        keys = jax.random.split(key, depth + 1)
        layers = tuple(
            Linear.init(
                i,
                o,
                key=k,
                use_bias=use_bias if n < depth else use_final_bias,
                out_first=out_first,
                dot_general=dot_general,
                init_scale=init_scale,
            )
            for n, (i, o, k) in enumerate(zip(ins, outs, keys, strict=True))
        )
        return MLP(layers, activation)

    @property
    def In(self) -> AxisSpec:
        """The input axis or axes (the first layer's)."""
        return self.layers[0].In

    @property
    def Out(self) -> AxisSpec:
        """The output axis or axes (the last layer's)."""
        return self.layers[-1].Out

    def __call__(self, x: NamedArray, *, key: Any = None) -> NamedArray:
        """Applies the layers (`key` is accepted and ignored)."""
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)
