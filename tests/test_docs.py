"""The code on the documentation pages runs.

Every Markdown page under `docs/` (the API pages excepted: their examples are the
docstrings, which run as doctests) is executed top to bottom in one namespace:

- a ```` ```python ```` block is executed as a script;
- a ```` ```pycon ```` block is a doctest: its `>>>` lines are run and their
  printed output compared (`...` and whitespace-insensitive);
- a ```` ```py ```` block is an illustration that is not run (code of another
  library, or a fragment), so choose it deliberately.
"""

from __future__ import annotations

import doctest
import re
import sys
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md") if _FENCE.search(p.read_text()))


def _blocks(page: Path) -> list[tuple[str, int, str]]:
    """The runnable blocks of a page as (language, line number, code)."""
    text = page.read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        language = match.group(1)
        if language in ("python", "pycon"):
            line = text.count("\n", 0, match.start(2)) + 1
            blocks.append((language, line, match.group(2)))
    return blocks


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_page_code_runs(page: Path):
    # The page runs as a module of its own (dataclasses such as equinox.Module look their
    # class's module up in sys.modules), compiled without this file's __future__ imports.
    module = types.ModuleType(f"docs.{page.stem}")
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    parser = doctest.DocTestParser()
    for language, line, code in _blocks(page):
        where = f"{page.name}:{line}"
        if language == "python":
            exec(compile(code, where, "exec", dont_inherit=True), namespace)
            continue
        test = parser.get_doctest(code, namespace, where, str(page), line - 1)
        runner = doctest.DocTestRunner(optionflags=_FLAGS)
        report: list[str] = []
        runner.run(test, out=report.append, clear_globs=False)
        assert runner.failures == 0, "".join(report)
        namespace.update(test.globs)  # a DocTest runs in a copy of the namespace


def test_the_home_page_example_is_checked():
    languages = [language for language, _, _ in _blocks(DOCS / "index.md")]
    assert "python" in languages and "pycon" in languages
