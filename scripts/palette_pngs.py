"""Re-encode the PNG figures already in executed notebooks as 256-colour palette PNGs (helpers.plotting.palette_png).

Since 2026-12-04 `helpers.setup` makes every notebook show its matplotlib figures this way (plotting.use_palette_png:
the inline backend's PNG, then palette_png), which makes the committed notebooks about 2.4x smaller with the same
look. A notebook executed before that carries the backend's RGBA PNGs; re-encoding them gives byte for byte what a
re-run would show (tests/test_plotting_checkpoints.py checks figure_png == palette_png of the backend's PNG), so this
script brings old outputs to the new form without re-running. Palette PNGs are left as they are; nothing else in
the notebook changes.

    python scripts/palette_pngs.py                      # every notebook in notebooks/
    python scripts/palette_pngs.py notebooks/01_kde_flows.ipynb
"""
from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from helpers.plotting import palette_png  # noqa: E402


def palette_notebook(path: Path) -> tuple[int, int]:
    """Re-encode the notebook's image/png outputs in place; return (bytes before, bytes after) of those images."""
    nb = nbformat.read(path, as_version=4)
    before = after = 0
    changed = False
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            png = base64.b64decode(data["image/png"])
            new = palette_png(png)
            before, after = before + len(png), after + len(new)
            if new != png:
                data["image/png"] = base64.b64encode(new).decode("ascii")
                changed = True
    if changed:
        nbformat.write(nb, path)
    return before, after


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("notebooks", nargs="*", type=Path, help="executed notebooks (default: notebooks/*.ipynb)")
    paths = p.parse_args().notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"{path}: no such notebook; give paths to .ipynb files, e.g. notebooks/01_kde_flows.ipynb")
        before, after = palette_notebook(path)
        print(f"{path.name}: PNG figures {before / 2**20:.2f} -> {after / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
