"""Does a notebook reproduce its committed outputs? (`make verify NB=03`)

Re-executes each selected notebook under the full profile with nbval in strict mode (`pytest --nbval`), which
compares every code cell's text outputs with the committed ones after `notebooks/nbval_sanitize.cfg` has masked
what legitimately changes (wall times, progress-bar timing, dates, paths, load averages, memory addresses).
nbval itself skips image/png and image/jpeg outputs unless `--nbdime` is given; the sanitize file masks GIFs.
Cells marked `# NBVAL_IGNORE_OUTPUT` run but are not compared; `# NBVAL_SKIP` cells do not run.

The notebook runs from a copy in a scratch folder, so the committed notebook and its figures stay untouched.
The thread count is the committed run's (parsed from the set-up cell's "CPU, N threads"), unless
OMP_NUM_THREADS is set. The result per notebook (cells that differ, versions, date) goes to
notebooks/verify.json, which `scripts/readme_timings.py` turns into the README's "reproduces" column.
Arguments: notebook prefixes (e.g. `03 04`); extra pytest options after `--`. Exit status 1 if a cell differs.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
SANITIZE = NB_DIR / "nbval_sanitize.cfg"
VERIFY_JSON = NB_DIR / "verify.json"
sys.path.insert(0, str(ROOT / "scripts"))
from run_notebooks import select  # noqa: E402  (the same notebook selection as `make run`)


def committed_threads(nb) -> int | None:
    """The thread count the committed outputs were produced with, from the set-up cell ('CPU, N threads')."""
    for cell in nb.cells[:3]:
        for out in cell.get("outputs", []):
            m = re.search(r"CPU, (\d+) threads", out.get("text", ""))
            if m:
                return int(m.group(1))
    return None


def failed_cells(junit: Path) -> dict[str, str]:
    """{'Cell k': what differs} for every cell whose outputs differ or that raised, from pytest's JUnit report.

    nbval's diff lines: '+' is the committed output, '-' this run's (pytest's `assert committed == now`)."""
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is not None:
            text = re.sub(r"\x1b\[[0-9;]*m|#x1B\[[0-9;]*m", "", bad.text or bad.get("message") or "")
            kinds = sorted(set(re.findall(r"mismatch '([^']+)'", text)))
            diff = [line.strip() for line in text.splitlines() if re.match(r"\s*[-+] ", line)][:4]
            name = case.get("name", "?").split("::")[-1]
            out[name] = (f"{', '.join(kinds) or 'error'}: " + " | ".join(diff))[:400] if kinds or diff else \
                text.strip().splitlines()[-1][:400] if text.strip() else "failed"
    return out


def verify(path: Path, extra: list[str]) -> dict:
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, GENMODELS_PROFILE="full", GENMODELS_EXECUTED="1")  # as `make run` executes them
    env.pop("MPLBACKEND", None)
    threads = committed_threads(nb)
    if "OMP_NUM_THREADS" not in os.environ and threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    n_cells = sum(c.cell_type == "code" for c in nb.cells)
    with tempfile.TemporaryDirectory(prefix="genmodels-verify-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copy(path, copy)
        (Path(tmp) / "figures").mkdir()
        junit = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
               f"--nbval-sanitize-with={SANITIZE}", "--nbval-cell-timeout=14400", f"--junitxml={junit}",
               "-q", "--rootdir", tmp, str(copy), *extra]
        print(f"verifying {path.name} (full profile, OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', 'unset')}) ...",
              flush=True)
        start = time.perf_counter()
        rc = subprocess.call(cmd, env=env, cwd=tmp)
        seconds = time.perf_counter() - start
        differ = failed_cells(junit) if junit.exists() else {"all": f"pytest exited with {rc} before a report"}
    from helpers.utils import versions

    return {"reproduces": not differ and rc == 0, "cells_differ": differ, "code_cells": n_cells,
            "threads": env.get("OMP_NUM_THREADS"), "cores": os.cpu_count(), "versions": versions(),
            "seconds": round(seconds), "date": dt.date.today().isoformat(),
            "load_avg_15min": round(os.getloadavg()[2], 1)}


def main(argv: list[str]) -> int:
    args, extra = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    if not args:
        sys.exit("name the notebooks to verify, e.g. `make verify NB=03` (each one runs its full profile)")
    results = {}
    for path in select(args):
        res = results[path.stem] = verify(path, extra)
        if VERIFY_JSON.exists():  # re-read right before writing: other runs may have recorded meanwhile
            recorded = json.loads(VERIFY_JSON.read_text())
        else:
            recorded = {}
        recorded[path.stem] = res
        VERIFY_JSON.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    print("\nmake verify: cell numbers count code cells from 0, as nbval names them")
    for stem, res in results.items():
        verdict = "reproduces" if res["reproduces"] else f"{len(res['cells_differ'])} cells differ"
        print(f"{stem}: {verdict} ({res['seconds']} s, OMP_NUM_THREADS={res['threads']})")
        for cell, msg in res["cells_differ"].items():
            print(f"  {cell}: {msg}")
    return 0 if all(r["reproduces"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
