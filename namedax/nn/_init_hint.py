"""Layers are built with `Layer.init(...)`; calling the class the Equinox way says so.

An Equinox layer is built by calling its class, `eqx.nn.Linear(in, out, key=k)`. A
namedax layer's class call is the dataclass constructor over its fields (`weight`,
`bias`, ...), used by JAX and `dataclasses.replace`; the layer is built by its
`init`. `builds_with_init` makes the Equinox habit — axes where arrays belong, or a
`key=` — a `TypeError` that names the `init` to call instead.
"""

from __future__ import annotations

import inspect
from typing import Any, TypeVar

from namedax.core._axes import Axis

__all__: list[str] = []

C = TypeVar("C", bound=type)


def _init_form(cls: type) -> str:
    """`Linear.init(In, Out, *, key, ...)`: the required parameters of `cls.init`."""
    params = inspect.signature(cls.init).parameters.values()  # type: ignore[attr-defined]
    shown, more, star = [], False, False
    for p in params:
        if p.name in ("cls", "self"):
            continue
        if p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            more = True
            continue
        if p.kind == p.KEYWORD_ONLY and not star:
            shown.append("*")
            star = True
        shown.append(p.name)
    return f"{cls.__name__}.init({', '.join(shown + (['...'] if more else []))})"


def _looks_like_axes(value: Any) -> bool:
    if isinstance(value, (Axis, str)):
        return True
    return (
        isinstance(value, (tuple, list))
        and bool(value)
        and all(isinstance(v, (Axis, str)) for v in value)
    )


def builds_with_init(cls: C) -> C:
    """Class decorator: the Equinox-style class call of a layer raises a `TypeError`.

    The constructor still takes the layer's fields (as JAX and `dataclasses.replace`
    call it); given a `key=` argument, arguments that do not bind to the fields, or an
    axis where the first field holds an array or sub-layers, it raises a `TypeError`
    that names `cls.init`.

    Examples:
        >>> Embed, Hidden = Axis("embed", 3), Axis("hidden", 4)
        >>> nx.nn.Linear(Embed, Hidden, key=jax.random.key(0))
        Traceback (most recent call last):
        ...
        TypeError: Linear(...) takes the layer's fields (weight, bias, In, Out, dot_general, \
_reparam_cls), as JAX and dataclasses.replace call it; build a new layer with \
Linear.init(In, Out, *, key, ...), e.g. Linear.init(In, Out, key=jax.random.key(0)).
    """
    generated = cls.__init__
    signature = inspect.signature(generated)
    fields = [n for n in signature.parameters if n != "self"]
    # An axis given where the first field holds arrays or layers (not where it holds axes,
    # as LayerNorm's `axis` and Conv's `Spatial` do) is the Equinox habit too.
    first_holds_axes = bool(fields) and any(
        word in str(signature.parameters[fields[0]].annotation)
        for word in ("Axis", "AxisSpec", "str")
    )

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            bound = None
        first = bound.arguments.get(fields[0]) if bound is not None and fields else None
        misplaced = not first_holds_axes and _looks_like_axes(first)
        if bound is None or ("key" in kwargs and "key" not in fields) or misplaced:
            form = _init_form(type(self))
            example = form.replace("*, key, ...", "key=jax.random.key(0)").replace(
                "*, key", "key=jax.random.key(0)"
            )
            raise TypeError(
                f"{type(self).__name__}(...) takes the layer's fields ({', '.join(fields)}), as "
                f"JAX and dataclasses.replace call it; build a new layer with {form}, e.g. "
                f"{example}."
            )
        generated(self, *args, **kwargs)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    __init__.__doc__ = generated.__doc__
    cls.__init__ = __init__  # type: ignore[misc]
    return cls
