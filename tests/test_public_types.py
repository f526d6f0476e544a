"""The public API is typed: pyright sees the real parameters and return type of every name.

One pyright run (in a temporary project that uses this repository's venv) checks two files:

* a generated file that reveals the type of every public function, of every public method
  of the public classes and of every `NamedArray` method and operator. None may take
  `(...)` (any arguments, the type of an untyped factory-built function) or contain an
  `Unknown` part.
* `tests/typed_usage.py`, typed uses of the API: lines marked `# error: <text>` must get a
  pyright error containing `<text>` (e.g. `x.mean(axis=E, keepdims=True)`), and every
  other line must type-check (its `assert_type`s hold).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys
import types
from functools import cache
from pathlib import Path

import namedax
from namedax.ops._methods import METHODS, OPERATORS, REFLECTED

ROOT = Path(__file__).resolve().parent.parent
USAGE = Path(__file__).resolve().parent / "typed_usage.py"
SUBMODULES = ("nn", "random", "tree_util", "partitioning", "typing", "serialization")
_REVEALED = re.compile(r'^Type of "(?P<expr>.*?)" is "(?P<type>.*)"$', re.DOTALL)
_MARKER = re.compile(r"#\s*error:\s*(?P<text>.+?)\s*$")

# Methods whose `(...)` is their real signature: they pass every argument on to a function
# whose parameters the class does not know statically (the block's own `__call__`, the
# jitted function).
FORWARDING = {
    # typed on instances from the block's __call__ (tests/typed_usage.py checks it); on the
    # class, the self-type's parameters are unsolved, so pyright and help() show (...).
    "method namedax.nn.Stacked.vmap",
    "method namedax.nn.BlockSeq.vmap",
    "method namedax.partitioning.NamedJitWrapped.lower",
}


def _public_objects() -> dict[str, object]:
    """`{"namedax.nn.Linear": Linear, ...}` for every public name of the public modules."""
    found: dict[str, object] = {}
    for prefix in ("namedax", *(f"namedax.{sub}" for sub in SUBMODULES)):
        module = importlib.import_module(prefix)
        for name in dir(module):
            obj = getattr(module, name)
            if not name.startswith("_") and not isinstance(obj, types.ModuleType):
                found[f"{prefix}.{name}"] = obj
    return found


def _methods_of(cls: type) -> list[str]:
    """The public methods (plain, static and class methods) that namedax defines on `cls`."""
    names = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("namedax"):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") or name in names:
                continue
            if isinstance(attr, (staticmethod, classmethod)) or inspect.isfunction(attr):
                names.append(name)
    return names


def _classes() -> dict[str, type]:
    """The public classes namedax defines, by their public path (each class once)."""
    found: dict[str, type] = {}
    for path, obj in _public_objects().items():
        if (
            isinstance(obj, type)
            and obj.__module__.startswith("namedax")
            and obj not in found.values()
        ):
            found[path] = obj
    return found


def _generated_source() -> tuple[str, dict[int, str]]:
    """The reveal file and, for each revealing line (0-based), what it reveals.

    Methods are revealed bound to an instance (`Stacked[Any]` for a generic class), as an
    editor shows them; a name that is not a plain signature (a Protocol instance) is
    judged by its `__call__`, revealed on the next line.
    """
    classes = _classes()
    params = ["x: namedax.NamedArray"]
    exprs: list[tuple[str, str, bool]] = []
    for i, (path, cls) in enumerate(classes.items()):
        generic = ", ".join("Any" for _ in getattr(cls, "__parameters__", ()))
        params.append(f"c{i}: {path}[{generic}]" if generic else f"c{i}: {path}")
        exprs += [(f"c{i}.{m}", f"method {path}.{m}", True) for m in _methods_of(cls)]
    for path, obj in _public_objects().items():
        if inspect.isroutine(obj):
            exprs.append((path, f"function {path}", True))
    for name in [*METHODS, *OPERATORS, *(f"__r{name}__" for name in REFLECTED)]:
        callable_ = not isinstance(METHODS.get(name), property)
        exprs.append((f"x.{name}", f"method NamedArray.{name}", callable_))
    lines = [
        "from typing import Any, reveal_type",
        "import namedax",
        *(f"import namedax.{sub}" for sub in SUBMODULES),
        "",
        "",
        f"def reveal({', '.join(params)}) -> None:",
    ]
    where = {}
    for expr, what, callable_ in exprs:
        where[len(lines)] = what
        lines.append(f"    reveal_type({expr})")
        if callable_:
            where[len(lines)] = f"{what} (called)"
            lines.append(f"    reveal_type({expr}.__call__)")
    return "\n".join(lines) + "\n", where


@cache
def _pyright_run() -> tuple[dict[str, object], dict[int, str], Path]:
    """Runs pyright once over the generated file and a copy of the usage file."""
    import tempfile

    source, where = _generated_source()
    tmp = Path(tempfile.mkdtemp(prefix="namedax-types-"))
    (tmp / "revealed.py").write_text(source)
    (tmp / "typed_usage.py").write_text(USAGE.read_text())
    config = {
        "include": ["."],
        "venvPath": str(ROOT),
        "venv": ".venv",
        "extraPaths": [str(ROOT)],
        "pythonVersion": "3.11",
        "typeCheckingMode": "basic",
        "reportPrivateImportUsage": False,
    }
    (tmp / "pyrightconfig.json").write_text(json.dumps(config))
    pyright = Path(sys.executable).parent / "pyright"
    done = subprocess.run(
        [str(pyright), "--outputjson", "-p", str(tmp)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as e:
        raise AssertionError(f"pyright gave no JSON report:\n{done.stdout}\n{done.stderr}") from e
    return report, where, tmp


def _diagnostics(file: str, severity: str) -> list[tuple[int, str]]:
    report, _, tmp = _pyright_run()
    return [
        (d["range"]["start"]["line"], d["message"])
        for d in report["generalDiagnostics"]  # type: ignore[index]
        if d["file"] == str(tmp / file) and d["severity"] == severity
    ]


def _is_untyped(type_text: str) -> bool:
    members = type_text.removeprefix("Overload[").split(", (")
    return "Unknown" in type_text or any(m.lstrip("(").startswith("...)") for m in members)


def _is_signature(type_text: str) -> bool:
    return type_text.startswith(("(", "Overload["))


def test_the_generated_file_covers_the_api():
    _, where, _ = _pyright_run()
    described = set(where.values())
    for name in ["function namedax.sum", "function namedax.exp", "function namedax.nn.gelu",
                 "function namedax.nn.dot_product_attention", "method namedax.nn.Stacked.init",
                 "method NamedArray.mean", "method NamedArray.__add__"]:  # fmt: skip
        assert name in described
    assert len(where) > 2 * 300


def test_every_public_name_has_real_parameters_and_return_type():
    _, where, _ = _pyright_run()
    revealed = {}
    for line, message in _diagnostics("revealed.py", "information"):
        match = _REVEALED.match(message)
        assert match, message
        revealed[where[line]] = match["type"]
    assert set(revealed) == set(where.values()), "pyright did not reveal every name"
    untyped = []
    for what, type_text in revealed.items():
        if what.endswith("(called)"):
            continue
        shown = type_text
        called = f"{what} (called)"
        if not _is_signature(type_text) and called in revealed:  # a Protocol: its __call__
            shown = revealed[called]
        if _is_untyped(shown) and not (what in FORWARDING and "Unknown" not in shown):
            untyped.append(f"{what}: {shown}")
    assert not untyped, "untyped public names:\n" + "\n".join(sorted(untyped))
    assert not _diagnostics("revealed.py", "error")


def test_typed_usage_type_checks_except_the_marked_lines():
    lines = USAGE.read_text().splitlines()
    expected = {i: m["text"] for i, line in enumerate(lines) if (m := _MARKER.search(line))}
    assert len(expected) >= 15
    errors: dict[int, list[str]] = {}
    for line, message in _diagnostics("typed_usage.py", "error"):
        errors.setdefault(line, []).append(message)
    unexpected = {
        f"line {i + 1}: {lines[i].strip()}\n    {msgs}"
        for i, msgs in errors.items()
        if i not in expected
    }
    assert not unexpected, "unexpected pyright errors:\n" + "\n".join(sorted(unexpected))
    missing = [
        f"line {i + 1}: {lines[i].strip()} (got {errors.get(i, [])})"
        for i, text in expected.items()
        if not any(text in message for message in errors.get(i, []))
    ]
    assert not missing, "expected pyright errors that were not reported:\n" + "\n".join(missing)


def test_keepdims_is_a_type_error_on_the_method():
    lines = USAGE.read_text().splitlines()
    (line,) = [i for i, s in enumerate(lines) if "x.mean(axis=Embed, keepdims=True)" in s]
    messages = [m for i, m in _diagnostics("typed_usage.py", "error") if i == line]
    assert messages == ['No parameter named "keepdims"']


def test_help_shows_the_real_signatures():
    assert str(inspect.signature(namedax.exp)) == "(x: 'NamedArray | ArrayLike', /) -> 'NamedArray'"
    assert "approximate: 'bool' = True" in str(inspect.signature(namedax.nn.gelu))
    assert "decimals: 'int' = 0" in str(inspect.signature(namedax.round))
    assert "keepdims" not in str(inspect.signature(namedax.mean))
    attention = inspect.signature(namedax.nn.dot_product_attention)
    assert list(attention.parameters)[:5] == ["KPos", "Key", "query", "key", "value"]


def test_the_package_is_marked_typed():
    assert (ROOT / "namedax" / "py.typed").is_file()


def test_sampler_signatures_are_those_of_jax_random():
    from namedax.ops._random import SAMPLERS

    for name, entry in SAMPLERS.items():
        ours = list(inspect.signature(entry.named).parameters.values())
        theirs = inspect.signature(entry.reference).parameters
        expected = [p for p in theirs if p not in ("key", "shape", "out_sharding")]
        assert [p.name for p in ours] == ["key", "shape", *expected], name
        for p in ours[2:]:
            assert p.default == theirs[p.name].default, (name, p.name)


def test_help_shows_parameters_for_every_public_function_and_method():
    def forwards_everything(fn: object) -> bool:
        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]  # type: ignore[arg-type]
        kinds = {p.kind for p in params}
        return kinds == {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}

    bare = [
        path
        for path, obj in _public_objects().items()
        if inspect.isroutine(obj) and forwards_everything(obj)
    ]
    for path, cls in _classes().items():
        bare += [
            f"{path}.{m}"
            for m in _methods_of(cls)
            if f"method {path}.{m}" not in FORWARDING and forwards_everything(getattr(cls, m))
        ]
    assert not bare, f"help() shows only (*args, **kwargs) for {bare}"


def test_transforms_return_the_callee_signature():
    """`vmap`, `scan`, `fold` and `map` return a function typed as their callee (ParamSpec)."""
    _, where, _ = _pyright_run()
    revealed = {
        where[line]: match["type"]
        for line, message in _diagnostics("revealed.py", "information")
        if (match := _REVEALED.match(message))
    }
    for name, returned in [
        ("vmap", "(**P@vmap) -> R@vmap"),
        ("scan", "(**P@scan) -> tuple[C@scan, Y@scan]"),
        ("fold", "(**P@fold) -> C@fold"),
        ("map", "(**P@map) -> R@map"),
    ]:
        assert revealed[f"function namedax.{name}"].endswith(f"-> ({returned})"), name
