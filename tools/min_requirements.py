"""Print the lowest versions `pyproject.toml` declares, pinned, for `make test-min`.

Each runtime dependency declared as `name>=X` becomes `name==X` (one per line);
dependencies without a lower bound (`numpy`) are left for pip to resolve. The
minimum-versions venv is built from this output, so the versions it tests are the
declared ones and cannot drift from them.

Usage: `python tools/min_requirements.py [pyproject.toml]`.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_LOWER = re.compile(r"^(?P<name>[A-Za-z0-9_.\-\[\]]+)\s*>=\s*(?P<version>[^,;\s]+)\s*$")


def pinned_lowest(pyproject: Path) -> list[str]:
    """`["jax==0.7.0", ...]` for the runtime dependencies with a `>=` lower bound."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = []
    for requirement in dependencies:
        match = _LOWER.match(requirement)
        if match is None:
            if ">" in requirement or "<" in requirement or "=" in requirement:
                raise ValueError(
                    f"{pyproject}: dependency {requirement!r} is not of the form name>=version; "
                    "make test-min pins each lower bound, so declare it that way."
                )
            continue
        pins.append(f"{match['name']}=={match['version']}")
    return pins


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "pyproject.toml"
    print("\n".join(pinned_lowest(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
