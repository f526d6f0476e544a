"""`namedax.install_as_haliax()`: every Haliax module path resolves to a namedax module.

Each check runs in a fresh interpreter so this test process's `sys.modules` never
holds `haliax`.
"""

import subprocess
import sys
import textwrap

import pytest

from namedax.compat._haliax import HALIAX_MODULES


def run_python(code: str) -> str:
    """Run `code` in a fresh interpreter; return its stdout (fail with its stderr)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_mapped_path_imports_as_its_namedax_module():
    out = run_python(
        """
        import importlib
        import namedax
        from namedax.compat._haliax import HALIAX_MODULES
        namedax.install_as_haliax()
        for haliax_path, target in HALIAX_MODULES.items():
            try:
                expected = importlib.import_module(target)
            except ModuleNotFoundError:
                print("absent", haliax_path)
                continue
            assert importlib.import_module(haliax_path) is expected, haliax_path
            print("ok", haliax_path)
        """
    )
    assert "ok haliax.nn.scan" in out and "ok haliax.axis" in out


def test_install_is_idempotent_and_binds_submodules_as_attributes():
    run_python(
        """
        import namedax as nx
        nx.install_as_haliax()
        nx.install_as_haliax()
        import haliax as hax
        import haliax.nn as hnn
        assert hax.nn is hnn is nx.nn
        assert hax.nn.scan.Stacked is nx.nn.Stacked
        assert hax.core.NamedArray is nx.NamedArray
        assert hax.hof.scan is nx.scan
        assert hax.ops.where is nx.where
        import namedax.core, namedax.ops
        assert nx.core.__name__ == "namedax.core" and nx.ops.__name__ == "namedax.ops"
        """
    )


def test_unprovided_haliax_module_is_a_module_not_found_error():
    out = run_python(
        """
        import namedax
        namedax.install_as_haliax()
        for path in ("haliax.debug", "haliax.nn.no_such_module", "haliax._src.fp8"):
            try:
                __import__(path)
            except ModuleNotFoundError as error:
                print(error.name, "|", error)
            else:
                raise AssertionError(path)
        """
    )
    assert "haliax.debug | No module named 'haliax.debug'" in out
    assert "haliax.nn.no_such_module" in out
    assert "install_as_haliax() does not provide" in out


def test_missing_name_is_an_import_error_not_a_stand_in():
    out = run_python(
        """
        import namedax
        namedax.install_as_haliax()
        import haliax
        try:
            from haliax import no_such_name
        except ImportError as error:
            print("ImportError", error)
        try:
            haliax.no_such_name
        except AttributeError as error:
            print("AttributeError", error)
        """
    )
    assert "ImportError" in out and "AttributeError" in out


@pytest.mark.parametrize("path", sorted(HALIAX_MODULES))
def test_table_targets_are_namedax_modules(path):
    assert HALIAX_MODULES[path].startswith("namedax")
