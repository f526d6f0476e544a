"""`Embedding`: a lookup table from token ids to vectors, and its transpose (`unembed`)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from namedax.core._array import NamedArray, _wrap
from namedax.core._axes import Axis, AxisSpec, sized_axes
from namedax.core._errors import describe, format_axes
from namedax.ops._dot import dot
from namedax.ops._indexing import take

__all__ = ["Embedding"]


class Embedding(eqx.Module):
    """A table of one vector (axes `Embed`) per entry of `Vocab`.

    Build it with `Embedding.init`. `embed(ids)` looks up ids (an integer NamedArray
    of any axes) and returns their vectors; `unembed(x)` scores vectors against
    every entry (a dot product over `Embed`), as tied output layers do.

    Attributes:
        weight: The table, with axes `(Vocab, *Embed)`.
        Vocab: The vocabulary axis.
        Embed: The embedding axis or axes.

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

    @staticmethod
    def init(
        Vocab: Axis,
        Embed: AxisSpec,
        *,
        key: Any,
        initializer_range: float = 0.02,
        dtype: Any = None,
    ) -> Embedding:
        """Builds a table with normally distributed entries.

        Args:
            Vocab: The vocabulary axis (sized).
            Embed: The embedding axis or axes (sized).
            key: The PRNG key.
            initializer_range: The standard deviation of the entries.
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
        axes = (vocab, *embed)
        weight = jax.random.normal(key, tuple(a.size for a in axes), dtype or jnp.float32)
        return Embedding(_wrap(weight * initializer_range, axes), vocab, Embed)

    def embed(self, input_ids: NamedArray) -> NamedArray:
        """The vectors of `input_ids` (integers in `[0, Vocab.size)`): its axes, then `Embed`.

        Raises:
            TypeError: If `input_ids` is not an integer NamedArray.
            ValueError: If `input_ids` has the `Vocab` or an `Embed` axis.
        """
        if not isinstance(input_ids, NamedArray) or not jnp.issubdtype(
            input_ids.dtype, jnp.integer
        ):
            raise TypeError(
                f"Embedding.embed: input_ids must be a NamedArray of integer ids, got "
                f"{describe(input_ids)}"
                + (f" of dtype {input_ids.dtype}." if isinstance(input_ids, NamedArray) else ".")
            )
        taken = {a.name for a in self.weight.axes}
        clash = [a for a in input_ids.axes if a.name in taken]
        if clash:
            raise ValueError(
                f"Embedding.embed: input_ids {format_axes(input_ids.axes)} has axis "
                f"{clash[0].name!r}, which the table {format_axes(self.weight.axes)} also has. "
                "Rename it."
            )
        return take(self.weight, self.Vocab, input_ids)

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
        return dot(x, self.weight, axis=embed)
