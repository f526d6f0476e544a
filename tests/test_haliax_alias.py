"""`namedax.install_as_haliax()`: every Haliax module path resolves to a namedax module.

Each check runs in a fresh interpreter so this test process's `sys.modules` never
holds `haliax`.
"""

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import namedax
import namedax.compat
from namedax.compat._haliax import HALIAX_MODULES


def run_python(code: str) -> str:
    """Run `code` in a fresh interpreter; return its stdout (fail with its stderr)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_mapped_path_imports_as_its_twin_module():
    out = run_python(
        """
        import importlib
        import namedax
        from namedax.compat._haliax import HALIAX_MODULES
        namedax.install_as_haliax()
        for haliax_path, twin in HALIAX_MODULES.items():
            assert importlib.import_module(haliax_path) is importlib.import_module(twin), haliax_path
            print("ok", haliax_path)
        """
    )
    assert (
        "ok haliax.nn.scan" in out
        and "ok haliax.axis" in out
        and "ok haliax._src.state_dict" in out
    )


def test_the_mapping_is_the_twin_package_walked():
    """Every module file under namedax/compat/haliax is a Haliax path, and nothing else is."""
    root = Path(namedax.compat.__file__).parent / "haliax"
    files = sorted(root.rglob("*.py"))
    expected = set()
    for file in files:
        parts = file.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        expected.add(".".join(("haliax", *parts)))
    assert set(HALIAX_MODULES) == expected
    assert {"haliax", "haliax.nn", "haliax._src", "haliax.nn.scan"} <= expected
    for path, twin in HALIAX_MODULES.items():
        assert twin == "namedax.compat.haliax" + path.removeprefix("haliax"), path


def test_install_is_idempotent_and_binds_submodules_as_attributes():
    run_python(
        """
        import namedax as nx
        nx.install_as_haliax()
        nx.install_as_haliax()
        import haliax as hax
        import haliax.nn as hnn
        assert hax.nn is hnn
        assert hnn.Linear is nx.nn.Linear and hnn.Stacked is nx.nn.Stacked
        assert hax.nn.scan.Stacked is nx.nn.Stacked
        assert hax.nn.attention.causal_mask is nx.nn.causal_mask
        assert hax.core.NamedArray is nx.NamedArray
        assert hax.hof.scan is nx.scan
        assert hax.ops.where is nx.where
        assert hax.random.normal is nx.random.normal
        assert callable(hax.field) and callable(hax.fft) and callable(hax.poly)
        import haliax.field, haliax.fft
        assert hax.field is nx.field and hax.fft is nx.fft
        assert hax.state_dict.save_state_dict is not nx.serialization.save_state_dict
        import namedax.core, namedax.ops
        assert nx.core.__name__ == "namedax.core" and nx.ops.__name__ == "namedax.ops"
        assert not hasattr(nx, "haxtyping") and not hasattr(nx, "jax_utils")
        """
    )


def test_a_real_haliax_already_imported_is_refused_or_purged():
    out = run_python(
        """
        import sys, types, warnings
        import namedax
        real = types.ModuleType("haliax")
        real.__file__ = "/site-packages/haliax/__init__.py"
        sys.modules["haliax"] = real
        sys.modules["haliax.nn"] = types.ModuleType("haliax.nn")
        try:
            namedax.install_as_haliax()
        except ImportError as error:
            print("refused:", error)
        assert sys.modules["haliax"] is real
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            namedax.install_as_haliax(purge=True)
        print("warned:", caught[0].message)
        import haliax
        assert haliax is not real and haliax.NamedArray is namedax.NamedArray
        assert sys.modules["haliax.nn"].Linear is namedax.nn.Linear
        """
    )
    assert "refused: install_as_haliax(): the real Haliax is already imported (2 module(s)" in out
    assert "/site-packages/haliax/__init__.py" in out and "purge=True" in out
    assert "warned: install_as_haliax(purge=True): removing the real Haliax" in out


def test_unprovided_haliax_module_is_a_module_not_found_error():
    out = run_python(
        """
        import namedax
        namedax.install_as_haliax()
        for path in ("haliax.no_such_module", "haliax.nn.no_such_module", "haliax._src.no_such"):
            try:
                __import__(path)
            except ModuleNotFoundError as error:
                print(error.name, "|", error)
            else:
                raise AssertionError(path)
        """
    )
    assert "haliax.no_such_module | No module named 'haliax.no_such_module'" in out
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


def test_namedax_keeps_one_name_per_thing():
    """Haliax's spellings live in the twins only; namedax's modules keep namedax's names."""
    import namedax.serialization as ser

    for gone in ("haxtyping", "jax_utils", "tree", "axis", "types", "quantization"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"namedax.{gone}")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("namedax.nn.scan")
    assert ser.to_torch_compatible_state_dict.__module__ == "namedax.io._torch_layout"


def test_former_namedax_state_dict_names_warn_and_name_the_namedax_spelling():
    import namedax.partitioning
    import namedax.state_dict
    from namedax.compat.haliax import state_dict as haliax_state_dict

    with pytest.warns(DeprecationWarning, match=r"namedax\.serialization\.save_safetensors"):
        assert namedax.state_dict.save_state_dict is haliax_state_dict.save_state_dict
    with pytest.warns(DeprecationWarning, match=r"use `namedax\.serialization\.with_prefix`"):
        assert namedax.state_dict.with_prefix is namedax.serialization.with_prefix
    with pytest.warns(DeprecationWarning, match="current_axis_mapping"):
        assert (
            namedax.partitioning.current_thread_local_mapping
            is namedax.partitioning.current_axis_mapping
        )
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = namedax.state_dict.nope
