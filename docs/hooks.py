"""MkDocs hook: table-of-contents entries keep the inline code of their headings.

Python-Markdown's toc (and mkdocs-jupyter's, for notebooks) stores a heading's plain
text as its toc title, so `## Deep stacks: `Stacked` and `fold`` appears in the
sidebar as "Deep stacks: Stacked and fold". After a page is rendered, this hook takes
each heading's HTML from the page itself and, when it holds `<code>`, uses it as the
toc title (links and permalink anchors removed: a toc entry is already a link).
It also repairs notebook toc anchors that miss their headings (see `on_page_content`).
"""

from __future__ import annotations

import re
from typing import Any

_HEADING = re.compile(r"<h([1-6])[^>]*\bid=\"([^\"]+)\"[^>]*>(.*?)</h\1>", re.DOTALL)
_ANCHOR = re.compile(r"<a\b[^>]*class=\"(?:headerlink|anchor-link)\"[^>]*>.*?</a>", re.DOTALL)
_LINK_TAG = re.compile(r"</?a\b[^>]*>")


def headings(content: str) -> list[tuple[int, str, str]]:
    """(level, id, inner HTML without links) of each heading of a rendered page, in order."""
    return [
        (int(m.group(1)), m.group(2), _LINK_TAG.sub("", _ANCHOR.sub("", m.group(3))).strip())
        for m in _HEADING.finditer(content)
    ]


def _flat(links: Any) -> list[Any]:
    return [item for link in links for item in (link, *_flat(link.children))]


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """Rewrites the page's toc titles (and notebook toc anchors); the content is unchanged.

    mkdocs-jupyter slugs a notebook's toc from a text in which the inline code is gone
    (`#contracting-and` for "Contracting: `dot` and `einsum`"), so its links can miss the
    headings. When a toc entry's id is not a heading's, the entry is matched to the
    page's headings in order (same level), and takes that heading's id.
    """
    if page.toc is None:
        return html
    found = headings(html)
    by_id = {heading_id: inner for _, heading_id, inner in found}
    links = _flat(page.toc)
    if any(link.id not in by_id for link in links):
        listed = [h for h in found if h[0] in {link.level for link in links}]
        if [h[0] for h in listed] == [link.level for link in links]:
            for link, (_, heading_id, _) in zip(links, listed):
                link.id = heading_id
    for link in links:
        inner = by_id.get(link.id)
        if inner is not None and "<code" in inner:
            link.title = inner
    return html
