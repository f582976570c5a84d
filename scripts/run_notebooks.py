"""Execute notebooks in place, with outputs, and print each one's wall time (`make run [NB=02]`).

Arguments select notebooks by prefix (e.g. `02 05`); none means all of notebooks/*.ipynb.
A failing cell stops that notebook and makes the exit status non-zero. Wall times, the profile
and the hardware go to notebooks/timings.json (the README's timing table is made from it).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
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


def main(args: list[str]) -> int:
    from helpers.utils import hardware, profile

    # A non-interactive MPLBACKEND (CI exports Agg) would reach the kernel and make every plt.show() draw
    # nothing into the notebook: the committed outputs need the kernel's own inline backend.
    os.environ.pop("MPLBACKEND", None)
    os.environ["GENMODELS_EXECUTED"] = "1"  # helpers.utils.progress: saved bars show their final line, not a widget
    timings_path = NB_DIR / "timings.json"
    failed = []
    for path in select(args):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=None, kernel_name="python3",
                                resources={"metadata": {"path": str(NB_DIR)}})
        print(f"running {path.name} ...", flush=True)
        start = time.perf_counter()
        try:
            client.execute()
            ok = True
        except CellExecutionError as e:
            ok = False
            print(str(e)[-3000:], file=sys.stderr)
        seconds = time.perf_counter() - start
        nbformat.write(nb, path)
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
