"""Build the course website from the committed, executed notebooks (`make site`).

Nothing is executed: Sphinx with myst-nb (``nb_execution_mode = "off"``) renders each notebook with the
outputs it carries. The sources are laid out in ``<out>/src`` and the pages written to ``<out>/html``
(default ``site/_build``, git-ignored):

* ``site/*.md``, ``site/conf.py``, ``site/_static/``: the home page, the how-to-run page, the models page;
* ``notebooks/*.ipynb`` as ``notebooks/``, each with an *Open in Colab* badge added under its title (in the
  copy only; the committed notebooks are not touched), and ``notebooks/figures/``;
* ``docs/data.md`` and ``docs/gpu.md`` as ``docs/`` (copies);

In the copied notebooks and docs, relative links to repository files that are not pages of the site (a script,
a test, the README) are turned into links to the file on GitHub, so that they work on the site as on GitHub.
* ``_generated/course_map.md``, the home page's table, from ``site/course.json`` and the notebooks' titles;
* ``_generated/models.md``, the models page's body, from the records ``checkpoints/*.json``.

Files are rewritten only when their content changes, so a second build is incremental (a full build takes
about 5-10 s on 2 CPU cores). Sphinx runs with ``-W --keep-going``: any warning (a broken cross-reference, a
missing image, an output it cannot render) fails the build. MathJax is copied into ``_static/mathjax/``
(sphinx-mathjax-offline), so the pages typeset their math offline.

Usage: python scripts/build_site.py [--out DIR] [--clean]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
DOCS_INCLUDED = ("data.md", "gpu.md")
SITE_FILES = ("conf.py", "course.json", "index.md", "running.md", "models.md")


def load_course() -> dict:
    return json.loads((SITE / "course.json").read_text())


def colab_url(course: dict, nb_file: str) -> str:
    repo = course["repository"].rstrip("/").split("github.com/")[-1]
    return f"https://colab.research.google.com/github/{repo}/blob/{course['branch']}/notebooks/{nb_file}"


def record_url(course: dict, path: str) -> str:
    return f"{course['repository'].rstrip('/')}/blob/{course['branch']}/{path}"


def notebook_title(nb: dict, fallback: str) -> str:
    """The first Markdown heading of the notebook (its page title)."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def short_title(title: str) -> str:
    """'01 — Kernel density ...' -> 'Kernel density ...' (the number has its own column)."""
    return re.sub(r"^\d+\s*[—·:.\-–]\s*", "", title)


LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")


def in_site(path: Path) -> bool:
    """Whether a repository file is part of the site (so a relative link to it stays relative)."""
    rel = path.relative_to(ROOT).as_posix()
    return (rel.startswith("notebooks/") and (path.suffix == ".ipynb" or rel.startswith("notebooks/figures/"))
            or rel in {f"docs/{n}" for n in DOCS_INCLUDED})


def repo_links(text: str, folder: Path, course: dict) -> str:
    """Relative Markdown links from `folder` to repository files that are not pages of the site (a script, a
    test, the README) become links to the file on GitHub; links within the site are left as they are."""

    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"^[a-zA-Z][\w+.-]*:|^[#/]", target):
            return m.group(0)
        path_part, _, frag = target.partition("#")
        resolved = (folder / path_part).resolve()
        try:
            resolved.relative_to(ROOT)
        except ValueError:
            return m.group(0)
        if not resolved.exists() or in_site(resolved):
            return m.group(0)
        kind = "tree" if resolved.is_dir() else "blob"
        url = f"{course['repository'].rstrip('/')}/{kind}/{course['branch']}/{resolved.relative_to(ROOT).as_posix()}"
        return m.group(1) + url + (f"#{frag}" if frag else "") + m.group(3)

    return LINK.sub(fix, text)


def with_badge(nb: dict, url: str) -> dict:
    """A copy of the notebook with an Open-in-Colab badge under its title (first Markdown heading)."""
    nb = json.loads(json.dumps(nb))
    badge = f"[![Open In Colab](../_static/colab-badge.svg)]({url})"
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        lines = "".join(cell.get("source", "")).split("\n")
        for i, line in enumerate(lines):
            if line.startswith("# "):
                lines[i + 1:i + 1] = ["", badge, ""]
                cell["source"] = "\n".join(lines)
                return nb
        break
    nb["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": badge})
    return nb


# ----------------------------------------------------------------------------------------------- course map

def course_map(course: dict, titles: dict[str, str]) -> str:
    rows = ["```{list-table}", ":header-rows: 1", ":class: course-map", ":widths: 5 60 25 10", "",
            "* - no.", "  - notebook", "  - homework it solves", "  - Colab"]
    for entry in course["notebooks"]:
        f = entry["file"]
        stem = f.removesuffix(".ipynb")
        title = short_title(titles.get(f, stem))
        rows += [f"* - {stem[:2]}",
                 f"  - [{title}](notebooks/{stem}.ipynb)\\",
                 f"    {entry['content']}",
                 f"  - {entry['homework']}",
                 f"  - [![Open In Colab](_static/colab-badge.svg)]({colab_url(course, f)})"]
    rows.append("```")
    return "\n".join(rows) + "\n"


# ------------------------------------------------------------------------------------------------ models page

def _pct(x) -> str:
    return f"{100 * float(x):.1f}%"


def _minutes(seconds) -> str:
    s = float(seconds)
    return f"{s / 3600:.1f} h" if s >= 5400 else f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"


def _get(d: dict, path: str):
    for key in path.split("."):
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def what_it_is(r: dict) -> str:
    model = str(r.get("model") or "a model")
    if "**arch_kwargs" in model and isinstance(r.get("arch_kwargs"), dict):
        model = model.replace("**arch_kwargs", ", ".join(f"{k}={v!r}" for k, v in r["arch_kwargs"].items()))
    parts = [f"`{model}`"]
    kwargs = r.get("model_kwargs") or None
    if kwargs:
        parts.append("(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")")
    kind = _get(r, "config.kind")
    if kind:
        label = {"gan": "GAN", "wgan": "WGAN (weight clipping)", "wgan-gp": "WGAN-GP"}.get(kind, kind)
        if _get(r, "config.noise_std"):
            label += f" with instance noise (std {_get(r, 'config.noise_std')})"
        parts.append(f"— {label} generator")
    if r.get("method"):
        proximal = r["method"] == "jem" and _get(r, "sampler.bound")
        parts.append(f"— {'JEM with proximal SGLD' if proximal else dict(jem='JEM', jempp='JEM++').get(r['method'], r['method'])}")
    if r.get("variant_description"):
        parts.append(f"— {r['variant_description']}")
    seed = r.get("seed")
    if seed is not None:
        parts.append(f"; seed {seed}" if not isinstance(seed, list) else f"; seeds {', '.join(map(str, seed))}")
    return " ".join(parts).replace(" ;", ";")


def short_command(cmd: str, limit: int = 110) -> str:
    """The command without a free-text --note and cut to about `limit` characters (the record has it whole)."""
    cmd = re.split(r"\s--note\b", cmd, maxsplit=1)[0].strip()
    if len(cmd) <= limit:
        return cmd
    return cmd[:limit].rsplit(" ", 1)[0] + " …"


def how_trained(r: dict) -> str:
    bits = []
    if r.get("command"):
        bits.append(f"`{short_command(str(r['command']))}`")
    if r.get("epochs"):
        planned = r.get("planned_epochs")
        bits.append(f"{r['epochs']} epochs" + (f" of {planned} planned" if planned and planned != r["epochs"] else ""))
    elif r.get("iterations"):
        bits.append(f"{r['iterations']:,} iterations")
    secs = r.get("train_seconds", r.get("stages_train_seconds"))
    if secs:
        bits.append(f"{_minutes(secs)} of training (wall clock"
                    + (f", {r['device'].upper()})" if r.get("device") else ")"))
    if r.get("averaged_from"):
        bits.append(f"weights averaged over {len(r['averaged_from'])} snapshots")
    return ", ".join(bits) if bits else "see the record"


def evaluation_headline(r: dict) -> str:
    """The record's main evaluation numbers, in words (the first that exist of a fixed list)."""
    out = []
    if r.get("heldout_accuracy") is not None:
        s = f"held-out accuracy {_pct(r['heldout_accuracy'])}"
        if r.get("baseline_heldout_accuracy") is not None:
            s += f" (the classifier it started from: {_pct(r['baseline_heldout_accuracy'])})"
        out.append(s)
    if _get(r, "metrics.test_accuracy") is not None:
        out.append(f"test accuracy {_pct(_get(r, 'metrics.test_accuracy'))}")
    if r.get("test_psnr_db") is not None:
        out.append(f"test PSNR {r['test_psnr_db']:.1f} dB")
    if r.get("test_perplexity") is not None:
        n = _get(r, "model_kwargs.num_codes")
        out.append(f"codebook perplexity {r['test_perplexity']:.1f}" + (f" of {n} codes" if n else ""))
    if _get(r, "metrics.fd") is not None:
        out.append(f"Fréchet distance to the test digits {_get(r, 'metrics.fd'):.1f} (classifier features)")
    if _get(r, "metrics.min_class") is not None and _get(r, "metrics.class_entropy") is not None:
        out.append(f"rarest digit {_pct(_get(r, 'metrics.min_class'))} of the samples")
    ev = r.get("evaluation") if isinstance(r.get("evaluation"), dict) else {}
    if ev.get("conditional_share") is not None:
        out.append(f"{_pct(ev['conditional_share'])} of conditional samples classified as their class")
    if ev.get("c2st_accuracy") is not None:
        ci = ev.get("c2st_ci95")
        out.append(f"two-sample-test accuracy {ev['c2st_accuracy']:.2f}"
                   + (f" (95% CI {ci[0]:.2f}-{ci[1]:.2f}; 0.5 = indistinguishable from digits)" if ci else ""))
    if ev.get("mean_max_prob") is not None:
        out.append(f"classifier confidence on samples {ev['mean_max_prob']:.2f}")
    if ev.get("auroc_ood") is not None:
        out.append(f"out-of-distribution AUROC {ev['auroc_ood']:.2f}")
    qb = r.get("quality_bar")
    if isinstance(qb, dict) and qb.get("mean_max_prob") is not None:
        out.append(f"samples' mean classifier confidence {qb['mean_max_prob']:.2f}, rarest digit "
                   f"{_pct(qb.get('min_class_fraction', 0))} ({qb.get('n', '?')} chains)")
    smp = r.get("samples")
    if isinstance(smp, dict) and smp.get("share_conf_gt_0.9") is not None:
        out.append(f"{_pct(smp['share_conf_gt_0.9'])} of {smp.get('n', '')} samples classified with confidence > 0.9")
    return "; ".join(out) if out else "see the record"


def data_line(r: dict) -> str | None:
    d = r.get("data")
    if isinstance(d, dict):
        d = d.get("name")
    return str(d) if d else None


def models_page(course: dict, titles: dict[str, str]) -> str:
    records = {}
    for p in sorted((ROOT / "checkpoints").glob("*.json")):
        try:
            records[p.name] = json.loads(p.read_text())
        except (OSError, ValueError) as e:  # a record being rewritten right now: say so, don't fail
            records[p.name] = {"_error": str(e)}
    weights = {n: r for n, r in records.items()
               if isinstance(r, dict) and str(r.get("file", "")).endswith(".pt") and not r.get("of")}
    companions = {n: r for n, r in records.items() if isinstance(r, dict) and r.get("of")}
    others = {n: r for n, r in records.items() if n not in weights and n not in companions}

    def users(name: str) -> list[dict]:
        return [e for e in course["notebooks"] if any(name.startswith(p) for p in e.get("checkpoints", []))]

    lines = []
    shown = set()
    for entry in course["notebooks"]:
        mine = [n for n in weights if entry in users(n)]
        if not mine:
            continue
        stem = entry["file"].removesuffix(".ipynb")
        lines += [f"## {titles.get(entry['file'], stem)}", "",
                  f"Loaded by the notebook [{stem}](notebooks/{stem}.ipynb).", ""]
        again = [n for n in mine if n in shown]
        for name in mine:
            if name in shown:
                continue
            shown.add(name)
            r = weights[name]
            notes = []
            if r.get("smoke"):
                notes.append("**smoke record**: a few iterations of a test run, not the trained model; "
                             "the full run's record replaces it")
            if r.get("complete") is False:
                notes.append("**training not finished**")
            extra = [c["file"] for c in companions.values() if c.get("of") == r["file"]]
            lines.append(f"**`{r['file']}`**: {what_it_is(r)}" + (f" ({'; '.join(notes)})" if notes else ""))
            lines.append("")
            lines.append(f"* trained: {how_trained(r)}")
            if data_line(r):
                lines.append(f"* data: {data_line(r)}")
            lines.append(f"* evaluation: {evaluation_headline(r)}")
            if extra:
                lines.append(f"* ships with: {', '.join(f'`{e}`' for e in extra)}")
            lines.append(f"* record: [checkpoints/{name}]({record_url(course, 'checkpoints/' + name)})")
            lines.append("")
        if again:
            lines += ["Also loads " + ", ".join(f"`{weights[n]['file']}`" for n in again) + " (above).", ""]
    unused = [n for n in weights if n not in shown]
    if unused:
        lines += ["## Other checkpoints", ""]
        for n in unused:
            lines.append(f"* **`{weights[n]['file']}`**: {what_it_is(weights[n])}; evaluation: "
                         f"{evaluation_headline(weights[n])}")
        lines.append("")
    if others:
        lines += ["## Records of searches", "",
                  "Records without weights of their own: the trials behind a shipped model.", ""]
        for n, r in others.items():
            what = r.get("what", "") if isinstance(r, dict) else ""
            first = re.split(r"(?<=\.)\s", str(what), maxsplit=1)[0] if what else ""
            lines.append(f"* [checkpoints/{n}]({record_url(course, 'checkpoints/' + n)})" + (f": {first}" if first else ""))
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- staging

class Stager:
    """Writes files under `src`, each only when its bytes change; removes what was not written."""

    def __init__(self, src: Path):
        self.src = src
        self.written: set[Path] = set()

    def write(self, rel: str, data: bytes) -> None:
        p = self.src / rel
        self.written.add(p)
        if p.exists() and p.read_bytes() == data:
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def copy(self, rel: str, source: Path) -> None:
        self.write(rel, source.read_bytes())

    def prune(self) -> None:
        for p in sorted(self.src.rglob("*"), reverse=True):
            if p.is_file() and p not in self.written:
                p.unlink()
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()


def stage(src: Path) -> list[str]:
    course = load_course()
    st = Stager(src)
    for name in SITE_FILES:
        st.copy(name, SITE / name)
    for p in sorted((SITE / "_static").rglob("*")):
        if p.is_file():
            st.copy(str(p.relative_to(SITE)), p)
    titles, pages = {}, []
    listed = [e["file"] for e in course["notebooks"]]
    for p in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(p.read_text())
        titles[p.name] = notebook_title(nb, p.stem)
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "markdown":
                src = "".join(cell.get("source", ""))
                fixed = repo_links(src, ROOT / "notebooks", course)
                if fixed != src:
                    cell["source"] = fixed
        staged = with_badge(nb, colab_url(course, p.name))
        st.write(f"notebooks/{p.name}", (json.dumps(staged, indent=1, ensure_ascii=False) + "\n").encode())
        pages.append(f"notebooks/{p.stem}")
    missing = [f for f in listed if f not in titles]
    if missing:
        raise SystemExit(f"site/course.json lists notebooks that are not in notebooks/: {missing}")
    unlisted = sorted(set(titles) - set(listed))
    if unlisted:
        raise SystemExit(f"notebooks/ has notebooks that site/course.json does not list: {unlisted}")
    for p in sorted((ROOT / "notebooks" / "figures").glob("*")):  # images that Markdown cells may show
        if p.is_file():
            st.copy(f"notebooks/figures/{p.name}", p)
    for name in DOCS_INCLUDED:
        st.write(f"docs/{name}", repo_links((ROOT / "docs" / name).read_text(), ROOT / "docs", course).encode())
    st.write("_generated/course_map.md", course_map(course, titles).encode())
    st.write("_generated/models.md", models_page(course, titles).encode())
    st.prune()
    return pages


def build(out: Path, clean: bool = False, jobs: int = 1) -> Path:
    out = out.resolve()
    src, html, doctrees = out / "src", out / "html", out / "doctrees"
    if clean:
        shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    stage(src)
    env = dict(os.environ, PYTHONHASHSEED="0")
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-d", str(doctrees), "-j", str(jobs),
           "-q", "-W", "--keep-going", str(src), str(html)]
    proc = subprocess.run(cmd, env=env, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"sphinx-build failed (exit {proc.returncode}): {' '.join(cmd)}")
    if not (html / "_static" / "mathjax" / "tex-chtml.js").exists():
        raise SystemExit("the build has no _static/mathjax/tex-chtml.js: is sphinx-mathjax-offline installed?")
    print(f"site built in {time.perf_counter() - t0:.1f} s: {html / 'index.html'}")
    return html


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=SITE / "_build", help="build folder (default site/_build)")
    ap.add_argument("--clean", action="store_true", help="delete the build folder first")
    ap.add_argument("-j", "--jobs", default=1, help="Sphinx parallel jobs (default 1)")
    a = ap.parse_args(argv)
    build(a.out, clean=a.clean, jobs=a.jobs)


if __name__ == "__main__":
    main()
