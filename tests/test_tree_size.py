"""The working tree stays small enough to send to a GPU machine (issue 33, docs/gpu.md): the files that would be
sent, tracked ones and untracked ones git does not ignore, sized as they are in the working tree, stay under
LIMIT_MIB, so that the GPU bundle (.gpu/: wheels and data, 14.4 MiB) fits beside them in the 60 MiB the
project allows itself of the 64 MiB such a machine takes.

    python tests/test_tree_size.py     # `make tree-size`: prints the size and the largest files
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 45.0
MIB = 2 ** 20


def tree_files() -> dict[str, int] | None:
    """{path: bytes} of the files `git ls-files --cached --others --exclude-standard` lists that exist in the
    working tree; None where this is not a git checkout (e.g. the copy sent to a GPU machine)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    sizes = {}
    for p in sorted(set(out.decode().split("\0")) - {""}):
        f = ROOT / p
        if f.is_file() and not f.is_symlink():
            sizes[p] = f.stat().st_size
    return sizes


def describe(sizes: dict[str, int], top: int = 15) -> str:
    total = sum(sizes.values())
    lines = [f"working tree to send: {total / MIB:.1f} MiB in {len(sizes)} files (limit {LIMIT_MIB:.0f} MiB)",
             f"largest {top}:"]
    lines += [f"  {b / MIB:6.2f} MiB  {p}" for p, b in sorted(sizes.items(), key=lambda kv: -kv[1])[:top]]
    by_dir: dict[str, int] = {}
    for p, b in sizes.items():
        key = p.split("/")[0] if "/" in p else "."
        by_dir[key] = by_dir.get(key, 0) + b
    lines.append("by folder:")
    lines += [f"  {b / MIB:6.2f} MiB  {d}" for d, b in sorted(by_dir.items(), key=lambda kv: -kv[1])[:10]]
    return "\n".join(lines)


def test_tree_is_under_the_limit():
    import pytest

    sizes = tree_files()
    if sizes is None:
        pytest.skip("not a git checkout (a copy of the working tree): nothing to measure")
    total = sum(sizes.values()) / MIB
    assert total <= LIMIT_MIB, "\n" + describe(sizes)


if __name__ == "__main__":
    s = tree_files()
    if s is None:
        sys.exit("tree-size: not a git checkout")
    print(describe(s))
    sys.exit(0 if sum(s.values()) / MIB <= LIMIT_MIB else 1)
