"""tools/haliax_suite.py: runs Haliax-style test files against namedax and reports figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "haliax_suite.py"
MIRROR = Path(os.environ.get("HALIAX_GIT_DIR", "/work/.mirror/marin-community+haliax/repo"))

PASSING = """
import haliax as hax
import namedax


def test_haliax_is_namedax():
    assert hax.NamedArray is namedax.NamedArray


def test_named_sum():
    x = hax.ones({"a": 3})
    assert float(hax.sum(x, "a").array) == 3.0
"""

FAILING = """
import haliax as hax
import pytest


def test_fails():
    assert hax.zeros({"a": 2}).shape == {"a": 3}


@pytest.mark.skip(reason="skipped tests are not counted")
def test_skipped():
    pass
"""


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, cwd=ROOT, timeout=600
    )


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    tests = tmp_path / "haliax" / "tests"
    tests.mkdir(parents=True)
    (tests / "test_pass.py").write_text(PASSING)
    (tests / "test_fail.py").write_text(FAILING)
    (tests / "test_broken.py").write_text("import haliax.no_such_module\n")
    (tests / "helpers.py").write_text("VALUE = 1\n")  # not a test file
    return tmp_path / "haliax"


def test_reports_per_file_and_total_figures(checkout: Path, tmp_path: Path):
    reference = tmp_path / "reference.txt"
    # test_fail.py: a test Haliax itself fails does not count
    reference.write_text("# name count\ntest_broken.py 4\ntest_pass.py 2\ntest_fail.py 0\n")
    done = run_tool(str(checkout), "--reference", str(reference))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == [
        f"{'test_broken.py':32s}    0/4",
        f"{'test_fail.py':32s}    0/0",
        f"{'test_pass.py':32s}    2/2",
    ]
    assert "FAIL test_fail.py::test_fails: AssertionError: assert {'a': 2} == {'a': 3}" in lines
    assert "FAIL test_broken.py::test_broken: collection failure" in lines
    assert lines[-1] == "haliax-suite: 2 passed of 6 (33.3%)"
    unreferenced = run_tool(str(checkout), "test_fail.py", "test_pass.py")
    assert unreferenced.stdout.splitlines()[-1] == "haliax-suite: 2 passed of 3 (66.7%)"


def test_selected_files_and_git_directories(checkout: Path):
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "add", "tests"], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(checkout),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "t",
        ],
        check=True,
    )
    (checkout / "tests" / "test_pass.py").unlink()  # read from git, not from the work tree
    done = run_tool(str(checkout / ".git"), "test_pass.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "haliax-suite: 2 passed of 2 (100.0%)"


def test_usage_errors(tmp_path: Path):
    assert run_tool(str(tmp_path / "nowhere")).returncode == 2
    done = run_tool(str(tmp_path))
    assert done.returncode == 2 and "neither a git directory nor a work tree" in done.stderr


def test_runs_a_file_of_haliaxs_own_suite():
    """On Haliax's own tests when a mirror is at hand, else on a copy of one written here."""
    if (MIRROR / "HEAD").is_file():
        done = run_tool(str(MIRROR), "test_field.py")
    else:  # keep the check meaningful without the mirror: a Haliax-style field test
        tree = Path(os.environ.get("TMPDIR", "/tmp")) / f"haliax-field-{os.getpid()}" / "tests"
        tree.mkdir(parents=True, exist_ok=True)
        (tree / "test_field.py").write_text(
            "import dataclasses, equinox as eqx, haliax as hax\n"
            "def test_field():\n"
            "    class M(eqx.Module):\n"
            "        w: object = hax.field(axis_names=('a',))\n"
            "    assert dataclasses.fields(M)[0].metadata['axis_names'] == ('a',)\n"
            "def test_field_default():\n"
            "    assert callable(hax.field)\n"
        )
        done = run_tool(str(tree.parent), "test_field.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "haliax-suite: 2 passed of 2 (100.0%)"
