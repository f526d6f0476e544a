"""Griffe extension: document factory-made functions as functions.

namedax builds families of functions with one factory and one explicit line per
public name (`abs = _unary("abs", jnp.abs)`). Griffe reads source statically and
would show such a line as an attribute without a docstring. This extension looks
up the runtime value of every module-level attribute of `namedax`; when it is a
function, the attribute is replaced by a function with that object's signature
and docstring. Everything else keeps its static description (which, unlike
inspection, retains attribute docstrings such as those of the type aliases).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import griffe

_PACKAGE = "namedax"


def _parameter(p: inspect.Parameter) -> griffe.Parameter:
    if p.default is inspect.Parameter.empty:
        default = None
    else:
        default = getattr(p.default, "__name__", None) or repr(p.default)
    return griffe.Parameter(p.name, kind=griffe.ParameterKind(p.kind.description), default=default)


def _as_function(name: str, obj: Any, attr: griffe.Attribute) -> griffe.Function | None:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return griffe.Function(
        name,
        parameters=griffe.Parameters(*map(_parameter, signature.parameters.values())),
        docstring=griffe.Docstring(inspect.cleandoc(obj.__doc__)) if obj.__doc__ else None,
        lineno=attr.lineno,
        endlineno=attr.endlineno,
    )


class GeneratedFunctions(griffe.Extension):
    """Replaces module attributes whose runtime values are functions by functions."""

    def on_module_members(self, *, mod: griffe.Module, **kwargs: Any) -> None:
        if not (mod.path == _PACKAGE or mod.path.startswith(_PACKAGE + ".")):
            return
        runtime = None
        for name, member in list(mod.members.items()):
            if member.is_alias or not member.is_attribute:
                continue
            if runtime is None:
                runtime = importlib.import_module(mod.path)
            obj = getattr(runtime, name, None)
            if not inspect.isfunction(obj):
                continue
            function = _as_function(name, obj, member)  # type: ignore[arg-type]
            if function is not None:
                mod.set_member(name, function)
