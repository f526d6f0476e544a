"""The built wheel is a working package: it installs into a fresh venv and runs the README.

`python -m build --wheel` builds it from this checkout; the wheel's metadata must
declare the dependencies `pyproject.toml` declares, it must carry `py.typed` and no
tests; installed with pip into a new venv (no access to this checkout), it must run
the README's "A taste" example, whose results are checked against jax.numpy.
(`make wheel-check` runs this file alone.)
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)

# Runs in the fresh venv after the README's code; prints what the test compares.
_CHECKS = """
import json, numpy as np
import namedax
expected_h = np.einsum("be,he->bh", np.asarray(x.array), np.asarray(w.array)) + np.asarray(b.array)
hw = h.rearrange(("batch", "hidden"))
print(json.dumps({
    "namedax_file": namedax.__file__,
    "h": [list(h.shape.items()), bool(np.allclose(hw.array, expected_h, atol=1e-5))],
    "y": list(y.shape.items()),
    "z": list(z.shape.items()),
    "g": [list(g.shape.items()), g.axes == w.axes],
    "value": [type(value).__name__, value.shape],
}))
"""


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)])
    (built,) = out.glob("namedax-*.whl")
    return built


def test_wheel_metadata_and_contents(wheel: Path):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert wheel.name.startswith(f"namedax-{project['version']}-py3-none-any")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(metadata_name).decode()
    assert "namedax/py.typed" in names
    assert "namedax/__init__.py" in names and "namedax/nn/__init__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "docs/", "benchmarks/"))]
    requires = {
        line.removeprefix("Requires-Dist: ").replace(" ", "")
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    }
    assert requires == {d.replace(" ", "") for d in project["dependencies"]}
    assert f"Requires-Python: {project['requires-python']}" in metadata


def test_wheel_installs_into_a_fresh_venv_and_runs_the_readme_example(wheel: Path, tmp_path: Path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)]
    )

    blocks = _FENCE.findall((ROOT / "README.md").read_text())
    assert blocks, "README.md has no ```python block"
    script = tmp_path / "readme_example.py"
    script.write_text("\n".join(blocks) + _CHECKS)
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # Run from an empty directory so that the checkout cannot be imported by accident.
    done = _run([str(python), str(script)], cwd=tmp_path, env=clean_env)
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert Path(result["namedax_file"]).is_relative_to(env_dir)
    assert result["h"] == [[["batch", 4], ["hidden", 16]], True]
    assert result["y"] == [["batch", 4]]
    assert result["z"] == [["batch", 4]]
    assert result["g"] == [[["hidden", 16], ["embed", 8]], True]
    assert result["value"] == ["ArrayImpl", []]


def test_test_min_pins_exactly_the_declared_lower_bounds(tmp_path: Path):
    spec = importlib.util.spec_from_file_location(
        "min_requirements", ROOT / "tools/min_requirements.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pinned_lowest = module.pinned_lowest
    pins = pinned_lowest(ROOT / "pyproject.toml")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    bounded = [d for d in declared if ">=" in d]
    assert pins == [d.replace(">=", "==") for d in bounded]
    assert {p.split("==")[0] for p in pins} >= {"jax", "jaxlib", "equinox", "jaxtyping"}
    # A bound of another form is refused (make test-min could not pin it).
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\ndependencies = ["jax>=0.9,<1"]\n')
    with pytest.raises(ValueError, match="not of the form name>=version"):
        pinned_lowest(bad)
