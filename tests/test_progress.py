"""helpers.utils.progress: executed notebooks keep one readable line per loop (its final state), not a widget
frozen at 0%; live sessions keep tqdm.auto's bar."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import utils

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def executed(monkeypatch):
    monkeypatch.setenv(utils.EXECUTED_ENV, "1")


def test_executed_reads_the_flag_and_the_profile(monkeypatch):
    monkeypatch.delenv(utils.EXECUTED_ENV, raising=False)
    monkeypatch.setenv(utils.PROFILE_ENV, "full")
    assert not utils.executed()
    for flag, want in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv(utils.EXECUTED_ENV, flag)
        assert utils.executed() is want
    monkeypatch.delenv(utils.EXECUTED_ENV)
    monkeypatch.setenv(utils.PROFILE_ENV, "smoke")  # nbval runs the smoke profile
    assert utils.executed()


def test_executed_loop_writes_its_final_state_once(executed, capsys):
    for _ in utils.progress(range(250), desc="CD training"):
        pass
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 1 and "\r" not in out
    assert lines[0].startswith("CD training: 100%|") and "250/250" in lines[0]


def test_executed_manual_bar_with_postfix_and_a_broken_loop(executed, capsys):
    bar = utils.progress(total=7, desc="jem")
    for _ in range(7):
        bar.update(1)
    bar.set_postfix(acc="0.91")
    bar.close()

    def stops_early():
        for i in utils.progress(range(100), desc="minutes budget"):
            if i == 9:
                break

    stops_early()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "7/7" in lines[0] and "acc=0.91" in lines[0]
    assert lines[1].startswith("minutes budget:   9%") and "9/100" in lines[1]  # tqdm counts finished steps


def test_live_sessions_keep_tqdm_auto(monkeypatch):
    from tqdm.auto import tqdm as auto

    monkeypatch.delenv(utils.EXECUTED_ENV, raising=False)
    monkeypatch.setenv(utils.PROFILE_ENV, "full")
    bar = utils.progress(range(3), disable=True)
    assert isinstance(bar, auto)
    assert not isinstance(getattr(bar, "fp", None), utils._FinalLine)


@pytest.mark.slow  # starts a kernel: about 15 s
@pytest.mark.parametrize("flag", ["1", "0"])
def test_executed_notebook_saves_a_text_line_not_a_widget(flag, tmp_path):
    """A notebook run by nbclient (as scripts/run_notebooks.py does) with and without GENMODELS_EXECUTED."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from helpers.utils import progress\n"
                                          "for _ in progress(range(500), desc='loop'):\n    pass")]
    env = {utils.EXECUTED_ENV: flag, utils.PROFILE_ENV: "full"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    outputs = nb.cells[0].outputs
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    if flag == "1":
        assert not widgets
        assert [o.name for o in outputs] == ["stdout"] and text.startswith("loop: 100%|") and "500/500" in text
    else:  # what the committed notebooks held before: a widget (frozen at its first state in the saved file)
        assert widgets or "\r" in text
