"""The NamedArray method declarations in `namedax.core._array` match what is bound at run time.

`namedax.core._array` imports nothing from `namedax.ops` (no import cycle): it declares
each method and operator for type checkers (under `TYPE_CHECKING`, as JAX's
`basearray.pyi` declares `jax.Array`'s), and `namedax.ops._methods` binds the real
functions. These tests read the declarations from the source and compare every
parameter (name, kind, default) with the bound function's, so the two cannot drift.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

import namedax as nx
from namedax.core import _array, _typing
from namedax.core._signature_defaults import Sentinel
from namedax.ops import _indexing
from namedax.ops._methods import METHODS, OPERATORS, PROPERTIES, REFLECTED


def _declarations() -> tuple[dict[str, Any], set[str]]:
    """The functions declared in the class body's `if TYPE_CHECKING:` blocks, and which are properties."""
    source = Path(_array.__file__).read_text()
    tree = ast.parse(source)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "NamedArray")
    defs: list[ast.FunctionDef] = []
    properties: set[str] = set()
    for node in cls.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    if any(ast.unparse(d) == "property" for d in item.decorator_list):
                        properties.add(item.name)
                    item.decorator_list = []
                    defs.append(item)
    future = ast.ImportFrom(module="__future__", names=[ast.alias("annotations")], level=0)
    module = ast.fix_missing_locations(ast.Module(body=[future, *defs], type_ignores=[]))
    namespace = dict(vars(_array))
    exec(compile(module, _array.__file__, "exec"), namespace)
    return {d.name: namespace[d.name] for d in defs}, properties


DECLARED, DECLARED_PROPERTIES = _declarations()


def _bound() -> dict[str, Any]:
    """Every operator, method and property `namedax.ops._methods` binds, by name."""
    bound: dict[str, Any] = dict(OPERATORS)
    bound.update({f"__r{name}__": getattr(nx.NamedArray, f"__r{name}__") for name in REFLECTED})
    for name, fn in METHODS.items():
        bound[name] = fn.fget if isinstance(fn, property) else fn
    bound.update(PROPERTIES)
    return bound


BOUND = _bound()
BOUND_PROPERTIES = {n for n, f in METHODS.items() if isinstance(f, property)} | set(PROPERTIES)


def _parameters(fn: Any) -> list[tuple[str, Any, Any]]:
    """(name, kind, default) of each parameter after the first (the array itself)."""
    parameters = list(inspect.signature(fn).parameters.values())
    if parameters and parameters[0].kind is not inspect.Parameter.VAR_POSITIONAL:
        parameters = parameters[1:]  # `self`; a `*arrays` function takes the array in it
    return [(p.name, p.kind, p.default) for p in parameters]


def _same_default(declared: Any, bound: Any) -> bool:
    if declared is Ellipsis:  # a named marker (`axis=REQUIRED`) that core cannot import
        return isinstance(bound, Sentinel)
    if declared is inspect.Parameter.empty or bound is inspect.Parameter.empty:
        return declared is bound
    return type(declared) is type(bound) and declared == bound


def test_every_binding_is_declared_and_every_declaration_is_bound():
    declared = set(DECLARED) - {"__class_getitem__"}
    assert set(BOUND) - declared == set(), "bound at run time but not declared in core"
    assert declared - set(BOUND) == set(), "declared in core but not bound at run time"
    assert DECLARED_PROPERTIES == BOUND_PROPERTIES


@pytest.mark.parametrize("name", sorted(BOUND))
def test_declaration_matches_the_bound_function(name):
    declared, bound = _parameters(DECLARED[name]), _parameters(BOUND[name])
    assert [(n, k) for n, k, _ in declared] == [(n, k) for n, k, _ in bound]
    for (pname, _, want), (_, _, got) in zip(declared, bound):
        assert _same_default(want, got), f"{name}: default of {pname!r}: {want!r} != {got!r}"


def test_the_class_subscript_is_declared_like_the_bound_one():
    assert _parameters(DECLARED["__class_getitem__"]) == _parameters(_typing._class_getitem)
    assert nx.NamedArray["batch embed"] is not None  # bound by namedax.core._typing


@pytest.mark.parametrize(
    ("protocol", "runtime"),
    [(_array._At, _indexing._At), (_array._AtRef, _indexing._AtRef)],
    ids=["at", "at[...]"],
)
def test_the_at_protocols_match_the_indexing_classes(protocol, runtime):
    names = [
        n
        for n, v in vars(protocol).items()
        if inspect.isfunction(v) and (n == "__getitem__" or not n.startswith("_"))
    ]
    assert names
    for name in names:
        assert _parameters(getattr(protocol, name)) == _parameters(getattr(runtime, name)), name
    public = {n for n in dir(runtime) if not n.startswith("_")}
    assert public <= set(names) | {"_plan"}, "x.at[...] offers a method the protocol lacks"


def test_core_imports_nothing_from_ops():
    for path in Path(_array.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("namedax.ops"), path.name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("namedax.ops") for a in node.names), path.name
