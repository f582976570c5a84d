"""`make gpu-bundle`: write .gpu/, everything a bare CUDA machine needs besides the working tree to run
scripts/gpu_check.py offline (docs/gpu.md).

The machine this is made for has Python 3.12 with torch, torchvision, numpy, scipy, scikit-learn, matplotlib,
imageio, tqdm and pytest, no internet, and receives the working tree plus carried paths (64 MiB in all). The
bundle holds
  wheels/   CPython 3.12 manylinux x86-64 wheels of what the check needs and such a machine lacks: nbval,
            nbclient, nbformat, ipykernel, ipython, jupyter_client, jupyter_core, pyzmq, traitlets and their
            requirements, minus what the packages above already bring (their requirements as installed in
            .venv) and minus debugpy and jedi (+ parso), which ipykernel and IPython import only when present
            (a debugger and tab completion; 10 MB the 64 MiB cannot spare). Versions: constraints.txt where it
            pins one, else the version installed in .venv (the one behind the committed outputs).
  data.tar.xz  the offline data the tests and the notebooks read, laid out like ../shared/data: MNIST (5k
            subset + test files), Fashion-MNIST (test files + the first --fashion-train training images), Hoda
            (both CDB files); Fashion-MNIST's IDX files uncompressed inside (helpers.data reads both forms),
            so that xz packs them (9.6 MiB, against 13.3 MiB as copied). CIFAR-10 is not carried: notebook 06 and the
            check train on its stand-in tensors.
  run.sh    installs the wheels that the machine's python3 lacks into a temporary folder (pip, no index, no
            dependencies resolved), unpacks the data there, points PYTHONPATH and GENMODELS_DATA at them, and runs
            scripts/gpu_check.py with the machine's own python3 (arguments are passed on: `--cpu` for the dry run).
  MANIFEST.json  what is in it (versions, sha256, sizes, what was left out and why).
It prints the sizes of the tree (tracked and untracked-not-ignored files, as they would be sent), the bundle
and both together, and exits 1 when together they exceed --limit-mib (60).

    python scripts/gpu_bundle.py [--out .gpu] [--data $GENMODELS_DATA] [--fashion-train 5000] [--limit-mib 60]
"""
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import importlib.metadata as md
import json
import lzma
import os
import tarfile
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the check needs and the GPU machine lacks.
NEEDED = ["nbval", "nbclient", "nbformat", "ipykernel", "ipython", "jupyter_client", "jupyter_core", "pyzmq",
          "traitlets"]
# What the GPU machine has (with everything these require).
ON_MACHINE = ["torch", "torchvision", "numpy", "scipy", "scikit-learn", "matplotlib", "imageio", "tqdm", "pytest"]
# Imported only when present (try/except ImportError in ipykernel and IPython): left out for size.
OPTIONAL = {"debugpy": "ipykernel's debugger (imported only when present); 5.4 MB",
            "jedi": "IPython's tab completion (imported only when present); 4.9 MB",
            "parso": "required by jedi only"}
TARGET = {"python_version": "3.12", "python_full_version": "3.12.0", "implementation_name": "cpython",
          "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
          "os_name": "posix", "platform_machine": "x86_64", "extra": ""}
PIP_TARGET = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312",
              "--abi", "abi3", "--abi", "none"] + [a for p in ("manylinux2014_x86_64", "manylinux_2_17_x86_64",
                                                               "manylinux_2_24_x86_64", "manylinux_2_26_x86_64",
                                                               "manylinux_2_28_x86_64", "any")
                                                   for a in ("--platform", p)]
LIMIT_MIB = 60.0


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / ".gpu"), help="the bundle's folder (git-ignored)")
    p.add_argument("--data", default=None, help="offline data root (default $GENMODELS_DATA, else ../shared/data)")
    p.add_argument("--fashion-train", type=int, default=5000,
                   help="Fashion-MNIST training images carried (notebook 08's full profile clusters 5,000)")
    p.add_argument("--limit-mib", type=float, default=LIMIT_MIB, help="tree + bundle must stay under this")
    p.add_argument("--no-download", action="store_true", help="reuse the wheels already in OUT/wheels")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- which wheels
def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            out[canon(name)] = version.strip()
    return out


def requirements(name: str) -> list[str]:
    """The names `name` requires on the target (CPython 3.12, Linux x86-64, no extras), as installed here."""
    from packaging.requirements import Requirement

    out = []
    for r in md.requires(name) or []:
        req = Requirement(r)
        if req.marker is None or req.marker.evaluate(TARGET):
            out.append(canon(req.name))
    return out


def closure(roots: list[str], stop: set[str] = frozenset()) -> tuple[set[str], set[str]]:
    """Every distribution reachable from `roots` through requirements (not through `stop`), and those of them
    not installed in this environment (their requirements unknown here)."""
    seen, missing, todo = set(), set(), [canon(r) for r in roots]
    while todo:
        n = todo.pop()
        if n in seen or n in stop:
            continue
        seen.add(n)
        try:
            todo += requirements(n)
        except md.PackageNotFoundError:
            missing.add(n)
    return seen, missing


def wheel_plan() -> tuple[dict[str, str | None], dict[str, str]]:
    """{distribution: pinned version or None} to download, and {left out: why}."""
    on_machine, _ = closure(ON_MACHINE)
    needed, missing = closure(NEEDED, stop=set(OPTIONAL))
    pinned = pins()
    plan, left_out = {}, {}
    for n in sorted(needed):
        if n in on_machine:
            left_out[n] = "on the GPU machine (required by " + ", ".join(ON_MACHINE) + ")"
            continue
        version = pinned.get(n)
        if version is None and n not in missing:
            version = md.version(n).split("+")[0]
        plan[n] = version
    for n, why in OPTIONAL.items():
        left_out[n] = why
    return plan, left_out


def download(plan: dict[str, str | None], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    specs = [f"{n}=={v}" if v else n for n, v in plan.items()]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder), *PIP_TARGET, *specs]
    print("$", " ".join(cmd[:6]), "... (", len(specs), "wheels )", flush=True)
    subprocess.run(cmd, check=True)
    wheels = []
    for n in plan:
        found = [w for w in folder.glob("*.whl") if canon(w.name.split("-")[0]) == n]
        if not found:
            raise SystemExit(f"gpu-bundle: no wheel of {n} was downloaded")
        wheels += found
    for w in folder.glob("*"):  # an earlier bundle's wheels that are no longer in the plan
        if w not in wheels:
            w.unlink()
    return sorted(wheels)


# ----------------------------------------------------------------------------- data
def data_root(arg: str | None) -> Path:
    for cand in (arg, os.environ.get("GENMODELS_DATA"), ROOT.parent / "shared" / "data"):
        if cand and (Path(cand) / "mnist").is_dir():
            return Path(cand)
    raise SystemExit("gpu-bundle: no offline data (pass --data or set GENMODELS_DATA to a copy of ../shared/data)")


def idx_head(src: Path, dst: Path, n: int) -> None:
    """The first n items of an IDX file (gzip), header adjusted, written uncompressed."""
    raw = gzip.open(src, "rb").read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    item = 1
    for d in dims[1:]:
        item *= d
    n = min(n, dims[0])
    header = raw[:4] + n.to_bytes(4, "big") + raw[8: 4 + 4 * ndim]
    body = raw[4 + 4 * ndim: 4 + 4 * ndim + n * item]
    dst.write_bytes(header + body)


def copy_data(src: Path, archive: Path, fashion_train: int) -> list[dict]:
    """Write the data the check reads into `archive` (tar.xz): IDX files uncompressed, the rest as they are."""
    files, tmp = [], archive.parent / "data.tmp"
    shutil.rmtree(tmp, ignore_errors=True)

    def put(rel: str, how: str, make):
        target = tmp / "data" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        make(src / (rel + ".gz" if rel.endswith("ubyte") else rel), target)
        files.append({"file": f"data/{rel}", "bytes": target.stat().st_size, "from": how,
                      "sha256": hashlib.sha256(target.read_bytes()).hexdigest()})

    def copy(a: Path, b: Path):
        shutil.copyfile(a, b)

    def gunzip(a: Path, b: Path):
        b.write_bytes(gzip.open(a, "rb").read())

    # MNIST's test files stay gzip (tests/test_data.py reads the .gz files themselves)
    for rel in ("mnist/mnist_5k.csv.gz", "mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz",
                "hoda/Test 20000.cdb", "hoda/RemainingSamples.cdb"):
        put(rel, "copy", copy)
    for rel in ("fashion-mnist/t10k-images-idx3-ubyte", "fashion-mnist/t10k-labels-idx1-ubyte"):
        put(rel, "the .gz file, uncompressed", gunzip)
    for kind in ("images-idx3", "labels-idx1"):
        put(f"fashion-mnist/train-{kind}-ubyte", f"the first {fashion_train} of the 60,000 training items",
            lambda a, b: idx_head(a, b, fashion_train))
    (tmp / "data" / "README.md").write_text(
        "Offline data for the GPU check, laid out like ../shared/data (written by scripts/gpu_bundle.py).\n"
        f"Fashion-MNIST's training files hold only the first {fashion_train} of its 60,000 images; its IDX files "
        "are uncompressed; the rest are copies. CIFAR-10 is absent: the check trains on stand-in tensors.\n")
    with tarfile.open(archive, "w:xz", preset=9 | lzma.PRESET_EXTREME) as tar:
        tar.add(tmp / "data", arcname="data")
    shutil.rmtree(tmp)
    return files


# ----------------------------------------------------------------------------- run.sh
RUN_SH = r'''#!/usr/bin/env bash
# Run the GPU check on a bare CUDA machine, offline: `bash .gpu/run.sh` from the working tree that holds this
# folder (extra arguments go to scripts/gpu_check.py; `--cpu` is the dry run). Written by scripts/gpu_bundle.py.
# 1. installs the bundled wheels of the distributions this python3 lacks into a temporary folder
#    (pip --no-index --no-deps; without pip, the wheels are unpacked there directly);
# 2. unpacks data.tar.xz there; PYTHONPATH = that folder + the working tree (helpers/), GENMODELS_DATA = its data/;
# 3. runs scripts/gpu_check.py with the machine's own python3 (no virtual environment, torch as found), within
#    --budget-seconds (540) counted from this script's start; the report goes to notebooks/gpu_check.json and,
#    when $OUT is set (the device tool's folder of files to bring back), to $OUT as well.
# PYTHON=... picks another interpreter; GPU_CHECK_SITE=... a fixed folder for the wheels.
set -euo pipefail
export GPU_CHECK_T0="${GPU_CHECK_T0:-$(date +%s.%N)}"  # the check's time budget counts from here
BUNDLE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BUNDLE/.." && pwd)"
PY="${PYTHON:-python3}"
SITE="${GPU_CHECK_SITE:-$(mktemp -d "${TMPDIR:-/tmp}/genmodels-gpu-site.XXXXXX")}"
mkdir -p "$SITE"
echo "gpu run.sh: $("$PY" --version 2>&1) at $(command -v "$PY"); wheels into $SITE"
# the wheels whose distribution this python does not have (name from the file name, as pip normalises it)
mapfile -t MISSING < <("$PY" - "$BUNDLE/wheels" <<'EOF'
import importlib.metadata as md, pathlib, re, sys
for w in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    name = w.name.split("-")[0]
    try:
        md.version(re.sub(r"[-_.]+", "-", name))
    except md.PackageNotFoundError:
        print(w)
EOF
)
if [ "${#MISSING[@]}" -gt 0 ]; then
  if "$PY" -m pip --version >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --find-links "$BUNDLE/wheels" --no-deps --no-compile --target "$SITE" \
      "${MISSING[@]}"
  else
    echo "gpu run.sh: no pip for $PY; unpacking the wheels into $SITE"
    "$PY" - "$SITE" "${MISSING[@]}" <<'EOF'
import sys, zipfile
site = sys.argv[1]
for w in sys.argv[2:]:
    zipfile.ZipFile(w).extractall(site)
EOF
  fi
fi
echo "gpu run.sh: installed ${#MISSING[@]} of $(ls "$BUNDLE"/wheels/*.whl | wc -l) bundled wheels (the rest are on this machine)"
"$PY" - "$BUNDLE/data.tar.xz" "$SITE" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:xz") as t:
    t.extractall(sys.argv[2], **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
EOF
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export GENMODELS_DATA="$SITE/data" GPU_BUNDLE="$BUNDLE" GENMODELS_OFFLINE=1 MPLBACKEND=Agg
export JUPYTER_PLATFORM_DIRS=1 JUPYTER_RUNTIME_DIR="$SITE/.jupyter-runtime" IPYTHONDIR="$SITE/.ipython"
export MPLCONFIGDIR="$SITE/.matplotlib"
"$PY" -c "import nbval, nbclient, ipykernel, zmq, torch; print('gpu run.sh: imports ok; torch', torch.__version__, '| CUDA', torch.cuda.is_available())"
cd "$ROOT"
MIRROR=()  # the run tool brings back what is under $OUT: the report and the steps' output go there too
if [ -n "${OUT:-}" ]; then MIRROR=(--mirror "$OUT"); fi
exec "$PY" scripts/gpu_check.py ${MIRROR[@]+"${MIRROR[@]}"} "$@"
'''


# ----------------------------------------------------------------------------- sizes
def tree_bytes() -> tuple[int, int]:
    """Bytes and count of the files that would be sent: tracked and untracked-not-ignored, as in the tree."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout
    paths = {p for p in out.decode().split("\0") if p}
    sizes = [(ROOT / p).stat().st_size for p in paths if (ROOT / p).is_file()]
    return sum(sizes), len(sizes)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv=None) -> int:
    args = parse(argv)
    out = Path(args.out).resolve()
    src = data_root(args.data)
    plan, left_out = wheel_plan()
    if out.exists():  # keep downloaded wheels (pip skips them), renew the rest
        for p in out.iterdir():
            if p.name != "wheels":
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    wheels = sorted((out / "wheels").glob("*.whl")) if args.no_download else download(plan, out / "wheels")
    files = copy_data(src, out / "data.tar.xz", args.fashion_train)
    (out / "run.sh").write_text(RUN_SH)
    (out / "run.sh").chmod(0o755)
    manifest = {
        "what": "bundle for scripts/gpu_check.py on a bare CUDA machine (docs/gpu.md); `bash .gpu/run.sh`",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "target": "CPython 3.12, manylinux x86-64; the machine has " + ", ".join(ON_MACHINE),
        "wheels": [{"file": w.name, "bytes": w.stat().st_size} for w in wheels],
        "left_out": left_out,
        "data_from": str(src),
        "data_archive": {"file": "data.tar.xz", "bytes": (out / "data.tar.xz").stat().st_size,
                         "sha256": hashlib.sha256((out / "data.tar.xz").read_bytes()).hexdigest()},
        "data": files,
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    tree, n_tree = tree_bytes()
    w_b, d_b, bundle = folder_bytes(out / "wheels"), (out / "data.tar.xz").stat().st_size, folder_bytes(out)
    mib = lambda b: b / 2 ** 20  # noqa: E731
    total = mib(tree + bundle)
    raw = sum(f["bytes"] for f in files)
    print(f"gpu-bundle: {out}: {len(wheels)} wheels {mib(w_b):.1f} MiB, data {mib(d_b):.1f} MiB "
          f"({mib(raw):.1f} MiB unpacked), "
          f"bundle {mib(bundle):.1f} MiB")
    print(f"gpu-bundle: working tree {mib(tree):.1f} MiB ({n_tree} files) + bundle = {total:.1f} MiB "
          f"(limit {args.limit_mib:.0f} MiB; the machine takes 64 MiB)")
    print("gpu-bundle: send the tree with .gpu carried (it is git-ignored), then run `bash .gpu/run.sh` there")
    if total > args.limit_mib:
        print(f"gpu-bundle: OVER THE LIMIT by {total - args.limit_mib:.1f} MiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
