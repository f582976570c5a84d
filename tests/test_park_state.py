"""scripts/park_state.py on a throw-away repository: the state goes into one commit, out of the tree in the next,
and the record names a commit from which it comes back byte for byte."""
import hashlib
import json
import subprocess

import pytest


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


@pytest.fixture
def repo(tmp_path):
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.org")
    _git(tmp_path, "config", "user.name", "test")
    (tmp_path / ".gitignore").write_text("*.pt\n")
    (tmp_path / "run.json").write_text(json.dumps({"iterations": 10}))
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "start")
    (tmp_path / "state.pt").write_bytes(bytes(range(256)) * 10)
    return tmp_path


def test_park_commits_records_and_untracks(repo, load_script):
    park = load_script("park_state")
    commit = park.park(repo, ["state.pt"], "run.json", "then --resume", "Test run")
    rec = json.loads((repo / "run.json").read_text())
    want = hashlib.sha256((repo / "state.pt").read_bytes()).hexdigest()
    assert rec["iterations"] == 10 and rec["state_commit"]["commit"] == commit
    assert rec["state_commit"]["files"] == {"state.pt": want} and "then --resume" in rec["state_commit"]["restore"]
    assert hashlib.sha256(_git(repo, "show", f"{commit}:state.pt")).hexdigest() == want
    assert _git(repo, "ls-files", "state.pt") == b""                      # out of the tree at HEAD
    assert (repo / "state.pt").exists()                                    # still on disk
    assert b"state_commit" in _git(repo, "show", "HEAD:run.json")        # the record is committed


def test_park_refuses_staged_changes_and_missing_files(repo, load_script):
    park = load_script("park_state")
    head = _git(repo, "rev-parse", "HEAD")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        park.park(repo, ["missing.pt"], "run.json", "", "Test")
    (repo / "other.txt").write_text("x")
    _git(repo, "add", "other.txt")
    with pytest.raises(RuntimeError, match="staged"):
        park.park(repo, ["state.pt"], "run.json", "", "Test")
    assert _git(repo, "rev-parse", "HEAD") == head and "state_commit" not in (repo / "run.json").read_text()
