"""Parametrisations of `Linear` and `Embedding`: how the weights are scaled.

A parametrisation (Haliax's `reparam_cls=`) gives three numbers for a layer with input
axes `In` and output axes `Out`: the standard deviation factor of the initial weights
(`init_scale`, a static method, since it is needed before the layer exists), the factor
applied to the weight on every call (`active_scale`), and a learning-rate factor for
optimisers that want one (`lr_scale`). The standard parametrisation is the default;
the muP ("maximal update") variants scale by the width so that hyperparameters transfer
between model sizes.

Examples:
    >>> from namedax.nn import LinearStandardParam, OutputLinearMup
    >>> In, Out = Axis("embed", 16), Axis("vocab", 4)
    >>> LinearStandardParam.init_scale(In, Out)
    0.25
    >>> OutputLinearMup(In, Out).active_scale
    0.0625
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from namedax.core._axes import AxisSpec, sized_axes

__all__ = [
    "AbstractEmbeddingReparam",
    "AbstractLinearReparam",
    "AbstractReparam",
    "EmbeddingMup",
    "EmbeddingStandardParam",
    "HiddenLinearMup",
    "InputLinearMup",
    "LinearStandardParam",
    "OutputLinearMup",
]


def _size(spec: AxisSpec) -> int:
    """The number of elements spanned by `spec` (one sized axis or several)."""
    return math.prod(a.size for a in sized_axes(spec, "reparam"))


class AbstractReparam(ABC):
    """The interface of a parametrisation: `init_scale`, `active_scale`, `lr_scale`."""

    @staticmethod
    @abstractmethod
    def init_scale(In: AxisSpec, Out: AxisSpec) -> float:
        """The factor multiplying the unit-variance initial weights."""

    @property
    @abstractmethod
    def active_scale(self) -> float:
        """The factor applied to the weight on every call."""

    @property
    @abstractmethod
    def lr_scale(self) -> float:
        """The factor an optimiser may apply to this layer's learning rate."""


@dataclass
class AbstractLinearReparam(AbstractReparam):
    """A parametrisation of a `Linear` layer from `In` to `Out`."""

    In: AxisSpec
    Out: AxisSpec


class LinearStandardParam(AbstractLinearReparam):
    """The standard parametrisation: initial weights scaled by `1/sqrt(fan_in)`, nothing else."""

    @staticmethod
    def init_scale(In: AxisSpec, Out: AxisSpec) -> float:
        return 1 / math.sqrt(_size(In))

    @property
    def active_scale(self) -> float:
        return 1

    @property
    def lr_scale(self) -> float:
        return 1


class InputLinearMup(AbstractLinearReparam):
    """muP for an input layer: unit initial scale, no other scaling."""

    @staticmethod
    def init_scale(In: AxisSpec, Out: AxisSpec) -> float:
        return 1

    @property
    def active_scale(self) -> float:
        return 1

    @property
    def lr_scale(self) -> float:
        return 1


class HiddenLinearMup(AbstractLinearReparam):
    """muP for a hidden layer: `1/sqrt(fan_in)` initial scale, learning rate `1/fan_in`."""

    @staticmethod
    def init_scale(In: AxisSpec, Out: AxisSpec) -> float:
        return 1 / math.sqrt(_size(In))

    @property
    def active_scale(self) -> float:
        return 1

    @property
    def lr_scale(self) -> float:
        return 1 / _size(self.In)


class OutputLinearMup(AbstractLinearReparam):
    """muP for an output layer: unit initial scale, outputs scaled by `1/fan_in`."""

    @staticmethod
    def init_scale(In: AxisSpec, Out: AxisSpec) -> float:
        return 1

    @property
    def active_scale(self) -> float:
        return 1 / _size(self.In)

    @property
    def lr_scale(self) -> float:
        return 1


@dataclass
class AbstractEmbeddingReparam(AbstractReparam):
    """A parametrisation of an `Embedding` with axes `Embed` and `Vocab`."""

    Embed: AxisSpec
    Vocab: AxisSpec

    @property
    @abstractmethod
    def unembed_active_scale(self) -> float:
        """The factor applied to the scores of `unembed`."""


class EmbeddingStandardParam(AbstractEmbeddingReparam):
    """The standard embedding: initial entries scaled by `1/(size of Embed)`, as Haliax does."""

    @staticmethod
    def init_scale(In: AxisSpec, Out: AxisSpec) -> float:
        return 1 / _size(Out)

    @property
    def active_scale(self) -> float:
        return 1

    @property
    def lr_scale(self) -> float:
        return 1

    @property
    def unembed_active_scale(self) -> float:
        return 1


class EmbeddingMup(AbstractEmbeddingReparam):
    """muP embedding: unit initial scale; `unembed` scores scaled by `1/(size of Embed)`."""

    @staticmethod
    def init_scale(In: AxisSpec, Out: AxisSpec) -> float:
        return 1

    @property
    def active_scale(self) -> float:
        return 1

    @property
    def lr_scale(self) -> float:
        return 1

    @property
    def unembed_active_scale(self) -> float:
        return 1 / _size(self.Embed)


def scaled(value: Any, scale: float) -> Any:
    """`value * scale`, leaving `value` untouched when the scale is exactly 1."""
    return value if scale == 1 else value * scale
