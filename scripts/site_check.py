"""Open every page of the built course website in headless Chromium and fail on what a reader would see broken
(`make site-check`, after `make site`).

The site in ``site/_build/html`` is served on 127.0.0.1 (a free port) and each page is loaded in Debian's
Chromium (``/usr/bin/chromium``; ``apt-get install chromium``), driven by the Python ``playwright`` package
with ``executable_path`` (no browser is downloaded). A page fails when it has

* a console error or an uncaught JavaScript exception;
* a request that failed or answered >= 400 (a script, a style sheet, a font, an image), or any request to
  another host (the site must work offline);
* an image that did not load (``naturalWidth == 0``);
* an internal link to a page that does not exist, or to an anchor (``#id``) that the target page lacks;
* math that did not typeset: an element that myst marked as math (``.math``) without a MathJax
  ``mjx-container`` inside, a MathJax error (``mjx-merror``), or a ``$`` beside TeX left in the prose (math the
  Markdown parser did not recognise).

It saves screenshots (PNG) into the build folder: the home page (whole page), the models page, and one notebook
page (its top, and the view around its first animation or figure), and writes ``site_check.json`` there.

Usage: python scripts/site_check.py [--build site/_build] [--notebook 04] [--chromium /usr/bin/chromium]
"""
from __future__ import annotations

import argparse
import functools
import json
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urlparse

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Page-side checks, run after the page (and MathJax, when the page has math) finished.
PAGE_REPORT_JS = r"""
() => {
  const imgs = [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0,
                                               lazy: i.loading === 'lazy'}));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  const math = [...document.querySelectorAll('.math')];
  const untypeset = math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.trim().slice(0, 80));
  const merrors = [...document.querySelectorAll('mjx-merror')].map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80));
  // prose (outside code, outputs and typeset math) with a dollar sign and TeX in the same text: math that
  // the Markdown parser did not recognise, e.g. a display equation broken by a line that starts with "+"
  const leftover = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const n = walker.currentNode, t = n.nodeValue;
    if (!t.includes('$') || !/\\[A-Za-z]+|[_^]\{/.test(t)) continue;
    if (n.parentElement.closest('pre, code, script, style, .math, mjx-container, .cell_output')) continue;
    leftover.push(t.trim().replace(/\s+/g, ' ').slice(0, 120));
  }
  return {title: document.title, images: imgs, links, n_math: math.length,
          n_typeset: document.querySelectorAll('mjx-container').length, untypeset, merrors, leftover};
}
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the check's output readable
        pass


def serve(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)


@functools.lru_cache(maxsize=None)
def fetch_ids(url: str) -> tuple[int, frozenset]:
    """(HTTP status, ids in the document) of a same-site URL."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            status, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, frozenset()
    if "html" not in ctype:
        return status, frozenset()
    p = _Ids()
    p.feed(body.decode("utf-8", "replace"))
    return status, frozenset(p.ids)


def check_links(links: list[str], base: str) -> list[str]:
    problems = []
    for href in sorted(set(links)):
        if not href.startswith(base):
            continue  # other sites (Colab, GitHub): not followed, the check is offline
        page, frag = urldefrag(href)
        status, ids = fetch_ids(page)
        if status >= 400:
            problems.append(f"broken link {href[len(base) - 1:]} (HTTP {status})")
        elif frag and frag not in ids and page.endswith((".html", "/")):
            problems.append(f"broken anchor {href[len(base) - 1:]} (no id '{frag}' there)")
    return problems


def pick_notebook(html: Path, key: str) -> str:
    pages = sorted((html / "notebooks").glob(f"{key}*.html"))
    if not pages:
        raise SystemExit(f"no notebook page notebooks/{key}*.html in {html}")
    return f"notebooks/{pages[0].name}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, default=ROOT / "site" / "_build", help="build folder (html/ inside)")
    ap.add_argument("--notebook", default="04", help="notebook page to screenshot (prefix, default 04)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per page (load and MathJax)")
    a = ap.parse_args(argv)

    html = a.build / "html"
    if not (html / "index.html").exists():
        print(f"no site in {html}: run `make site` first", file=sys.stderr)
        return 2
    if not Path(a.chromium).exists():
        print(f"no Chromium at {a.chromium}: `apt-get install -y chromium` (Debian's package)", file=sys.stderr)
        return 2
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("the Python package playwright is missing: `make site-check` installs it (requirements-site.txt)",
              file=sys.stderr)
        return 2

    # every page; _static/ holds the theme's template fragments, not pages
    pages = sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                   if not p.relative_to(html).parts[0].startswith("_"))
    shots_dir = a.build / "screenshots"
    shots_dir.mkdir(parents=True, exist_ok=True)
    nb_page = pick_notebook(html, a.notebook)
    server, base = serve(html)
    report, failures = {}, 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="site-check-profile-") as profile, sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=a.chromium, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        try:
            for rel in pages:
                url = base + rel
                problems: list[str] = []
                page = ctx.new_page()
                page.on("console", lambda m, p=problems: m.type == "error" and p.append(
                    f"console error: {m.text[:200]} ({(m.location or {}).get('url', '')[len(base) - 1:]})"))
                page.on("pageerror", lambda e, p=problems: p.append(f"uncaught exception: {str(e)[:200]}"))
                page.on("requestfailed", lambda r, p=problems: p.append(
                    f"request failed: {r.url[len(base) - 1:] if r.url.startswith(base) else r.url} ({r.failure})"))
                page.on("response", lambda r, p=problems: r.status >= 400 and p.append(
                    f"HTTP {r.status}: {r.url[len(base) - 1:]}"))

                def route(rt, p=problems):
                    u = rt.request.url
                    if u.startswith(base) or u.startswith("data:") or u.startswith("blob:"):
                        rt.continue_()
                    else:
                        p.append(f"request to another host: {u[:120]}")
                        rt.abort()
                page.route("**/*", route)
                try:
                    page.goto(url, wait_until="load", timeout=a.timeout * 1000)
                    n_math = page.evaluate("() => document.querySelectorAll('.math').length")
                    if n_math:
                        try:
                            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                                   timeout=a.timeout * 1000)
                            page.evaluate("() => MathJax.startup.promise")
                        except Exception as e:  # noqa: BLE001 - reported as the page's failure
                            problems.append(f"MathJax did not load: {str(e).splitlines()[0][:150]}")
                    page.wait_for_load_state("networkidle", timeout=a.timeout * 1000)
                    info = page.evaluate(PAGE_REPORT_JS)
                except Exception as e:  # noqa: BLE001
                    problems.append(f"page did not load: {str(e).splitlines()[0][:200]}")
                    info = {"images": [], "links": [], "n_math": 0, "n_typeset": 0, "untypeset": [],
                            "merrors": [], "leftover": [], "title": ""}
                for img in info["images"]:
                    if not img["ok"]:
                        if img["lazy"] and fetch_ids(img["src"])[0] < 400:
                            continue  # lazy image below the fold: it exists on the server
                        problems.append(f"broken image: {img['src'][len(base) - 1:] if img['src'].startswith(base) else img['src']}")
                problems += check_links(info["links"], base)
                problems += [f"math not typeset: {t!r}" for t in info["untypeset"]]
                problems += [f"MathJax error: {t!r}" for t in info["merrors"]]
                problems += [f"math not recognised ($ and TeX left in the text): {t!r}" for t in info["leftover"]]

                if rel == "index.html":
                    page.screenshot(path=str(shots_dir / "home.png"), full_page=True)
                if rel == "models.html":
                    page.screenshot(path=str(shots_dir / "models.png"), full_page=True)
                if rel == nb_page:
                    page.screenshot(path=str(shots_dir / "notebook_top.png"))
                    target = page.locator("div.cell_output img[src$='.gif']")
                    if not target.count():
                        target = page.locator("div.cell_output img")
                    if target.count():
                        target.first.scroll_into_view_if_needed()
                        page.evaluate("() => window.scrollBy(0, -250)")
                        page.wait_for_timeout(300)
                        page.screenshot(path=str(shots_dir / "notebook_figure.png"))
                page.close()

                n_img = len(info["images"])
                print(f"{'FAIL' if problems else 'ok  '} {rel}: {n_img} images, "
                      f"{len([l for l in info['links'] if l.startswith(base)])} internal links, "
                      f"math {info['n_typeset']} typeset / {info['n_math']} marked"
                      + "".join(f"\n       {p}" for p in problems))
                failures += bool(problems)
                report[rel] = {"title": info["title"], "images": n_img, "math_marked": info["n_math"],
                               "math_typeset": info["n_typeset"], "problems": problems}
        finally:
            ctx.close()
            server.shutdown()
    seconds = time.perf_counter() - t0
    (a.build / "site_check.json").write_text(json.dumps(
        {"pages": len(pages), "failed": failures, "seconds": round(seconds, 1), "chromium": a.chromium,
         "screenshots": sorted(p.name for p in shots_dir.glob("*.png")), "report": report}, indent=1) + "\n")
    print(f"{len(pages) - failures} passed, {failures} failed: {len(pages)} pages in Chromium, {seconds:.0f} s; "
          f"screenshots in {shots_dir}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
