"""`Embedding`: a lookup table from token ids to vectors, and its transpose (`unembed`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSpec, sized_axes
from namedax.core._errors import describe, format_axes
from namedax.core._tree_util import resize_axis
from namedax.ops._dot import dot
from namedax.ops._indexing import take
from namedax.ops._out_sharding import out_sharding, sharding_errors
from namedax.parallel._sharding import auto_sharded

from ._init_hint import builds_with_init
from ._reparam import AbstractEmbeddingReparam, EmbeddingStandardParam, scaled

__all__ = ["Embedding"]


@builds_with_init
class Embedding(eqx.Module):
    """A table of one vector (axes `Embed`) per entry of `Vocab`.

    Build it with `Embedding.init`. `embed(ids)` looks up ids (an integer NamedArray
    of any axes) and returns their vectors; `unembed(x)` scores vectors against
    every entry (a dot product over `Embed`), as tied output layers do.

    Attributes:
        weight: The table, with axes `(Vocab, *Embed)`.
        Vocab: The vocabulary axis.
        Embed: The embedding axis or axes.
        reparam: The parametrisation (`EmbeddingStandardParam` by default), built from
            the class given as `reparam_cls` to `init`.

    Examples:
        >>> Vocab, Embed = Axis("vocab", 10), Axis("embed", 4)
        >>> table = nx.nn.Embedding.init(Vocab, Embed, key=jax.random.key(0))
        >>> ids = named(jnp.array([[1, 2, 3], [4, 5, 6]]), ("batch", "position"))
        >>> table.embed(ids).shape
        {'batch': 2, 'position': 3, 'embed': 4}
        >>> table.unembed(table.embed(ids)).shape
        {'batch': 2, 'position': 3, 'vocab': 10}
    """

    weight: NamedArray
    Vocab: Axis = eqx.field(static=True)
    Embed: AxisSpec = eqx.field(static=True)
    _reparam_cls: type[AbstractEmbeddingReparam] = eqx.field(
        static=True, default=EmbeddingStandardParam
    )

    @property
    def reparam(self) -> AbstractEmbeddingReparam:
        """The table's parametrisation, for its `Embed` and `Vocab`."""
        return self._reparam_cls(self.Embed, self.Vocab)

    @staticmethod
    def init(
        Vocab: Axis,
        Embed: AxisSpec,
        *,
        init_scale: float = 1,
        key: Any,
        initializer_range: float | None = None,
        reparam_cls: type[AbstractEmbeddingReparam] = EmbeddingStandardParam,
        dtype: Any = None,
    ) -> Embedding:
        """Builds a table of truncated-normal entries (cut at 3 standard deviations).

        The standard deviation is `init_scale` times the parametrisation's scale, which
        for the default `EmbeddingStandardParam` is `1 / (size of Embed)`, as in Haliax.

        Args:
            Vocab: The vocabulary axis (sized).
            Embed: The embedding axis or axes (sized).
            init_scale: Multiplies the standard deviation.
            key: The PRNG key.
            initializer_range: Haliax's older name for `init_scale`; when given, it
                replaces `init_scale` (so the standard deviation is still divided by the
                size of Embed under the default parametrisation).
            reparam_cls: The parametrisation class (`EmbeddingStandardParam` or
                `EmbeddingMup`).
            dtype: The parameter dtype (default float32).

        Returns:
            The module.

        Raises:
            ValueError: If `Vocab` is also an embedding axis.
        """
        (vocab,) = sized_axes(Vocab, "Embedding.init")
        embed = sized_axes(Embed, "Embedding.init")
        if vocab.name in {a.name for a in embed}:
            raise ValueError(
                f"Embedding.init: Vocab {vocab} is also among the Embed axes {format_axes(embed)}."
            )
        if initializer_range is not None:
            init_scale = initializer_range
        axes = (vocab, *embed)
        shape = tuple(a.size for a in axes)
        weight = jax.random.truncated_normal(key, -3.0, 3.0, shape, dtype or jnp.float32)
        weight = weight * (init_scale * reparam_cls.init_scale(vocab, Embed))
        return Embedding(_wrap(weight, axes), vocab, Embed, _reparam_cls=reparam_cls)

    def embed(self, input_ids: NamedArray) -> NamedArray:
        """The vectors of `input_ids` (integers in `[0, Vocab.size)`): its axes, then `Embed`.

        `input_ids` may carry the table's own `Vocab` axis: a position embedding looks
        up `embed(nx.arange(Pos))` and gets `{position, embed}` (any length up to the
        table's).

        Raises:
            TypeError: If `input_ids` is not an integer NamedArray.
            ValueError: If `input_ids` has an `Embed` axis.

        Examples:
            >>> Pos, Embed = Axis("position", 8), Axis("embed", 2)
            >>> table = nx.nn.Embedding.init(Pos, Embed, key=jax.random.key(0))
            >>> table.embed(nx.arange(Pos.resize(5))).shape
            {'position': 5, 'embed': 2}
        """
        if not isinstance(input_ids, NamedArray) or not jnp.issubdtype(
            input_ids.dtype, jnp.integer
        ):
            raise TypeError(
                f"Embedding.embed: input_ids must be a NamedArray of integer ids, got "
                f"{describe(input_ids)}"
                + (f" of dtype {input_ids.dtype}." if isinstance(input_ids, NamedArray) else ".")
            )
        taken = {a.name for a in self.weight.axes} - {self.Vocab.name}
        clash = [a for a in input_ids.axes if a.name in taken]
        if clash:
            raise ValueError(
                f"Embedding.embed: input_ids {format_axes(input_ids.axes)} has axis "
                f"{clash[0].name!r}, which the table {format_axes(self.weight.axes)} also has. "
                "Rename it."
            )
        return auto_sharded(scaled(self._lookup(input_ids), self.reparam.active_scale))

    def _lookup(self, input_ids: NamedArray) -> NamedArray:
        """`take(weight, Vocab, input_ids)`; on an explicit mesh with the gather's out_sharding."""
        p = self.weight.axis_names.index(self.Vocab.name)
        axes = self.weight.axes[:p] + input_ids.axes + self.weight.axes[p + 1 :]
        spec = out_sharding(axes, "Embedding.embed")
        if spec is None:
            return take(self.weight, self.Vocab, input_ids)
        with sharding_errors("Embedding.embed", self.weight.axes, input_ids.axes):
            return self.weight.at[{self.Vocab.name: input_ids}].get(out_sharding=spec)

    def __call__(self, input_ids: NamedArray, *, key: Any = None) -> NamedArray:
        """Same as `embed` (`key` is accepted and ignored)."""
        return self.embed(input_ids)

    def unembed(self, x: NamedArray) -> NamedArray:
        """Scores `x` against every table entry: `dot(x, weight, axis=Embed)`, gaining `Vocab`.

        Raises:
            ValueError: If `x` lacks an `Embed` axis.
        """
        embed = sized_axes(self.Embed, "Embedding.unembed")
        if not isinstance(x, NamedArray):
            raise TypeError(f"Embedding.unembed: x must be a NamedArray, got {describe(x)}.")
        for a in embed:
            if a not in x.axes:
                raise ValueError(
                    f"Embedding.unembed: x {format_axes(x.axes)} lacks the embedding axis {a}."
                )
        logits = dot(x, self.weight, axis=embed)
        return auto_sharded(scaled(logits, self.reparam.unembed_active_scale))

    def resize_embeddings(self, new_size: int, key: Any = None) -> Embedding:
        """The table with `Vocab` resized to `new_size`: cut, or grown with new rows.

        New rows are drawn around the existing rows' mean and standard deviation
        (`namedax.tree_util.resize_axis`); without a key they equal the mean.

        Examples:
            >>> Vocab, Embed = Axis("vocab", 4), Axis("embed", 2)
            >>> table = nx.nn.Embedding.init(Vocab, Embed, key=jax.random.key(0))
            >>> table.resize_embeddings(6).weight.shape
            {'vocab': 6, 'embed': 2}
        """
        weight = resize_axis(self.weight, self.Vocab, new_size, key=key)
        return dataclasses.replace(self, weight=weight, Vocab=self.Vocab.resize(new_size))
