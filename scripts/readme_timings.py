"""Rewrite the timing table of docs/maintainers.md (between its TIMINGS markers) from notebooks/timings.json and verify.json.

`make run` records each notebook's wall time in timings.json, `make verify` whether a re-run reproduces the
committed outputs in verify.json; run this afterwards to refresh docs/maintainers.md.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- TIMINGS:BEGIN -->", "<!-- TIMINGS:END -->"


def reproduces(v: dict | None) -> str:
    """The README's verdict from one notebooks/verify.json entry."""
    if not v:
        return "not checked"
    if v["reproduces"]:
        return f"yes ({v['date']}, {v['threads']} threads)"
    cells = ", ".join(c.replace("Cell ", "") for c in v["cells_differ"])
    return f"no: cells {cells} differ ({v['date']})"


def table(timings: dict, verified: dict) -> str:
    rows = ["| notebook | wall time | profile | hardware | machine load (15-min average) | date | reproduces (`make verify`) |",
            "|---|---|---|---|---|---|---|"]
    for name, t in sorted(timings.items()):
        s = t["seconds"]
        rows.append(f"| {name} | {s // 60:.0f} min {s % 60:02.0f} s | {t['profile']} | {t['hardware']} | "
                    f"{t.get('load_avg_15min', '?')} | {t['date']} | {reproduces(verified.get(name))} |")
    return "\n".join(rows)


def main() -> None:
    nb_dir = ROOT / "notebooks"
    timings = json.loads((nb_dir / "timings.json").read_text())
    verify_path = nb_dir / "verify.json"
    verified = json.loads(verify_path.read_text()) if verify_path.exists() else {}
    readme = ROOT / "docs" / "maintainers.md"
    text = readme.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{table(timings, verified)}\n{END}{tail}")
    print(table(timings, verified))


if __name__ == "__main__":
    main()
