"""Train the small MNIST classifier that scores samples (HW2's quality bar and later notebooks).

    python scripts/train_mnist_classifier.py     # a few minutes on 1 CPU thread

Data: the offline 5k MNIST training subset plus the 9,000 MNIST test digits that are not held out;
the 1,000 held-out test digits (helpers.energy.heldout_split) measure the test accuracy in the record.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import checkpoints as ckpt  # noqa: E402
from helpers import energy, utils  # noqa: E402
from helpers.classifier import SmallCNN, accuracy, train_classifier  # noqa: E402
from helpers.utils import seed_everything  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=energy.CLASSIFIER_CKPT)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    split = energy.mnist_split()
    x, y = split.x_train, split.y_train
    model = SmallCNN(10)
    t0 = time.time()
    losses = train_classifier(model, x, y, epochs=args.epochs, seed=args.seed, show_progress=True)
    secs = time.time() - t0
    acc = accuracy(model, split.x_heldout, split.y_heldout)
    print(f"held-out accuracy {acc:.4f} after {secs:.0f} s", flush=True)
    if acc < 0.98:
        print("WARNING: below the 98% target", flush=True)
    command = utils.command_line("scripts/train_mnist_classifier.py", sys.argv[1:])
    rec = ckpt.save_checkpoint(model, args.out, {
        "model": "helpers.classifier.SmallCNN(n_classes=10)", "seed": args.seed, "command": command,
        "data": f"MNIST: offline 5k training subset + {split.n_test_in_train} test digits (random shifts <= 2 px); "
                f"test: the 1,000 held-out test digits of helpers.energy.heldout_split(seed={energy.HELDOUT_SEED})",
        "epochs": args.epochs, "train_seconds": round(secs, 1), "train_losses": [round(v, 4) for v in losses],
        "heldout_accuracy": round(acc, 4)})
    print("saved", args.out, rec["sha256"][:12])


if __name__ == "__main__":
    main()
