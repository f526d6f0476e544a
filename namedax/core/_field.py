"""`field`: an `equinox.field` that can record the axis names of an array field.

Declaring the names on the module's field (`axis_names=("batch", "embed")`) lets code
that walks a module (sharding rules, checkpoint converters) name the axes of a plain
`jax.Array` field without wrapping it in a NamedArray.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx

__all__: list[str] = []  # the public name is re-exported by namedax/__init__.py


def field(
    *,
    converter: Callable[[Any], Any] | None = None,
    static: bool = False,
    axis_names: Sequence[str] | None = None,
    **kwargs: Any,
) -> Any:
    """An `equinox.field` whose metadata holds `axis_names` (`None` when not given).

    Args:
        converter: Applied to the value when the module is constructed.
        static: Keep the field out of the pytree leaves (as `equinox.field`).
        axis_names: The names of the array field's axes, in order: a tuple or list of
            strings, stored as a tuple.
        **kwargs: Passed on to `dataclasses.field` (`default`, `metadata`, ...); a
            given `metadata` mapping is kept and gains the `axis_names` entry.

    Returns:
        The dataclass field, to assign in an `equinox.Module` class body.

    Raises:
        ValueError: If both `static=True` and `axis_names` are given (a static field
            is not an array).
        TypeError: If `axis_names` is not a sequence of strings (a bare string is
            refused: write `("batch",)`), or `metadata` is not a mapping.

    Examples:
        >>> import equinox as eqx
        >>> class Table(eqx.Module):
        ...     weights: jax.Array = nx.field(axis_names=("vocab", "embed"))
        >>> Table.__dataclass_fields__["weights"].metadata["axis_names"]
        ('vocab', 'embed')
    """
    if static and axis_names is not None:
        raise ValueError(
            f"field: axis_names={axis_names!r} cannot be combined with static=True: a static "
            "field is not an array. Drop one of them."
        )
    names: tuple[str, ...] | None = None
    if axis_names is not None:
        if (
            isinstance(axis_names, str)
            or not isinstance(axis_names, Sequence)
            or not all(isinstance(n, str) for n in axis_names)
        ):
            raise TypeError(
                f"field: axis_names must be a tuple of axis names, got {axis_names!r}. "
                "Write axis_names=('batch', 'embed') (one name: ('batch',))."
            )
        names = tuple(axis_names)
    given = kwargs.pop("metadata", None)
    if given is not None and not isinstance(given, Mapping):
        raise TypeError(f"field: metadata must be a mapping, got {type(given).__name__}.")
    metadata = {**(given or {}), "axis_names": names}
    if converter is not None:
        kwargs["converter"] = converter
    return eqx.field(static=static, metadata=metadata, **kwargs)
