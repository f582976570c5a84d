"""scripts/run_notebooks.py (`make run`): a run that fails leaves the committed notebook byte for byte as it was and
says which cell failed; a run that succeeds replaces it (with outputs) and records its time."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import run_notebooks  # noqa: E402


def notebook(path: Path, *cells: tuple[str, str]) -> bytes:
    nb = nbformat.v4.new_notebook()
    for kind, src in cells:
        nb.cells.append(nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src))
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="committed output\n")]
    nbformat.write(nb, path)
    return path.read_bytes()


@pytest.fixture
def nb_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(run_notebooks, "NB_DIR", tmp_path)
    monkeypatch.setenv("GENMODELS_EXECUTED", "0")  # main() sets it and pops MPLBACKEND: restored after the test
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("GENMODELS_PROFILE", "smoke")
    return tmp_path


def test_a_failed_run_leaves_the_committed_notebook_untouched_and_names_the_cell(nb_dir, capsys):
    path = nb_dir / "01_fails.ipynb"
    before = notebook(path, ("md", "# A notebook that fails"), ("code", "x = 1"),
                      ("md", "then"), ("code", "\n# the failing cell\nraise ValueError('boom')"),
                      ("code", "print('never reached')"))
    assert run_notebooks.main(["01"]) == 1
    err = capsys.readouterr().err
    assert "01_fails.ipynb: cell 3 (code cell 1) failed; its first line: '# the failing cell'" in err
    assert "boom" in err and "left unchanged" in err
    assert path.read_bytes() == before  # byte for byte
    assert sorted(p.name for p in nb_dir.iterdir()) == ["01_fails.ipynb"]  # no temporary file, no timings entry


def test_a_successful_run_replaces_the_notebook_with_its_outputs(nb_dir, capsys):
    path = nb_dir / "02_works.ipynb"
    before = notebook(path, ("md", "# A notebook that works"), ("code", "print(6 * 7)"))
    mode = path.stat().st_mode
    assert run_notebooks.main(["02"]) == 0
    nb = nbformat.read(path, as_version=4)
    assert path.read_bytes() != before and nb.cells[1].outputs[0]["text"] == "42\n"
    assert path.stat().st_mode == mode
    timings = json.loads((nb_dir / "timings.json").read_text())
    assert set(timings) == {"02_works"} and timings["02_works"]["profile"] == "smoke"
    assert sorted(p.name for p in nb_dir.iterdir()) == ["02_works.ipynb", "timings.json"]
    assert "02_works.ipynb: ok" in capsys.readouterr().out


def test_failed_cell_locates_the_error_output():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("t"), nbformat.v4.new_code_cell("a = 1"),
                nbformat.v4.new_code_cell("\n\n  b = a / 0\nmore")]
    assert run_notebooks.failed_cell(nb) is None
    nb.cells[2].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="", traceback=[])]
    assert run_notebooks.failed_cell(nb) == (2, 1, "  b = a / 0")


# ----------------------------------------------------------------------------- long sampler loops show a bar

def test_long_sampler_loops_open_a_transient_bar_live_and_none_in_executed_runs(monkeypatch, capsys):
    """Samplers' show_progress=None: a bar once a loop has run utils.PROGRESS_AFTER seconds (0 here), cleared when
    it ends (leave=False); in executed notebooks (make run, nbval) nothing at all, so saved outputs stay the same."""
    import torch

    from helpers import jem, samplers, utils

    monkeypatch.setattr(utils, "PROGRESS_AFTER", 0.0)
    monkeypatch.setenv(utils.PROFILE_ENV, "full")
    x0 = torch.zeros(4, 2)
    runs = {"Langevin": lambda: samplers.langevin(x0, lambda x: -x, 0.01, 5),
            "MALA": lambda: samplers.mala(x0, lambda x: -0.5 * (x ** 2).sum(1), 0.01, 5),
            "annealed Langevin": lambda: samplers.annealed_langevin(x0, lambda x, s: -x, [1.0, 0.5], 0.01, 3),
            "proximal SGLD": lambda: jem.sgld(jem.JEMCNN(10), torch.rand(2, 1, 28, 28), 2, bound=0.03)}
    for desc, run in runs.items():
        monkeypatch.setenv(utils.EXECUTED_ENV, "0")
        run()
        live = capsys.readouterr()
        assert desc + ":" in live.err and live.out == "", (desc, live)
        monkeypatch.setenv(utils.EXECUTED_ENV, "1")
        run()
        assert capsys.readouterr() == ("", ""), desc  # executed: no bar, no line
    monkeypatch.setenv(utils.EXECUTED_ENV, "0")
    monkeypatch.setattr(utils, "PROGRESS_AFTER", 60.0)  # a short call stays silent
    samplers.langevin(x0, lambda x: -x, 0.01, 5)
    assert capsys.readouterr() == ("", "")
    samplers.langevin(x0, lambda x: -x, 0.01, 5, show_progress=False)
    assert capsys.readouterr() == ("", "")


def test_progress_after_yields_everything_and_opens_the_bar_where_the_time_ran_out(monkeypatch):
    from helpers import utils

    monkeypatch.setenv(utils.EXECUTED_ENV, "0")
    monkeypatch.setenv(utils.PROFILE_ENV, "full")
    opened = []
    real = utils.progress
    monkeypatch.setattr(utils, "progress", lambda **kw: opened.append(kw) or real(**kw))
    clock = iter([0.0, 0.5, 1.0, 2.5, 3.0, 4.0, 5.0])
    monkeypatch.setattr(utils.time, "perf_counter", lambda: next(clock))
    assert list(utils.progress_after(range(5), seconds=2.0, desc="x")) == [0, 1, 2, 3, 4]
    assert len(opened) == 1 and opened[0]["initial"] == 2 and opened[0]["total"] == 5 and not opened[0]["leave"]


def test_the_kernel_must_import_this_checkouts_helpers(tmp_path):
    """run_notebooks refuses to run when `import helpers` from notebooks/ finds another copy (a stale editable
    install once pointed the kernel at an old clone in /tmp): the message names what it found and the fix."""
    assert run_notebooks.kernel_helpers_problem() is None  # this checkout, as installed by make setup
    other = tmp_path / "other" / "helpers"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("")
    fake = tmp_path / "python"
    code = f"import sys; sys.path.insert(0, '{other.parent}'); import helpers; print(helpers.__file__)"
    fake.write_text(f'#!/bin/sh\nexec {sys.executable} -c "{code}"\n')
    fake.chmod(0o755)
    msg = run_notebooks.kernel_helpers_problem(str(fake))
    assert msg and str(other) in msg and "pip install --no-deps -e" in msg
