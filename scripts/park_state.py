"""Park a training state in the git history: commit the files, name that commit in the run's record, and take the
files out of the tree again in a second commit, so that the tree stays small and the state can still be restored.

    python scripts/park_state.py --record checkpoints/training_state/ebm_mnist_buffer_lrdecay_seed0_inprogress.json \
        --restore "then: python scripts/train_ebm_mnist.py ... --resume" \
        checkpoints/training_state/ebm_mnist_buffer_lrdecay_seed0_state.pt checkpoints/training_state/ebm_mnist_buffer_lrdecay.pt

Steps: (1) refuse if anything else is staged, a file is missing or outside the repository, or the record is not a
JSON object; (2) `git add -f` the files and commit them; (3) check that `git show <commit>:<file>` gives back each
file byte for byte (sha256); (4) write `state_commit` = {commit, files: {path: sha256}, restore} into the record;
(5) `git rm --cached` the files and commit that with the record. The files stay on disk. A failure at any step
leaves the earlier commits as they are and changes nothing that was committed before.
Restore a parked file with `git show <commit>:<path> > <path>`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers.checkpoints import sha256sum  # noqa: E402


def git(repo: Path, *args: str, binary: bool = False):
    """Run git in repo; its stdout (bytes when binary); a clear error with git's own message when it fails."""
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout if binary else out.stdout.decode().strip()


def park(repo: Path, files: list[str], record: str, restore: str, message: str) -> str:
    """Commit `files`, record the commit in `record`'s state_commit, untrack the files; returns the commit."""
    repo = Path(repo).resolve()
    if git(repo, "diff", "--cached", "--name-only"):
        raise RuntimeError("park_state: other changes are staged; commit or unstage them first (git status)")
    paths = []
    for f in files:
        p = (repo / f).resolve()
        if not p.is_file():
            raise FileNotFoundError(f"park_state: {f} is not a file")
        if repo not in p.parents:
            raise ValueError(f"park_state: {f} is outside the repository {repo}")
        paths.append(p.relative_to(repo).as_posix())
    rec_path = repo / record
    rec = json.loads(rec_path.read_text())
    if not isinstance(rec, dict):
        raise ValueError(f"park_state: {record} must hold a JSON object")
    shas = {p: sha256sum(repo / p) for p in paths}
    git(repo, "add", "-f", "--", *paths)
    git(repo, "commit", "-q", "-m", f"{message}: {', '.join(paths)} parked in the history (they leave the tree in "
                                    "the next commit, which names this one in the record)")
    commit = git(repo, "rev-parse", "--short", "HEAD")
    for p, want in shas.items():
        got = hashlib.sha256(git(repo, "show", f"{commit}:{p}", binary=True)).hexdigest()
        if got != want:
            raise RuntimeError(f"park_state: {p} in commit {commit} has sha256 {got}, the file {want}; "
                               "the files are committed and still tracked, nothing was removed")
    rec["state_commit"] = {"commit": commit, "files": shas,
                           "restore": f"for f in <files>: git show {commit}:$f > $f" + (f"; {restore}" if restore else "")}
    rec_path.write_text(json.dumps(rec, indent=1) + "\n")
    git(repo, "rm", "-q", "--cached", "--", *paths)
    git(repo, "add", "--", record)
    git(repo, "commit", "-q", "-m", f"{message}: the parked files leave the tree; {record} names commit {commit}")
    return commit


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="the files to park (paths relative to the repository root)")
    p.add_argument("--record", required=True, help="the run's JSON record, which gets state_commit")
    p.add_argument("--restore", default="", help="what to do after restoring the files (how to resume)")
    p.add_argument("-m", "--message", default="Training state", help="the start of both commit messages")
    p.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    commit = park(Path(args.repo), args.files, args.record, args.restore, args.message)
    print(f"parked {len(args.files)} file(s) in commit {commit}; {args.record} names it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
