"""Execute notebooks, with outputs, and print each one's wall time (`make run [NB=02]`).

Arguments select notebooks by prefix (e.g. `02 05`); none means all of notebooks/*.ipynb.
Each notebook runs into a temporary copy beside it; only a run that succeeds replaces the committed
file (os.replace, atomic). A failing cell stops that notebook, prints which cell failed (its index and
first line) and makes the exit status non-zero; the committed notebook is left exactly as it was.
Wall times, the profile and the hardware of successful runs go to notebooks/timings.json (the
README's timing table is made from it).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"


def select(args: list[str]) -> list[Path]:
    all_nbs = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not args:
        return all_nbs
    chosen = [p for p in all_nbs if any(p.name.startswith(a.zfill(2)) for a in args)]
    missing = [a for a in args if not any(p.name.startswith(a.zfill(2)) for p in all_nbs)]
    if missing:
        sys.exit(f"no notebook starts with {missing}; have {[p.name for p in all_nbs]}")
    return chosen


def failed_cell(nb) -> tuple[int, int, str] | None:
    """(index among all cells, index among code cells as nbval counts them, first line of its source) of the
    first code cell whose outputs hold an error; None if none does."""
    code = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            return i, code, lines[0] if lines else ""
        code += 1
    return None


def run_one(path: Path) -> tuple[bool, float]:
    """Execute `path` into a temporary copy; replace `path` with it only on success. Returns (ok, seconds)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=None, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
        ok = True
    except CellExecutionError as e:
        ok = False
        where = failed_cell(nb)
        if where is not None:
            print(f"{path.name}: cell {where[0]} (code cell {where[1]}) failed; its first line: {where[2]!r}",
                  file=sys.stderr)
        print(str(e)[-3000:], file=sys.stderr)
    except BaseException:  # a dead kernel, Ctrl-C, ...: the committed notebook stays as it was
        print(f"{path.name}: the run stopped; {path} is unchanged", file=sys.stderr, flush=True)
        raise
    seconds = time.perf_counter() - start
    if ok:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".ipynb.tmp", dir=path.parent)
        os.close(fd)
        try:
            nbformat.write(nb, tmp)
            os.chmod(tmp, path.stat().st_mode & 0o777)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        print(f"{path.name}: left unchanged (the failed run's outputs were not saved)", file=sys.stderr)
    return ok, seconds


def kernel_helpers_problem(python: str = sys.executable) -> str | None:
    """None when `import helpers`, run from notebooks/ as the kernel runs it, finds this checkout's package; else
    what it found instead and the fix (an editable install left pointing at another clone, for instance)."""
    out = subprocess.run([python, "-c", "import helpers; print(helpers.__file__)"], cwd=NB_DIR, capture_output=True,
                         text=True)
    found = out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else None
    if found and Path(found).resolve().is_relative_to(ROOT):
        return None
    return (f"the notebooks would import helpers from {found or 'nowhere (' + out.stderr.strip()[-200:] + ')'}, "
            f"not from this checkout {ROOT}: reinstall it with `{python} -m pip install --no-deps -e {ROOT}` "
            "(or `make setup`)")


def main(args: list[str]) -> int:
    from helpers.utils import hardware, profile

    problem = kernel_helpers_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1

    # A non-interactive MPLBACKEND (CI exports Agg) would reach the kernel and make every plt.show() draw
    # nothing into the notebook: the committed outputs need the kernel's own inline backend.
    os.environ.pop("MPLBACKEND", None)
    os.environ["GENMODELS_EXECUTED"] = "1"  # helpers.utils.progress: saved bars show their final line, not a widget
    timings_path = NB_DIR / "timings.json"
    failed = []
    for path in select(args):
        print(f"running {path.name} ...", flush=True)
        ok, seconds = run_one(path)
        print(f"{path.name}: {'ok' if ok else 'FAILED'} in {seconds / 60:.1f} min ({seconds:.0f} s)", flush=True)
        if ok:  # re-read right before writing: other runs may have recorded their notebooks meanwhile
            timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
            timings[path.stem] = {"seconds": round(seconds), "profile": profile(), "hardware": hardware(),
                                  "date": dt.date.today().isoformat(),
                                  "load_avg_15min": round(os.getloadavg()[2], 1)}
            timings_path.write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")
        else:
            failed.append(path.name)
    if failed:
        print("failed:", ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
