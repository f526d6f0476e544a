"""The public API: every public name imports, and every one is in the API reference.

A name is public if it is listed by `dir()` of `namedax` or of one of its public
submodules, does not start with an underscore and is not itself a module. Each
must be documented by a `::: namedax.<path>` entry in `docs/api/*.md`, and each
such entry must point at an object that exists, so the reference can neither miss
a name nor go stale. A re-export of an object documented under another path
(`namedax.shard` is `namedax.partitioning.shard`) counts as documented.
"""

from __future__ import annotations

import importlib
import re
import types
from pathlib import Path

import pytest

import namedax

DOCS_API = Path(__file__).resolve().parent.parent / "docs" / "api"
SUBMODULES = ("nn", "random", "tree_util", "partitioning", "typing", "serialization")
_ENTRY = re.compile(r"^:::\s+(namedax(?:\.\w+)+)\s*$", re.MULTILINE)


def _public_modules() -> dict[str, types.ModuleType]:
    modules = {"namedax": namedax}
    for sub in SUBMODULES:
        try:
            modules[f"namedax.{sub}"] = importlib.import_module(f"namedax.{sub}")
        except ModuleNotFoundError as e:
            if e.name != f"namedax.{sub}":
                raise
    return modules


def _public_names() -> list[str]:
    names = []
    for prefix, module in _public_modules().items():
        for name in dir(module):
            if name.startswith("_") or isinstance(getattr(module, name), types.ModuleType):
                continue
            names.append(f"{prefix}.{name}")
    return sorted(names)


def _documented() -> dict[str, str]:
    """Maps each `::: namedax.X` entry of the API pages to the page that holds it."""
    entries: dict[str, str] = {}
    for page in sorted(DOCS_API.glob("*.md")):
        for path in _ENTRY.findall(page.read_text()):
            entries.setdefault(path, page.name)
    return entries


def _resolve(path: str) -> object:
    module_path, _, attr = path.rpartition(".")
    module = importlib.import_module(module_path)
    return getattr(module, attr)


def _exists(path: str) -> bool:
    try:
        _resolve(path)
    except (ImportError, AttributeError):
        return False
    return True


PUBLIC = _public_names()
DOCUMENTED = _documented()
_DOCUMENTED_OBJECTS = {id(_resolve(path)): path for path in DOCUMENTED if _exists(path)}


def test_the_api_is_not_empty():
    assert "namedax.NamedArray" in PUBLIC
    assert "namedax.Axis" in PUBLIC
    assert len(DOCUMENTED) > 20


@pytest.mark.parametrize("path", PUBLIC)
def test_public_name_imports(path):
    module_path, _, name = path.rpartition(".")
    namespace: dict[str, object] = {}
    exec(f"from {module_path} import {name}", namespace)
    assert namespace[name] is _resolve(path)


@pytest.mark.parametrize("path", PUBLIC)
def test_public_name_is_documented(path):
    assert path in DOCUMENTED or id(_resolve(path)) in _DOCUMENTED_OBJECTS, (
        f"{path} is public but missing from the API reference: add `::: {path}` to the "
        "matching page in docs/api/."
    )


@pytest.mark.parametrize("path", sorted(DOCUMENTED))
def test_documented_name_exists(path):
    try:
        _resolve(path)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"docs/api/{DOCUMENTED[path]} documents {path}, which does not exist: {e}")


def test_no_name_is_documented_twice():
    counts: dict[str, list[str]] = {}
    for page in sorted(DOCS_API.glob("*.md")):
        for path in _ENTRY.findall(page.read_text()):
            counts.setdefault(path, []).append(page.name)
    repeated = {path: pages for path, pages in counts.items() if len(pages) > 1}
    assert not repeated, f"documented more than once (mkdocs anchors would clash): {repeated}"
