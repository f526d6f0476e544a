"""Check the built documentation site in a headless browser (`make docs-check`).

Serves `site/` on localhost, opens the home page, every API page, every tutorial and
every guide page in Chromium (driven by Playwright, with the system's
`/usr/bin/chromium`, scrollbars drawn as a reader sees them), saves a full-page
screenshot of each into `site-check/`, and fails when the rendered page shows one of
these defects:

- **clipped**: an element whose content is wider than its box (`scrollWidth >
  clientWidth`) while it neither scrolls nor wraps (overflow other than auto/scroll);
- **hidden scroll**: a wide code block that scrolls but draws no scrollbar (the reader
  sees a line cut off);
- **copy button covers code**: the copy button of a code block overlaps the text of
  its first line;
- **page too tall**: a page taller than `MAX_PAGE_HEIGHT` pixels (split it);
- **wrapped output**: a notebook text output whose `white-space` is not `pre`;
- **empty API box**: a documented object (`.doc-object`) whose contents are empty;
- **raw math**: `$...$` holding TeX left as text, or an `.arithmatex` span without
  MathJax output;
- **toc lost code**: a heading with inline code whose table-of-contents entry has none;
- **toc broken link**: a table-of-contents entry whose anchor is no element of the page;
- **network**: any request that leaves localhost (the site must work offline), or a
  local file that is missing.

It also types a query into the search box of the home page, once served over http and
once opened from disk (`file://`, as the README says to open it), and fails when no
result appears.

Usage: `python tools/docs_check.py [SITE_DIR] [--out DIR] [--chromium PATH]`.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MAX_PAGE_HEIGHT = 30_000
"""The tallest page allowed, in CSS pixels at a 1280 px wide window."""

_TALLEST_VIEWPORT = 16_000  # Chromium draws a window at most this tall in one piece

SEARCH_QUERY = "scalar"
"""A word that the search index must find (in the API reference and the guides)."""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Runs in the page; returns {check: [description, ...]}.
_DOM_CHECKS = r"""
() => {
  const article = document.querySelector("article") || document.body;
  const visible = (el) => el.offsetParent !== null || el.getClientRects().length > 0;
  const label = (el) => {
    const cls = (el.className && el.className.baseVal === undefined) ? el.className : "";
    const text = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 60);
    return `<${el.tagName.toLowerCase()}${cls ? ' class="' + cls + '"' : ""}> "${text}"`;
  };
  const out = {clipped: [], hidden_scroll: [], copy_button_covers_code: [],
               page_too_tall: [], empty_api_box: [], raw_math: [], missing_mathjax: [],
               toc_lost_code: [], toc_broken_link: [], wrapped_output: []};

  // Clipped: wider content than box, with no scrolling; report the innermost only.
  const overflowing = [];
  for (const el of article.querySelectorAll("*")) {
    if (!visible(el) || el.closest("mjx-container, svg, .md-tooltip, .md-clipboard")) continue;
    // 3 px of slack: the padding of inline code that ends a line may spill that far.
    if (el.scrollWidth <= el.clientWidth + 3 || el.clientWidth === 0) continue;
    const style = getComputedStyle(el);
    if (style.overflowX === "auto" || style.overflowX === "scroll") continue;
    if (style.display.startsWith("inline")) continue;
    overflowing.push(el);
  }
  // Content that sticks out only through children that scroll themselves (Material's
  // table wrappers, which have negative margins) is not clipped.
  const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const onlyScrollers = (el) => {
    const right = el.getBoundingClientRect().right + 1;
    const insideScroller = (c) => {
      for (let p = c.parentElement; p && p !== el; p = p.parentElement) if (scrolls(p)) return true;
      return false;
    };
    const out = [...el.querySelectorAll("*")].filter(
      (c) => visible(c) && c.getBoundingClientRect().right > right && !insideScroller(c));
    return out.every((c) => scrolls(c) || out.some((o) => o !== c && o.contains(c)));
  };
  for (const el of overflowing) {
    if (onlyScrollers(el)) continue;
    if (!overflowing.some((other) => other !== el && el.contains(other))) {
      out.clipped.push(`${label(el)} content ${el.scrollWidth}px in a ${el.clientWidth}px box`);
    }
  }

  // Wide content that scrolls must show its scrollbar (not an invisible overlay one).
  for (const el of article.querySelectorAll("pre > code, pre, .doc-signature, table")) {
    if (!visible(el) || el.scrollWidth <= el.clientWidth + 1 || el.clientWidth === 0) continue;
    const style = getComputedStyle(el);
    if (!["auto", "scroll"].includes(style.overflowX)) continue;
    const borders = parseFloat(style.borderTopWidth) + parseFloat(style.borderBottomWidth);
    const bar = el.offsetHeight - el.clientHeight - borders;
    if (bar < 6) {
      out.hidden_scroll.push(
        `${label(el)} ${el.scrollWidth}px wide in a ${el.clientWidth}px box, scrollbar ${bar}px`);
    }
  }

  // The copy button (Material's .md-code__nav) must not cover the first line of code.
  const intersects = (a, b) =>
    a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  for (const nav of article.querySelectorAll("pre > .md-code__nav")) {
    const code = nav.parentElement.querySelector(":scope > code");
    if (!code || !visible(nav)) continue;
    const navBox = nav.getBoundingClientRect();
    const codeBox = code.getBoundingClientRect();
    const walk = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    let covered = false;
    for (let node = walk.nextNode(); node && !covered; node = walk.nextNode()) {
      const end = node.textContent.indexOf("\n");
      range.setStart(node, 0);
      range.setEnd(node, end === -1 ? node.textContent.length : end);
      for (const r of range.getClientRects()) {
        // Only the part of the line inside the code box is visible at all.
        const shown = {left: Math.max(r.left, codeBox.left),
                       right: Math.min(r.right, codeBox.right), top: r.top, bottom: r.bottom};
        if (shown.right > shown.left && intersects(shown, navBox)) covered = true;
      }
      if (end !== -1) break;
    }
    if (covered) out.copy_button_covers_code.push(label(code));
  }

  const height = document.documentElement.scrollHeight;
  if (height > MAX_HEIGHT) out.page_too_tall.push(`${height}px (at most ${MAX_HEIGHT}px)`);

  // Notebook text outputs keep their lines (no wrapping by character).
  for (const pre of article.querySelectorAll(".jp-OutputArea-output pre")) {
    const ws = getComputedStyle(pre).whiteSpace;
    if (ws !== "pre") out.wrapped_output.push(`${label(pre)} has white-space: ${ws}`);
  }

  // Empty API boxes.
  for (const box of article.querySelectorAll(".doc-object")) {
    const contents = box.querySelector(":scope > .doc-contents");
    const heading = box.querySelector(".doc-heading");
    if (contents && contents.textContent.trim() === "" && !contents.querySelector("img, svg")) {
      out.empty_api_box.push(heading ? heading.id || label(heading) : label(box));
    }
  }

  // Raw TeX between dollars in text (not code), and arithmatex spans MathJax did not render.
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const tex = /\$[^$\n]*[\\^_{}][^$\n]*\$/;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("code, pre, script, style, mjx-container, .highlight")) continue;
    if (tex.test(node.textContent)) out.raw_math.push(label(parent));
  }
  for (const span of article.querySelectorAll(".arithmatex")) {
    if (!span.querySelector("mjx-container")) out.missing_mathjax.push(label(span));
  }

  // Headings with inline code keep it in the table of contents.
  const toc = document.querySelector(".md-sidebar--secondary nav");
  for (const h of article.querySelectorAll("h2[id], h3[id], h4[id]")) {
    if (!h.querySelector(":scope > code") || h.closest(".doc-object")) continue;
    const link = toc && toc.querySelector(`a[href="#${CSS.escape(h.id)}"]`);
    if (link && !link.querySelector("code")) {
      out.toc_lost_code.push(`#${h.id}: "${link.textContent.trim()}"`);
    }
  }
  for (const link of (toc ? toc.querySelectorAll('a[href^="#"]') : [])) {
    const target = decodeURIComponent(link.getAttribute("href").slice(1));
    if (target && !document.getElementById(target)) {
      out.toc_broken_link.push(`${link.getAttribute("href")}: "${link.textContent.trim()}"`);
    }
  }
  return out;
}
"""

_WAIT_FOR_MATH = """
async () => {
  if (!document.querySelector(".arithmatex")) return "no math";
  for (let i = 0; i < 100 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!(window.MathJax && MathJax.startup)) return "MathJax did not load";
  await MathJax.startup.promise;
  if (MathJax.typesetPromise) await MathJax.typesetPromise();
  return "typeset";
}
"""


def pages_to_check(site: Path) -> list[tuple[str, str]]:
    """(name, path): the home page, every API page, every tutorial and guide page.

    The site is built for reading from disk (mkdocs-material's offline plugin), so each
    page is a `.html` file rather than a directory.
    """
    pages = [("home", "index.html")]
    for folder in ("api", "tutorials"):
        for page in sorted((site / folder).glob("*.html")):
            pages.append((f"{folder}_{page.stem}", f"{folder}/{page.name}"))
    for guide in sorted(site.glob("*.html")):
        if guide.name not in ("index.html", "404.html"):
            pages.append((f"guide_{guide.stem}", guide.name))
    return pages


@contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serves `site` on a free localhost port for the duration of the block."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _is_local(url: str) -> bool:
    """Whether a request stays on this machine (the local server, a file, inline data)."""
    return url.startswith(("http://127.0.0.1:", "file://", "data:", "blob:", "about:"))


def check_search(context: Any, url: str, screenshot: Path) -> list[str]:
    """Types `SEARCH_QUERY` into the search box of `url`; the problems found (none: it works).

    The window with the results (or without) is saved to `screenshot`.
    """
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    page.route("**/*", lambda r: r.continue_() if _is_local(r.request.url) else r.abort())
    page.goto(url, wait_until="load")
    page.click("input.md-search__input")
    # The index loads in a worker after the page; a query typed before it is ready is
    # not run again, so type it again (as a reader would) until results come or 30 s pass.
    page.keyboard.type(SEARCH_QUERY)
    count = 0
    for _ in range(30):
        page.wait_for_timeout(1000)
        count = page.locator(".md-search-result__item").count()
        if count:
            break
        page.keyboard.press("Backspace")
        page.keyboard.type(SEARCH_QUERY[-1])
    if not count:
        meta = (page.locator(".md-search-result__meta").text_content() or "").strip()
        errors.append(f"no result for {SEARCH_QUERY!r} in 30 s (the result box says {meta!r})")
    page.screenshot(path=str(screenshot))
    page.close()
    return errors


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def check_page(context: Any, url: str, screenshot: Path) -> dict[str, list[str]]:
    """Loads one page, screenshots it and returns its defects by check."""
    page = context.new_page()
    network: list[str] = []
    missing: list[str] = []

    def route(request_route: Any) -> None:
        if _is_local(request_route.request.url):
            request_route.continue_()
        else:
            network.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    response = page.goto(url, wait_until="load")
    if response is None or response.status != 200:
        missing.append(url)
    math = page.evaluate(_WAIT_FOR_MATH)
    page.wait_for_timeout(300)
    # Checked before the screenshot: a full-page screenshot hides the scrollbars for good.
    found = page.evaluate(_DOM_CHECKS.replace("MAX_HEIGHT", str(MAX_PAGE_HEIGHT)))
    height = page.evaluate("document.documentElement.scrollHeight")
    if height <= _TALLEST_VIEWPORT:  # the whole page in one window: scrollbars as drawn
        page.set_viewport_size({"width": 1280, "height": height})
        page.wait_for_timeout(200)
        page.screenshot(path=str(screenshot))
    else:
        page.screenshot(path=str(screenshot), full_page=True)
    if math == "MathJax did not load":
        found["missing_mathjax"].insert(0, math)
    found["network"] = network
    found["missing_file"] = missing
    page.close()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", default="site", type=Path)
    parser.add_argument("--out", default="site-check", type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").exists():
        print(f"docs-check: {args.site}/index.html not found; run `make docs` first.")
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    with serve(args.site) as base, sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=args.chromium,
            args=CHROMIUM_FLAGS,
            # Playwright hides scrollbars in headless mode; a reader sees them.
            ignore_default_args=["--hide-scrollbars"],
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        from_disk = (args.site / "index.html").resolve().as_uri()
        for where, url in [("http", base), ("file://", from_disk)]:
            shot = args.out / f"search_{where.strip(':/')}.png"
            problems = check_search(context, url, shot)
            failures += len(problems)
            print(f"docs-check: {'ok' if not problems else 'FAIL':4} search over {where}")
            for item in problems:
                print(f"      - {item}")
        for name, path in pages_to_check(args.site):
            found = check_page(context, base + path, args.out / f"{name}.png")
            problems = {check: items for check, items in found.items() if items}
            status = "ok" if not problems else "FAIL"
            print(f"docs-check: {status:4} /{path}  (screenshot {args.out / name}.png)")
            for check, items in problems.items():
                failures += len(items)
                print(f"    {check}: {len(items)}")
                for item in items[:8]:
                    print(f"      - {item}")
                if len(items) > 8:
                    print(f"      ... and {len(items) - 8} more")
        context.close()
    print(f"docs-check: {'passed' if not failures else f'{failures} defects'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
