"""`haliax.nn.mup`: the parametrisations `Linear` and `Embedding` take as `reparam_cls=`.

Examples:
    >>> from namedax.compat.haliax.nn.mup import HiddenLinearMup
    >>> HiddenLinearMup(Axis("embed", 8), Axis("mlp", 4)).lr_scale
    0.125
"""

from __future__ import annotations

from abc import ABC

import equinox as eqx

from namedax.nn._reparam import (
    AbstractEmbeddingReparam as AbstractEmbeddingReparam,
    AbstractLinearReparam as AbstractLinearReparam,
    AbstractReparam as AbstractReparam,
    EmbeddingMup as EmbeddingMup,
    EmbeddingStandardParam as EmbeddingStandardParam,
    HiddenLinearMup as HiddenLinearMup,
    InputLinearMup as InputLinearMup,
    LinearStandardParam as LinearStandardParam,
    OutputLinearMup as OutputLinearMup,
)


class ReparamEnabled(ABC):
    """Haliax's marker for modules that hold a parametrisation in the field `reparam`."""

    reparam: eqx.AbstractVar[AbstractReparam]
