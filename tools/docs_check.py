"""Check the built documentation site in a headless browser (`make docs-check`).

Serves `site/` on localhost, opens the home page, the NamedArray API page, every
tutorial and every guide page in Chromium (driven by Playwright, with the system's
`/usr/bin/chromium`), saves a full-page screenshot of each into `site-check/`, and
fails when the rendered page shows one of these defects:

- **clipped**: an element whose content is wider than its box (`scrollWidth >
  clientWidth`) while it neither scrolls nor wraps (overflow other than auto/scroll);
- **wrapped output**: a notebook text output whose `white-space` is not `pre`;
- **empty API box**: a documented object (`.doc-object`) whose contents are empty;
- **raw math**: `$...$` holding TeX left as text, or an `.arithmatex` span without
  MathJax output;
- **toc lost code**: a heading with inline code whose table-of-contents entry has none;
- **toc broken link**: a table-of-contents entry whose anchor is no element of the page;
- **network**: any request that leaves localhost (the site must work offline), or a
  local file that is missing.

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
  const out = {clipped: [], empty_api_box: [], raw_math: [], missing_mathjax: [],
               toc_lost_code: [], toc_broken_link: [], wrapped_output: []};

  // Clipped: wider content than box, with no scrolling; report the innermost only.
  const overflowing = [];
  for (const el of article.querySelectorAll("*")) {
    if (!visible(el) || el.closest("mjx-container, svg, .md-tooltip, .md-clipboard")) continue;
    if (el.scrollWidth <= el.clientWidth + 1 || el.clientWidth === 0) continue;
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
    """(name, path): the home page, the NamedArray API page, every tutorial and guide page."""
    pages = [("home", ""), ("api_named_array", "api/named_array/")]
    for tutorial in sorted((site / "tutorials").glob("*/index.html")):
        pages.append((f"tutorial_{tutorial.parent.name}", f"tutorials/{tutorial.parent.name}/"))
    for guide in sorted(site.glob("*/index.html")):
        if guide.parent.name not in ("api", "tutorials", "assets", "search"):
            pages.append((f"guide_{guide.parent.name}", f"{guide.parent.name}/"))
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


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def check_page(context: Any, url: str, screenshot: Path) -> dict[str, list[str]]:
    """Loads one page, screenshots it and returns its defects by check."""
    page = context.new_page()
    network: list[str] = []
    missing: list[str] = []

    def route(request_route: Any) -> None:
        if request_route.request.url.startswith(url.split("/", 3)[0] + "//127.0.0.1"):
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
    page.screenshot(path=str(screenshot), full_page=True)
    found = page.evaluate(_DOM_CHECKS)
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
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
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
