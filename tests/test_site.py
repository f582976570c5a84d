"""The course website builds from the committed notebooks, and its HTML holds together (plain Python, no browser).

Builds the site once into a temporary folder with scripts/build_site.py (Sphinx + myst-nb, notebooks not
executed; about 5-10 s on 2 CPU cores), then reads the HTML: every notebook has its page, with as many output
images as the notebook has image outputs; every image and internal link of every page points at a file that
exists (and at an id that exists, for links with #anchors); the home page links every notebook page and its
Colab URL; the math is marked for MathJax, which is served from the build itself. The browser check
(console errors, typeset math, screenshots) is `make site-check` (scripts/site_check.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

pytest.importorskip("myst_nb", reason="the site's packages are missing: pip install -r requirements-site.txt")
pytest.importorskip("sphinx_book_theme", reason="pip install -r requirements-site.txt")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COURSE = json.loads((ROOT / "site" / "course.json").read_text())


class Page(HTMLParser):
    """Images, links, ids, scripts and output images of one HTML page."""

    def __init__(self):
        super().__init__()
        self.imgs, self.links, self.ids, self.scripts = [], [], set(), []
        self.output_imgs = 0
        self.n_math = 0
        self._output_depth = 0  # > 0 inside <div class="cell_output ...">
        self._stack: list[bool] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        classes = (a.get("class") or "").split()
        if tag == "div":
            opens = "cell_output" in classes
            self._stack.append(opens)
            self._output_depth += opens
        if "math" in classes:
            self.n_math += 1
        if tag == "img":
            self.imgs.append(a.get("src", ""))
            self.output_imgs += self._output_depth > 0
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])

    def handle_endtag(self, tag):
        if tag == "div" and self._stack:
            self._output_depth -= self._stack.pop()


def parse(path: Path) -> Page:
    p = Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def local_target(page: Path, ref: str) -> tuple[Path, str] | None:
    """The file (and anchor) a relative reference points at; None for other sites, mailto:, data: URIs."""
    u = urlparse(ref)
    if u.scheme or u.netloc or ref.startswith("//"):
        return None
    path, frag = urldefrag(ref)
    target = page if not path else (page.parent / unquote(path)).resolve()
    if target.is_dir():
        target = target / "index.html"
    return target, frag


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_site.py"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"site build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return out / "html"


@pytest.fixture(scope="module")
def pages(site) -> dict[Path, Page]:
    return {p: parse(p) for p in site.rglob("*.html") if not p.relative_to(site).parts[0].startswith("_")}


def test_course_map_lists_every_notebook():
    assert [e["file"] for e in COURSE["notebooks"]] == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_page_has_its_outputs(site, pages, nb):
    html = site / "notebooks" / f"{nb.stem}.html"
    assert html.exists(), f"no page for {nb.name}"
    cells = json.loads(nb.read_text())["cells"]
    n_images = sum(1 for c in cells for o in c.get("outputs", [])
                   if {"image/png", "image/gif", "image/jpeg", "image/svg+xml"} & set(o.get("data", {})))
    page = pages[html]
    assert page.output_imgs == n_images, f"{nb.name}: {n_images} image outputs, {page.output_imgs} on its page"
    has_math = any("$" in "".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    if has_math:
        assert page.n_math > 0, f"{nb.name}: the Markdown has $...$ but the page no math elements"
        assert any(s.endswith("_static/mathjax/tex-chtml.js") for s in page.scripts), \
            f"{nb.name}: the page does not load the local MathJax"
    colab = f"https://colab.research.google.com/github/{COURSE['repository'].split('github.com/')[-1]}/blob/" \
            f"{COURSE['branch']}/notebooks/{nb.name}"
    assert colab in page.links, f"{nb.name}: no Open-in-Colab link on its page"


def test_home_page_links_every_notebook_and_colab(site, pages):
    home = pages[site / "index.html"]
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}.html" in home.links, f"home page: no link to {nb.stem}"
        assert any(l.startswith("https://colab.research.google.com/") and l.endswith(f"/notebooks/{nb.name}")
                   for l in home.links), f"home page: no Colab link for {nb.name}"


def test_every_image_and_internal_link_resolves(site, pages):
    missing = []
    for path, page in pages.items():
        rel = path.relative_to(site)
        for src in page.imgs:
            t = local_target(path, src)
            if t and not t[0].exists():
                missing.append(f"{rel}: image {src}")
        for href in page.links:
            t = local_target(path, href)
            if t is None:
                continue
            target, frag = t
            if not target.exists():
                missing.append(f"{rel}: link {href}")
            elif frag and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if frag not in ids:
                    missing.append(f"{rel}: link {href} (no id {frag!r})")
        for src in page.scripts:
            t = local_target(path, src.split("?")[0])
            if t is None:
                missing.append(f"{rel}: script from another host {src}")
            elif not t[0].exists():
                missing.append(f"{rel}: script {src}")
    assert not missing, "\n".join(missing[:50])


def test_models_page_lists_every_shipped_checkpoint(site):
    text = (site / "models.html").read_text(encoding="utf-8")
    for rec in sorted((ROOT / "checkpoints").glob("*.json")):
        r = json.loads(rec.read_text())
        if str(r.get("file", "")).endswith(".pt") and not r.get("of"):
            assert r["file"] in text, f"models page: {r['file']} missing"


def test_site_pages(site):
    for name in ("index.html", "running.html", "models.html", "docs/data.html", "docs/gpu.html"):
        assert (site / name).exists(), name
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()
