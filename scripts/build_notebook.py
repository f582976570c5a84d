"""Build notebooks/NN_name.ipynb from notebooks/src/NN_name.py (jupytext 'percent' format).

Cells start at lines `# %%` (code) or `# %% [markdown]` (Markdown, each line prefixed by '# ').
A line `# %% setup` becomes the standard set-up cell that every notebook shares. A code cell
whose source is unchanged keeps the outputs it had in the existing notebook (so prose can be
edited after `make run` without running again); changed cells come without outputs. Usage: python scripts/build_notebook.py notebooks/src/01_*.py ...
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

SETUP_CELL = '''\
# Set-up, the same in every notebook. In Colab: clone and install the project, and pick
# Runtime > Change runtime type > GPU. Locally (`make run`, `make test`): imports only.
import os, sys
if "google.colab" in sys.modules:
    import subprocess
    # the project's git URL and the clone's folder (set GENMODELS_REPO_URL / GENMODELS_COLAB_DIR to change them)
    REPO_URL = os.environ.get("GENMODELS_REPO_URL", "https://github.com/genmodels-course/genmodels-notebooks.git")
    REPO_DIR = os.environ.get("GENMODELS_COLAB_DIR", "/content/genmodels")

    def _run(cmd, fix):
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as e:
            tail = ((getattr(e, "stderr", "") or "") + (getattr(e, "stdout", "") or "") or str(e)).strip()[-2000:]
            raise RuntimeError(f"set-up failed: {' '.join(cmd)}\\n{tail}\\nTo fix: {fix}") from None

    if not os.path.isdir(os.path.join(REPO_DIR, "helpers")):
        _run(["git", "clone", "-q", "--depth", "1", REPO_URL, REPO_DIR],
             f"check the URL; set os.environ['GENMODELS_REPO_URL'] = '<the project's git URL>' (and delete "
             f"{REPO_DIR} if an earlier attempt left it behind), then run this cell again")
        if os.environ.get("GENMODELS_SKIP_INSTALL") != "1":  # the project's dependencies (Colab has most)
            _run([sys.executable, "-m", "pip", "install", "-q", REPO_DIR],
                 f"read pip's message above, delete {REPO_DIR}, then run this cell again")
    os.environ["GENMODELS_ROOT"] = REPO_DIR  # checkpoints/ and data/ of the clone
    sys.path.insert(0, REPO_DIR)
import helpers
device = helpers.setup(seed=0)'''


def parse(text: str) -> list:
    cells, kind, lines = [], None, []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in body.splitlines())
            cells.append(nbformat.v4.new_markdown_cell(body))
        elif kind == "setup":
            cells.append(nbformat.v4.new_code_cell(SETUP_CELL))
        elif body.strip():
            cells.append(nbformat.v4.new_code_cell(body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            rest = line[4:].strip()
            kind = "markdown" if rest.startswith("[markdown]") else "setup" if rest == "setup" else "code"
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def _keep_outputs(cells: list, old_path: Path) -> None:
    """Copy outputs and execution counts from the old notebook's code cells with identical source, and the cell id
    of every cell (code or Markdown) whose source is unchanged, so that a rebuild's diff shows only what changed."""
    if not old_path.exists():
        return
    old = {}
    for c in nbformat.read(old_path, as_version=4).cells:
        old.setdefault((c.cell_type, c.source), []).append(c)
    for c in cells:
        if old.get((c.cell_type, c.source)):
            prev = old[c.cell_type, c.source].pop(0)
            if "id" in prev:
                c.id = prev.id
            if c.cell_type == "code":
                c.outputs, c.execution_count = prev.outputs, prev.execution_count


def build(src: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = parse(src.read_text())
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    out = src.parent.parent / (src.stem + ".ipynb")
    _keep_outputs(nb.cells, out)
    nbformat.validate(nb)
    nbformat.write(nb, out)
    return out


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print("built", build(Path(arg)))
