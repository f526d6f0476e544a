"""Griffe extension: document factory-made functions as functions, and bound methods.

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
import re
from pathlib import Path
from typing import Any

import griffe

_PACKAGE = "namedax"


def _annotation(annotation: Any) -> str | None:
    """An annotation as the signature shows it (strings as written, types by name)."""
    if annotation is inspect.Parameter.empty:
        return None
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _parameter(p: inspect.Parameter) -> griffe.Parameter:
    if p.default is inspect.Parameter.empty:
        default = None
    else:
        default = getattr(p.default, "__name__", None) or repr(p.default)
    return griffe.Parameter(
        p.name,
        annotation=_annotation(p.annotation),
        kind=griffe.ParameterKind(p.kind.description),
        default=default,
    )


def _as_function(name: str, obj: Any, attr: griffe.Attribute) -> griffe.Function | None:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return griffe.Function(
        name,
        parameters=griffe.Parameters(*map(_parameter, signature.parameters.values())),
        returns=_annotation(signature.return_annotation),
        docstring=griffe.Docstring(inspect.cleandoc(obj.__doc__)) if obj.__doc__ else None,
        lineno=attr.lineno,
        endlineno=attr.endlineno,
    )


def _element_type_doc(name: str, obj: Any) -> str:
    """The description of a dtype-qualified annotation (`namedax.typing.Float`), or "".

    These are made by one factory line each (`Float = _form("Float", jaxtyping.Float)`);
    the dtypes they accept come from the jaxtyping class they wrap.
    """
    dtype = getattr(obj, "_dtype", None)
    if dtype is None or not isinstance(obj, type) or name == "Named":
        return ""
    dtypes = getattr(dtype, "dtypes", None)
    listed = isinstance(dtypes, (list, tuple)) and dtypes
    accepted = ", ".join(f"`{d}`" for d in dtypes) if listed else "any dtype"
    return (
        f'`{name}[NamedArray, "batch embed"]`: a NamedArray with these axes (any axes spec '
        f"of [`Named`][namedax.typing.Named]) whose elements are of {accepted}. With "
        f"another array type it is `jaxtyping.{name}`."
    )


def _class_alias_doc(name: str, obj: Any) -> str:
    """For a second name of a public class (`ds = dslice`), a line pointing at it; or ""."""
    if not isinstance(obj, type) or obj.__name__ == name:
        return ""
    path = _public_path(obj.__name__, obj)
    return f"Another name for [`{obj.__name__}`][{path}]." if path else ""


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
            if member.docstring is None and _element_type_doc(name, obj):
                member.docstring = griffe.Docstring(_element_type_doc(name, obj))
            elif member.docstring is None and _class_alias_doc(name, obj):
                member.docstring = griffe.Docstring(_class_alias_doc(name, obj))
            if not inspect.isfunction(obj):
                continue
            function = _as_function(name, obj, member)  # type: ignore[arg-type]
            if function is not None:
                mod.set_member(name, function)

    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        if not cls.path.startswith(_PACKAGE + "."):
            return
        if cls.path == "namedax.core._array.NamedArray":
            document_bound_methods(cls)
        describe_attributes(cls)


# --- NamedArray's methods and attributes --------------------------------------------------
#
# `namedax.ops._methods` binds the top-level functions onto NamedArray at import time,
# so the class body holds no method definitions for griffe to read. Each bound method
# is documented on the class as a method with its function's signature (less the array
# parameter), the function's one-line summary and a link to its page. Attributes
# without a docstring of their own take their description from the class docstring's
# `Attributes:` (or `Args:`) section; the `Attributes:` table is then dropped, so no
# attribute is shown twice.

_PUBLIC_MODULES = ("namedax", "namedax.nn", "namedax.random", "namedax.tree_util")
_SECTION = re.compile(r"^(?P<indent>[ \t]*)(?P<title>Attributes|Args|Arguments):[ \t]*$")


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()


def _public_path(name: str, fn: Any) -> str | None:
    """The documented public name of `fn` (`namedax.sum`), preferring the method's name."""
    modules = [importlib.import_module(m) for m in _PUBLIC_MODULES]
    for module in modules:
        if getattr(module, name, None) is fn:
            return f"{module.__name__}.{name}"
    for module in modules:
        for public, value in vars(module).items():
            if value is fn and not public.startswith("_"):
                return f"{module.__name__}.{public}"
    return None


def _documented_paths() -> set[str]:
    paths: set[str] = set()
    for page in (Path(__file__).parent / "api").glob("*.md"):
        paths.update(re.findall(r"^::: (\S+)", page.read_text(), re.MULTILINE))
    return paths


def _method_docstring(name: str, fn: Any, documented: set[str]) -> str:
    path = _public_path(name, fn)
    text = _summary(fn)
    if path in documented:
        text += (
            f"\n\nThe method form of [`{path}`][{path}]: `x.{name}(...)` is "
            f"`{path}(x, ...)`; see there for the parameters and examples."
        )
    return text


def _method(name: str, fn: Any, documented: set[str], lineno: int | None) -> griffe.Function:
    parameters = list(inspect.signature(fn).parameters.values())[1:]  # drop the array
    return griffe.Function(
        name,
        parameters=griffe.Parameters(*map(_parameter, parameters)),
        returns=_annotation(inspect.signature(fn).return_annotation),
        docstring=griffe.Docstring(_method_docstring(name, fn, documented)),
        lineno=lineno,
        endlineno=lineno,
    )


def _described_members(docstring: str) -> dict[str, str]:
    """`{name: description}` from the `Attributes:` and `Args:` sections of a docstring."""
    found: dict[str, str] = {}
    lines = docstring.splitlines()
    for i, line in enumerate(lines):
        match = _SECTION.match(line)
        if not match:
            continue
        for entry, description in _section_entries(lines[i + 1 :], len(match["indent"])):
            found.setdefault(entry, description)
    return found


def _section_entries(lines: list[str], indent: int) -> list[tuple[str, str]]:
    entries: list[tuple[str, list[str]]] = []
    item_indent = None
    for line in lines:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        item_indent = depth if item_indent is None else item_indent
        entry = re.match(r"\s*(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line)
        if depth == item_indent and entry:
            entries.append((entry[1], [entry[2]]))
        elif entries:
            entries[-1][1].append(line.strip())
    return [(name, " ".join(text).strip()) for name, text in entries]


def _without_attributes_section(docstring: str) -> str:
    lines, out, skipping, indent = docstring.splitlines(), [], False, 0
    for line in lines:
        match = _SECTION.match(line)
        if match and match["title"] == "Attributes":
            skipping, indent = True, len(match["indent"])
            continue
        if skipping and line.strip() and len(line) - len(line.lstrip()) <= indent:
            skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out)


def document_bound_methods(cls: griffe.Class) -> None:
    """Adds NamedArray's bound methods to `cls` (see the comment above)."""
    from namedax.ops._methods import METHODS, PROPERTIES

    documented = _documented_paths()
    last = max((m.endlineno or 0 for m in cls.members.values() if not m.is_alias), default=0)
    bound_properties = {name: property(fn) for name, fn in PROPERTIES.items()}
    for name, bound in {**METHODS, **bound_properties}.items():
        if name.startswith("_"):
            continue
        member = cls.members.get(name)
        lineno = last + 1
        if isinstance(bound, property):
            attribute = griffe.Attribute(name, lineno=lineno, endlineno=lineno)
            attribute.labels.add("property")
            attribute.docstring = griffe.Docstring(_method_docstring(name, bound.fget, documented))
            cls.set_member(name, attribute)
        elif member is None or member.is_alias or member.is_attribute:
            cls.set_member(name, _method(name, bound, documented, lineno))
        # The class body imports the functions for type checkers; an imported name
        # would be filtered out of the page as not the class's own.
        cls.imports.pop(name, None)


def describe_attributes(cls: griffe.Class) -> None:
    """Moves attribute descriptions from the class docstring onto the attributes.

    The value of an attribute assigned in `__init__` (`self.axes = tuple(...)`) is
    implementation, not documentation, so it is dropped; class-level values (type
    aliases, field defaults) stay.
    """
    for member in cls.members.values():
        if not member.is_alias and member.is_attribute and "instance-attribute" in member.labels:
            member.value = None
    if cls.docstring is None:
        return
    described = _described_members(cls.docstring.value)
    for name, member in cls.members.items():
        if member.is_alias or not member.is_attribute or member.docstring is not None:
            continue
        if name in described:
            member.docstring = griffe.Docstring(described[name])
    attributes = _section_names(cls.docstring.value, "Attributes")
    if attributes and attributes <= set(cls.members):
        cls.docstring.value = _without_attributes_section(cls.docstring.value)


def _section_names(docstring: str, title: str) -> set[str]:
    lines = docstring.splitlines()
    for i, line in enumerate(lines):
        match = _SECTION.match(line)
        if match and match["title"] == title:
            return {name for name, _ in _section_entries(lines[i + 1 :], len(match["indent"]))}
    return set()
