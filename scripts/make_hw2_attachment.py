"""Make HW2's denoising "attachment": 30 held-out MNIST test digits (3 per class) with their noisy
versions y = x + n, n ~ N(0, sigma^2 I), for sigma = 50/256 and 100/256 (not clipped), fixed seed.

    python scripts/make_hw2_attachment.py     # writes data/hw2_attachment/hw2_attachment.pt + .json

The digits come from the 1,000 test digits that neither the energy nor the classifier saw
(helpers.energy.heldout_split). The file loads with torch.load(..., weights_only=True): a dict with
"clean" (30, 1, 28, 28), "noisy_50", "noisy_100" (same shape), "labels" (30,), "test_index" (30,)
and "sigmas" (2,).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import data, energy, utils  # noqa: E402
from helpers.checkpoints import sha256sum  # noqa: E402

SEED = 48954


def main():
    xt, yt = data.mnist(False)
    _, held = energy.heldout_split(len(xt))
    g = utils.generator(SEED)
    held = held[utils.randperm(len(held), generator=g)]
    pick = torch.cat([held[yt[held] == c][:3] for c in range(10)])
    clean = xt[pick].clone()
    out = {"clean": clean, "labels": yt[pick].clone(), "test_index": pick.clone(),
           "sigmas": torch.tensor([50 / 256, 100 / 256])}
    for s in (50, 100):
        out[f"noisy_{s}"] = clean + (s / 256) * utils.randn(clean.shape, generator=g)
    folder = energy.attachment_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / energy.ATTACHMENT_FILE
    torch.save(out, path)
    rec = {"file": path.name, "sha256": sha256sum(path), "seed": SEED,
           "command": "python scripts/make_hw2_attachment.py",
           "data": "MNIST test set, 3 digits per class from the 1,000 held-out digits of "
                   f"helpers.energy.heldout_split(seed={energy.HELDOUT_SEED})",
           "noise": "y = x + sigma * N(0, I), sigma in {50/256, 100/256}, not clipped",
           "keys": {k: list(v.shape) for k, v in out.items()}, "test_index": pick.tolist()}
    path.with_suffix(".json").write_text(json.dumps(rec, indent=2) + "\n")
    print("wrote", path, rec["sha256"][:12])


if __name__ == "__main__":
    main()
