"""The notebooks' first cell (scripts/build_notebook.SETUP_CELL) as Colab runs it: a stand-in `google.colab`
module, a local file:// clone of this repository into a temporary folder, then `import helpers` from the clone
and its checkpoints. A wrong URL must stop the cell with a message naming the command and the fix.

The cell's `pip install` also installs the dependencies, which needs the internet, so the cell runs here with
GENMODELS_SKIP_INSTALL=1; the package itself is built and installed separately (pip, no dependencies, into a
temporary target) and `helpers` imported from there, so a broken package definition in pyproject.toml (e.g.
`packages = ["helperz"]`) fails these tests, as it would fail Colab's set-up."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from build_notebook import SETUP_CELL  # noqa: E402

needs_git = pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                               reason="needs git and this repository's .git")

RUNNER = """
import json, sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")  # what the cell looks for
ns = {"__name__": "__main__"}
exec(compile(sys.argv[1], "setup_cell", "exec"), ns)
import helpers
from helpers import checkpoints, utils
print(json.dumps({"helpers": helpers.__file__, "checkpoints_dir": str(utils.checkpoints_dir()),
                  "record": str(checkpoints.record_path("ebm_mnist_conditional.pt")),
                  "device": str(ns["device"])}))
"""


def run_cell(tmp_path: Path, url: str, folder: Path) -> subprocess.CompletedProcess:
    """The set-up cell in a fresh interpreter, as in Colab, with the clone going to `folder`."""
    env = {k: v for k, v in os.environ.items() if k not in ("GENMODELS_ROOT", "PYTHONPATH")}
    env.update(GENMODELS_REPO_URL=url, GENMODELS_COLAB_DIR=str(folder), GENMODELS_SKIP_INSTALL="1",
               GIT_TERMINAL_PROMPT="0", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", RUNNER, SETUP_CELL], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)


# not marked slow: the Colab path is the one most users take, so `make test` (and CI) clones it every time (15-45 s)
@needs_git
def test_setup_cell_clones_and_imports_helpers_from_the_clone(tmp_path):
    folder = tmp_path / "genmodels"
    proc = run_cell(tmp_path, ROOT.as_uri(), folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(out["helpers"]).resolve() == (folder / "helpers" / "__init__.py").resolve()
    assert Path(out["checkpoints_dir"]).resolve() == (folder / "checkpoints").resolve()
    tracked = subprocess.run(["git", "ls-files", "checkpoints"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert tracked and all((folder / f).is_file() for f in tracked), "the clone lacks committed checkpoints"
    assert Path(out["record"]).is_file() and Path(out["record"]).resolve().is_relative_to(folder.resolve())
    assert "profile:" in proc.stdout  # helpers.setup() ran
    # a second run finds the clone and does not clone again (so even a wrong URL is never used)
    again = run_cell(tmp_path, "file:///nonexistent/genmodels.git", folder)
    assert again.returncode == 0, again.stderr[-3000:]


@needs_git
def test_setup_cell_with_a_wrong_url_says_what_failed_and_how_to_fix_it(tmp_path):
    proc = run_cell(tmp_path, "file:///nonexistent/genmodels.git", tmp_path / "genmodels")
    assert proc.returncode != 0
    err = proc.stderr
    assert "RuntimeError: set-up failed: git clone" in err
    assert "file:///nonexistent/genmodels.git" in err and "fatal" in err  # git's own message, passed on
    assert "GENMODELS_REPO_URL" in err  # the fix
    assert "ModuleNotFoundError" not in err


PIP_TARGET_CHECK = """
import json, sys
import helpers
from helpers import checkpoints, data, flows, kde, samplers, utils  # every module the notebooks import first
import importlib, pkgutil
mods = sorted(m.name for m in pkgutil.iter_modules(helpers.__path__))
for m in mods:
    importlib.import_module("helpers." + m)
print(json.dumps({"helpers": helpers.__file__, "modules": mods}))
"""


def package_copy(dest: Path) -> Path:
    """What pip builds from: pyproject.toml and the helpers/ package of the working tree (no caches)."""
    dest.mkdir(parents=True)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    shutil.copytree(ROOT / "helpers", dest / "helpers", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def pip_install(src: Path, target: Path) -> subprocess.CompletedProcess:
    """Build and install the package at `src` into `target`, as Colab's set-up does, without the dependencies."""
    return subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-compile", "--disable-pip-version-check", "--no-input", "--target", str(target),
                           str(src)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PIP_NO_INDEX": "1"})


def import_from(target: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """A fresh interpreter importing helpers from `target` only (not this checkout: cwd elsewhere, no root)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GENMODELS_ROOT", "PYTHONPATH")}
    env.update(PYTHONPATH=str(target), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", PIP_TARGET_CHECK], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_package_builds_installs_and_imports_from_the_install(tmp_path):
    target = tmp_path / "site-packages"
    proc = pip_install(package_copy(tmp_path / "src"), target)
    assert proc.returncode == 0, f"building the package failed (pyproject.toml?):\n{proc.stderr[-3000:]}"
    run = import_from(target, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(out["helpers"]).resolve() == (target / "helpers" / "__init__.py").resolve()
    shipped = sorted(p.stem for p in (ROOT / "helpers").glob("*.py") if p.stem != "__init__")
    assert out["modules"] == shipped  # every module of the package is in the install


def test_a_broken_package_definition_fails_the_install_check(tmp_path):
    """The check above catches what GENMODELS_SKIP_INSTALL=1 hid: a pyproject naming a package that is not there."""
    src = package_copy(tmp_path / "src")
    toml = src / "pyproject.toml"
    assert 'packages = ["helpers"]' in toml.read_text()
    toml.write_text(toml.read_text().replace('packages = ["helpers"]', 'packages = ["helperz"]'))
    target = tmp_path / "site-packages"
    proc = pip_install(src, target)
    assert proc.returncode != 0 or import_from(target, tmp_path).returncode != 0


def test_setup_cell_does_nothing_outside_colab(tmp_path):
    """Without google.colab the cell clones nothing, sets no GENMODELS_ROOT, and only imports and sets up."""
    assert "google.colab" in SETUP_CELL and SETUP_CELL.rstrip().endswith("device = helpers.setup(seed=0)")
    assert "pip\", \"install\"" in SETUP_CELL  # Colab still installs the project's dependencies
    clone = tmp_path / "clone"
    env = {k: v for k, v in os.environ.items() if k != "GENMODELS_ROOT"}
    env.update(GENMODELS_COLAB_DIR=str(clone), GENMODELS_REPO_URL=str(tmp_path / "no-such-repo"),
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    code = SETUP_CELL + "\nimport json\nprint(json.dumps({'root': os.environ.get('GENMODELS_ROOT')}))"
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"root": None} and not clone.exists()
