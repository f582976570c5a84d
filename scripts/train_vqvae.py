"""Train the VQ-VAEs of notebook 08 (MNIST and Fashion-MNIST) and save them with their records.

    python scripts/train_vqvae.py [--data mnist fashion] [--epochs-mnist 30] [--epochs-fashion 8]

MNIST offline is the 5k training subset (all of it is used); Fashion-MNIST trains on a seeded 20k subset
of its 60k training images (to fit the CPU budget). Test MSE/PSNR and codebook usage are measured on the
10k test sets. Writes checkpoints/vqvae_<data>.pt and .json.
"""
from __future__ import annotations

import argparse
import sys

import torch

from helpers import checkpoints, data, utils, vqvae

MODEL_KWARGS = {"num_codes": 64, "dim": 16, "hidden": 64, "beta": 0.25}
SEED = 0
FASHION_TRAIN = 20_000


def training_images(name: str, seed: int = SEED) -> tuple[torch.Tensor, str]:
    """The images a model trains on, and a description for its record."""
    if name == "mnist":
        x, _ = data.mnist(True)
        return x, f"MNIST training images ({len(x)}, the offline 5k subset), no labels used"
    if name == "fashion":
        x, _ = data.fashion_mnist(True)
        idx = utils.randperm(len(x), generator=utils.generator(seed))[:FASHION_TRAIN]
        return x[idx], (f"Fashion-MNIST training images: {FASHION_TRAIN} of {len(x)} "
                        f"(torch.randperm(60000, seed {seed})[:{FASHION_TRAIN}]), no labels used")
    raise ValueError(f"unknown data set {name!r}; use 'mnist' or 'fashion'")


def test_images(name: str) -> torch.Tensor:
    return (data.mnist(False) if name == "mnist" else data.fashion_mnist(False))[0]


def train_one(name: str, epochs: int, device, seed: int, command: str) -> dict:
    """Train, evaluate on the test set, save with `command` in the record; return the record."""
    utils.seed_everything(seed)
    x, described = training_images(name, seed)
    model = vqvae.VQVAE(**MODEL_KWARGS).to(device)
    with utils.timer(f"train {name}") as t:
        hist = vqvae.train_vqvae(model, x, epochs=epochs, seed=seed, device=device)
    xt = test_images(name)
    mse, psnr = vqvae.mse_psnr(xt, vqvae.reconstruct(model, xt))
    _, idx = vqvae.encode_quantized(model, xt)
    usage = vqvae.codebook_usage(idx, model.quantizer.num_codes)
    record = {
        "seed": seed, "data": described, "command": command,
        "model": "VQVAE", "model_kwargs": MODEL_KWARGS, "epochs": epochs, "batch_size": 128, "lr": 2e-3,
        "device": str(device), "hardware": utils.hardware(), "train_seconds": round(t.seconds, 1),
        "test_mse": mse, "test_psnr_db": psnr, "test_perplexity": usage["perplexity"],
        "test_dead_codes": usage["dead_codes"],
        "history": {k: [round(float(v), 5) for v in vals] for k, vals in hist.items()},
    }
    checkpoints.save_checkpoint(model, f"vqvae_{name}.pt", record)
    print(f"{name}: test MSE {mse:.5f}, PSNR {psnr:.2f} dB, perplexity {usage['perplexity']:.1f}, "
          f"dead codes {usage['dead_codes']}/{usage['num_codes']}, {t.seconds:.0f} s")
    return record


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=["mnist", "fashion"], choices=["mnist", "fashion"])
    ap.add_argument("--epochs-mnist", type=int, default=30)
    ap.add_argument("--epochs-fashion", type=int, default=8)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    device = utils.get_device()
    command = utils.command_line("scripts/train_vqvae.py", sys.argv[1:] if argv is None else list(argv))
    for name in args.data:
        train_one(name, args.epochs_mnist if name == "mnist" else args.epochs_fashion, device, args.seed, command)


if __name__ == "__main__":
    main()
