"""Saving and loading trained weights with a record beside them (seed, data, command, time, sha256, metrics)."""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from pathlib import Path

import torch

from .utils import checkpoints_dir, versions


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
    return json.loads(rp.read_text())


def load_state_dict(path: str | Path, check_sha256: bool = True) -> dict:
    """Load a state dict safely (weights_only=True), checking the sha256 in its record when there is one."""
    path = resolve(path)
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path} is missing. It ships with the project (git checkout -- checkpoints/) "
            f"and can be rebuilt with `make checkpoints` (see README, 'Checkpoints').")
    if check_sha256 and record_path(path).exists():
        want = load_record(path).get("sha256")
        got = sha256sum(path)
        if want and want != got:
            raise CheckpointError(
                f"checkpoint {path} is corrupt or was changed: sha256 {got[:12]}... does not match "
                f"{want[:12]}... in {record_path(path).name}. Restore it (git checkout -- {path.name}) "
                f"or rebuild it with `make checkpoints`.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated zip files, ...
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(e).__name__}: {e}). The file is corrupt or not a "
            f"state dict: restore it with git or rebuild it with `make checkpoints`.") from e
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
