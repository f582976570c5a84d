"""Saving and loading trained weights with a record beside them (seed, data, command, time, sha256, metrics)."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
from pathlib import Path

import torch

from .utils import checkpoints_dir, repo_root, versions


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not fit the model it is loaded into."""


def sha256sum(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve(path: str | Path) -> Path:
    """A bare file name means checkpoints/<name>; anything else is taken as given."""
    p = Path(path)
    return checkpoints_dir() / p if len(p.parts) == 1 else p


def record_path(path: str | Path) -> Path:
    return resolve(path).with_suffix(".json")


def _sentence(s: str) -> str:
    return s[:1].upper() + s[1:]


def restore_hint(path: str | Path) -> str:
    """How to get a shipped file back: `git checkout -- checkpoints/<name>` run in the project's root (a path
    git knows), or the absolute path when the file lies outside the project."""
    p = Path(path).resolve()
    root = repo_root()
    try:
        rel = p.relative_to(root)
    except ValueError:
        return f"restore {p} from where it came from"
    return f"restore it with `git checkout -- {rel.as_posix()}` in the project's root {root}"


def save_atomic(obj, path: str | Path) -> None:
    """torch.save to a temporary file beside `path`, then rename: a crash never leaves a half-written file
    (training states are written this way)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_checkpoint(model: torch.nn.Module | dict, path: str | Path, record: dict) -> dict:
    """Write the state dict to `path` and `<path>.json` with the record plus sha256, time and versions."""
    path = resolve(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    torch.save(state, path)
    full = {
        "file": path.name,
        "sha256": sha256sum(path),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **versions(),  # python, torch, numpy, scipy, scikit-learn, matplotlib: what produced the weights
        "machine": platform.platform(),
        **record,
    }
    record_path(path).write_text(json.dumps(full, indent=2, default=str) + "\n")
    return full


def load_record(path: str | Path) -> dict:
    """The JSON record written beside a checkpoint."""
    rp = record_path(path)
    if not rp.exists():
        raise CheckpointError(f"no record {rp} beside the checkpoint; retrain it with `make checkpoints`")
    try:
        record = json.loads(rp.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" ({e.msg}: line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
        raise CheckpointError(
            f"checkpoint record {rp} is not valid JSON{where}: the file is corrupt, cut short or was edited by "
            f"hand. {_sentence(restore_hint(rp))}, or rebuild the checkpoint and its record with "
            f"`make checkpoints`.") from None
    if not isinstance(record, dict):
        raise CheckpointError(f"checkpoint record {rp} holds a JSON {type(record).__name__}, not an object; "
                              f"{restore_hint(rp)}, or rebuild it with `make checkpoints`.")
    return record


def load_state_dict(path: str | Path, check_sha256: bool = True) -> dict:
    """Load a state dict safely (weights_only=True), checking the sha256 in its record when there is one."""
    path = resolve(path)
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path} is missing. If it ships with the project, {restore_hint(path)}; "
            f"any checkpoint can be rebuilt with `make checkpoints` (see README, 'Checkpoints').")
    if check_sha256 and record_path(path).exists():
        want = load_record(path).get("sha256")
        got = sha256sum(path)
        if want and want != got:
            raise CheckpointError(
                f"checkpoint {path} is corrupt or was changed: sha256 {got[:12]}... does not match "
                f"{want[:12]}... in {record_path(path).name}. {_sentence(restore_hint(path))}, "
                f"or rebuild it with `make checkpoints`.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated zip files, ...
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(e).__name__}: {e}). The file is corrupt or not a "
            f"state dict: {restore_hint(path)}, or rebuild it with `make checkpoints`.") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a state dict")
    return state


def load_into(model: torch.nn.Module, path: str | Path, check_sha256: bool = True) -> torch.nn.Module:
    """Load a checkpoint into `model`, with an error naming the file and the mismatched entries."""
    state = load_state_dict(path, check_sha256=check_sha256)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("wrong shapes: " + "; ".join(wrong[:5]))
        if missing:
            parts.append("missing keys: " + ", ".join(missing[:5]))
        if unexpected:
            parts.append("unexpected keys: " + ", ".join(unexpected[:5]))
        raise CheckpointError(
            f"checkpoint {resolve(path)} does not fit {type(model).__name__} ({'; '.join(parts)}). "
            f"Build the model with the arguments recorded in {record_path(path).name}, or retrain "
            f"with `make checkpoints`.")
    model.load_state_dict(state)
    return model
