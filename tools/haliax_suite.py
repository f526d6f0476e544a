"""Run Haliax's own test suite against namedax, through `namedax.install_as_haliax()`.

Usage (from the project root, in an environment where namedax is importable):

    python tools/haliax_suite.py HALIAX [FILE ...] [--rev REV] [--show N] [--reference PATH]

HALIAX is a Haliax checkout: a git directory (a clone's `.git`, or a bare mirror) whose
`tests/` are read at `--rev` (default `HEAD`), or a work tree that has a `tests/`
directory. FILE names test files under `tests/` (default: every `test*.py` and
`*_test.py` there). The files are copied to a temporary directory next to a
`conftest.py` that calls `namedax.install_as_haliax()`, so every `import haliax` in them
loads namedax, and pytest runs them on 8 simulated CPU devices.

The report gives, per file, the tests that passed and the tests counted; then each
failure with its first line; then `haliax-suite: P passed of N (X%)`. A test counts when
it ran and was not skipped. With `--reference`, a file of `name count` lines (the tests
Haliax itself passes per file, `#` comments allowed), a listed file counts that many
(or the number that passed, if more): a file that fails to import still counts in full,
and a test that Haliax itself fails does not count. The exit status is 0 when the run
completed (whatever the figures), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CONFTEST = "import namedax\n\nnamedax.install_as_haliax()\n"


@dataclass
class Report:
    """Per-file outcomes of one run."""

    passed: Counter = field(default_factory=Counter)
    counted: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def _git_dir(path: Path) -> Path | None:
    """The git directory of `path` (itself, or its `.git`), if it is one."""
    if _is_git_dir(path):
        return path
    if _is_git_dir(path / ".git"):
        return path / ".git"
    return None


def _is_test_file(name: str) -> bool:
    return name.endswith(".py") and (name.startswith("test") or name.endswith("_test.py"))


def collect_tests(checkout: Path, rev: str, dest: Path) -> list[str]:
    """Copies the checkout's `tests/` (at `rev` for a git directory) into `dest`.

    Returns the names of the test files, sorted.

    Raises:
        ValueError: If `checkout` is neither a git directory nor a work tree with `tests/`.
    """
    git_dir = _git_dir(checkout)
    if (checkout / "tests").is_dir():  # a work tree: its files as they are
        for item in (checkout / "tests").iterdir():
            if item.is_file():
                shutil.copy2(item, dest / item.name)
    elif git_dir is not None:
        archive = subprocess.run(
            ["git", f"--git-dir={git_dir}", "archive", rev, "tests"],
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            raise ValueError(
                f"haliax_suite: cannot read tests/ at {rev!r} from {git_dir}: "
                f"{archive.stderr.decode(errors='replace').strip()}"
            )
        with tempfile.TemporaryDirectory() as unpack:
            subprocess.run(["tar", "-x", "-C", unpack], input=archive.stdout, check=True)
            for item in (Path(unpack) / "tests").iterdir():
                if item.is_file():
                    shutil.copy2(item, dest / item.name)
    else:
        raise ValueError(
            f"haliax_suite: {checkout} is neither a git directory nor a work tree with tests/; "
            "pass a Haliax clone, its .git directory, or a bare mirror."
        )
    return sorted(p.name for p in dest.iterdir() if _is_test_file(p.name))


def read_reference(path: Path | None) -> dict[str, int]:
    """`{file: count}` from a reference file of `name count` lines (empty without a path)."""
    if path is None:
        return {}
    counts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        parts = line.split("#", 1)[0].split()
        if parts:
            counts[parts[0]] = int(parts[1]) if len(parts) > 1 else 0
    return counts


def run_pytest(workdir: Path, files: list[str], xml: Path, timeout: float) -> str:
    """Runs pytest on `files` in `workdir`; returns its combined output."""
    env = dict(os.environ)
    env.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    env.setdefault("JAX_PLATFORMS", "cpu")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-o",
        "filterwarnings=default",
        "-o",
        "junit_family=xunit1",
        "--continue-on-collection-errors",
        f"--rootdir={workdir}",
        "-c",
        os.devnull,
        f"--junitxml={xml}",
        *files,
    ]
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.stdout + done.stderr


def parse_junit(xml: Path, files: list[str]) -> Report:
    """Per-file passes, counted tests and failure lines from pytest's JUnit XML report."""
    report = Report()
    for case in ET.parse(xml).getroot().iter("testcase"):
        file = case.get("file") or (case.get("classname", "").split(".")[0] + ".py")
        name = Path(file).name
        outcome = {child.tag for child in case}
        if "skipped" in outcome:
            continue
        report.counted[name] += 1
        bad = [child for child in case if child.tag in ("failure", "error")]
        if bad:
            first = (bad[0].get("message") or bad[0].tag).strip().splitlines()
            report.failures.append(f"{name}::{case.get('name')}: {first[0][:160] if first else ''}")
        else:
            report.passed[name] += 1
    for name in files:  # a file that failed to import reports one error and no tests
        report.counted.setdefault(name, 0)
    return report


def format_report(report: Report, files: list[str], reference: dict[str, int], show: int) -> str:
    """The printed report: a line per file, the failures, and the total."""
    lines: list[str] = []
    total_passed = total_counted = 0
    for name in files:
        if name in reference:  # the tests Haliax itself passes (tests it fails do not count)
            counted = max(reference[name], report.passed[name])
        else:
            counted = max(report.counted[name], report.passed[name])
        total_passed += report.passed[name]
        total_counted += counted
        lines.append(f"{name:32s} {report.passed[name]:4d}/{counted}")
    for failure in report.failures[:show]:
        lines.append(f"FAIL {failure}")
    if len(report.failures) > show:
        lines.append(f"... {len(report.failures) - show} more failures (--show N prints more)")
    percent = 100.0 * total_passed / total_counted if total_counted else 0.0
    lines.append(f"haliax-suite: {total_passed} passed of {total_counted} ({percent:.1f}%)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("haliax", type=Path, help="a Haliax git directory or work tree")
    parser.add_argument("files", nargs="*", help="test files under tests/ (default: all)")
    parser.add_argument("--rev", default="HEAD", help="revision to read from a git directory")
    parser.add_argument("--show", type=int, default=40, help="failures to print")
    parser.add_argument("--reference", type=Path, help="file of `name count` lines")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for pytest")
    parser.add_argument("--keep", action="store_true", help="keep (and print) the work dir")
    args = parser.parse_args(argv)

    if not args.haliax.is_dir():
        print(f"haliax_suite: {args.haliax} is not a directory", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="haliax-suite-"))
    try:
        tests = workdir / "tests"
        tests.mkdir()
        try:
            available = collect_tests(args.haliax, args.rev, tests)
        except ValueError as error:
            print(error, file=sys.stderr)
            return 2
        files = args.files or available
        missing = [f for f in files if not (tests / f).is_file()]
        if missing:
            print(f"haliax_suite: no such test files under tests/: {missing}", file=sys.stderr)
            return 2
        (tests / "conftest.py").write_text(CONFTEST)
        xml = workdir / "report.xml"
        output = run_pytest(tests, files, xml, args.timeout)
        if not xml.is_file():
            print(output[-4000:])
            print("haliax_suite: pytest wrote no report (see its output above)", file=sys.stderr)
            return 1
        report = parse_junit(xml, files)
        print(format_report(report, files, read_reference(args.reference), args.show))
        return 0
    finally:
        if args.keep:
            print(f"work dir: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
