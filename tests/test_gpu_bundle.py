"""The dry run of the GPU bundle (issue 33, docs/gpu.md): `make gpu-bundle`'s .gpu/ and `run.sh --cpu`, in a copy
of the working tree as a GPU machine receives it (tracked and untracked-not-ignored files only: no .venv, no
runs/, no ../shared/data beside it) with .gpu/ carried, run by a fresh Python 3.12 virtual environment that has
only what the GPU machine has (torch 2.11, torchvision 0.26, numpy, scipy, scikit-learn, matplotlib, imageio,
tqdm, pytest; no nbval, ipykernel, nbclient, nbformat, jupyter_client, pyzmq, traitlets or IPython).

It proves the wheels (installed without an index), the data paths (only the bundle's data/) and the report; every
stage runs on the CPU under the smoke profile. Slow (about 10 minutes on 2 busy cores; the first time also
installs the environment, about 5 GB with torch's CUDA libraries). Where to find them:
  GPU_SIM_PYTHON  a Python 3.12 interpreter (default: pyenv's 3.12.x, else python3.12 on PATH);
  GPU_SIM_VENV    the environment (default ~/.cache/genmodels/gpu-sim-py312; made when missing, which needs PyPI).
Run it through the notebook lock on a shared machine:
    flock /tmp/nbrun.lock env OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m pytest -q -s tests/test_gpu_bundle.py
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
MACHINE = ["torch==2.11.*", "torchvision==0.26.*", "numpy", "scipy", "scikit-learn", "matplotlib", "imageio", "tqdm",
           "pytest"]
ABSENT = ["nbval", "ipykernel", "nbclient", "nbformat", "jupyter_client", "jupyter_core", "pyzmq", "traitlets",
          "ipython"]


def python312() -> str | None:
    if os.environ.get("GPU_SIM_PYTHON"):
        return os.environ["GPU_SIM_PYTHON"]
    pyenv = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    return pyenv[-1] if pyenv else shutil.which("python3.12")


def sim_venv() -> Path:
    """The stand-in for the GPU machine's Python: made once, reused after."""
    venv = Path(os.environ.get("GPU_SIM_VENV", Path.home() / ".cache" / "genmodels" / "gpu-sim-py312"))
    py = venv / "bin" / "python"
    if not py.exists():
        base = python312()
        if base is None:
            pytest.skip("no Python 3.12 here (set GPU_SIM_PYTHON)")
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", *MACHINE], capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(venv)
            pytest.skip(f"could not install the GPU machine's packages (offline?): {r.stderr[-500:]}")
    return venv


def copy_tree(dst: Path) -> None:
    """What the GPU machine receives: tracked and untracked-not-ignored files, as in the working tree."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode()
    for p in sorted(set(out.split("\0")) - {""}):
        src = ROOT / p
        if src.is_file():
            (dst / p).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / p)


@pytest.mark.slow
def test_bundle_dry_run_in_a_bare_python312(tmp_path):
    import gpu_bundle

    venv = sim_venv()
    py = str(venv / "bin" / "python")
    probe = subprocess.run([py, "-c", "import importlib.metadata as m, json, sys\n"
                                      "def v(n):\n"
                                      "    try: return m.version(n)\n"
                                      "    except m.PackageNotFoundError: return None\n"
                                      f"print(json.dumps({{n: v(n) for n in {ABSENT + ['torch']}}}))"],
                           capture_output=True, text=True, check=True)
    have = json.loads(probe.stdout)
    assert not [n for n in ABSENT if have[n]], f"the stand-in environment is not bare: {have}"

    tree = tmp_path / "machine" / "genmodels"  # nothing beside it: no ../shared/data
    tree.mkdir(parents=True)
    copy_tree(tree)
    assert gpu_bundle.main(["--out", str(tree / ".gpu")]) == 0  # prints the sizes, fails over 60 MiB

    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GENMODELS_", "PYTHON", "VIRTUAL_ENV", "JUPYTER", "IPYTHON", "MPL"))}
    env.update(PYTHON=py, PATH=f"{venv / 'bin'}:{env.get('PATH', '')}", OUT=str(out), HOME=str(tmp_path / "home"))
    r = subprocess.run(["bash", str(tree / ".gpu" / "run.sh"), "--cpu", "--budget-seconds", "3600"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=4000)
    print(r.stdout[-6000:], r.stderr[-3000:])
    report = json.loads((out / "gpu_check.json").read_text())  # run.sh mirrors the report into $OUT
    steps = report["steps"]
    assert r.returncode == 0 and report["finished"] and report["all_ok"], [
        (s["step"], s["status"], s.get("output_tail", "")[-800:]) for s in steps if not s["ok"]]
    assert report["torch"].split("+")[0] == have["torch"].split("+")[0] and report["python"].startswith("3.12")
    assert report["packages"]["nbval"] and report["bundle"]["path"] == str(tree / ".gpu")
    assert report["data"].endswith("/data") and not report["data"].startswith(str(ROOT.parent))
    stages = [s["stage"] for s in steps]
    assert stages.count("tests") == 1 and stages.count("smoke") == 9 and stages.count("training") == 3
    assert stages.count("full") == 1
    assert all(s["iterations"] == 3 for s in steps if s["stage"] == "training")
    assert "passed" in steps[0]["summary"] and "failed" not in steps[0]["summary"]
