"""The notebooks' first cell (scripts/build_notebook.SETUP_CELL) as Colab runs it: a stand-in `google.colab`
module, a local file:// clone of this repository into a temporary folder, then `import helpers` from the clone
and its checkpoints. A wrong URL must stop the cell with a message naming the command and the fix."""
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

pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
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


def test_setup_cell_with_a_wrong_url_says_what_failed_and_how_to_fix_it(tmp_path):
    proc = run_cell(tmp_path, "file:///nonexistent/genmodels.git", tmp_path / "genmodels")
    assert proc.returncode != 0
    err = proc.stderr
    assert "RuntimeError: set-up failed: git clone" in err
    assert "file:///nonexistent/genmodels.git" in err and "fatal" in err  # git's own message, passed on
    assert "GENMODELS_REPO_URL" in err  # the fix
    assert "ModuleNotFoundError" not in err


def test_setup_cell_does_nothing_outside_colab():
    assert "google.colab" in SETUP_CELL and SETUP_CELL.rstrip().endswith("device = helpers.setup(seed=0)")
    assert "pip\", \"install\"" in SETUP_CELL  # Colab still installs the project's dependencies
