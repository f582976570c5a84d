"""Train the unconditional ResNet energy E(x) on CIFAR-10 (Homework 5, 1.4) by contrastive divergence, one of
the text's three ways of making negatives, and save the weights, the curves and sample snapshots:

    noise   chains always start at U[-1, 1] noise;
    buffer  95% of the chains start from a replay buffer of past negatives, 5% from noise;
    decay   the replay buffer, with eps decaying geometrically within each chain,
            eps_t = eps_start (eps_end / eps_start)^(t / (T - 1)).

    python scripts/train_ebm_cifar.py --variant buffer --minutes 30     # GPU recommended
    python scripts/train_ebm_cifar.py --variant noise --fake --smoke    # offline: FakeData stand-in tensors

Writes checkpoints/ebm_cifar_<variant>.pt (+ .json record with the curves) and
checkpoints/ebm_cifar_<variant>_snapshots.pt (uint8 negatives every --snapshot-every iterations).
CIFAR-10 needs a download (helpers.data.cifar10); --fake trains on torchvision FakeData tensors of the same
shape, which exercises the code paths only: its samples mean nothing, and the record says so.
Sampler defaults (all flags): 60 steps of x <- x - (eps^2 / 2) grad E(x) / T + eps eta with eps = 0.005,
T = 1.25e-6 (gradient step 10), per-pixel gradient clip 0.03, pixels clamped to [-1, 1] (Du and Mordatch's
and the tutorial's values); loss CD + 0.1 (mean E_real^2 + mean E_fake^2); Adam lr 1e-4, betas (0, 0.999);
parameter-gradient norm clipped at 0.1.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import checkpoints as ckpt  # noqa: E402
from helpers import data, ebm  # noqa: E402
from helpers.utils import get_device, seed_everything  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=["noise", "buffer", "decay"], required=True)
    p.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget of the training loop (checked after each iteration)")
    p.add_argument("--max-iters", type=int, default=100_000)
    p.add_argument("--width", type=int, default=32, help="ResNetEnergy width (channels of the first stage)")
    ebm.add_recipe_args(p, buffer=10_000)
    p.add_argument("--snapshot-every", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fake", action="store_true", help="FakeData stand-in tensors instead of CIFAR-10 (offline)")
    p.add_argument("--n-fake", type=int, default=2048)
    p.add_argument("--out", default=None, help="checkpoint name (default ebm_cifar_<variant>.pt)")
    p.add_argument("--smoke", action="store_true", help="a few tiny iterations, written to /tmp")
    return p.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    if args.smoke:
        args.max_iters, args.steps, args.batch, args.buffer = 3, 3, 16, 64
        args.width, args.snapshot_every, args.n_fake = 8, 1, 64
    name = args.out or (f"ebm_cifar_{args.variant}{'_fake' if args.fake else ''}.pt")
    if args.smoke and args.out is None:
        name = str(Path(tempfile.gettempdir()) / f"ebm_cifar_{args.variant}_smoke.pt")
    device = get_device()
    seed_everything(args.seed)
    if args.fake:
        x, _ = data.fake_cifar10(args.n_fake, seed=args.seed)
        desc = f"STAND-IN: {args.n_fake} torchvision FakeData tensors shaped like CIFAR-10 (not CIFAR-10)"
    else:
        x, _ = data.cifar10(train=True)
        desc = f"CIFAR-10 training set ({len(x)} images), pixels mapped to [-1, 1]"
    x = ebm.to_signed(x)
    model = ebm.build("resnet", in_channels=3, width=args.width).to(device)
    sampler = ebm.sampler_from_args(args, decay=args.variant == "decay")
    print(f"device {device} | {desc} | {sum(p.numel() for p in model.parameters())} parameters | {sampler}",
          flush=True)
    hist = ebm.train(model, x, n_iters=args.max_iters, minutes=args.minutes, batch_size=args.batch, sampler=sampler,
                     use_buffer=args.variant != "noise", buffer_size=args.buffer, fresh=args.fresh, alpha=args.alpha,
                     lr=args.lr, clip_norm=args.clip_norm, snapshot_every=args.snapshot_every, n_snapshot=16,
                     seed=args.seed, device=device)
    print(f"trained {hist.iterations} iterations in {hist.seconds:.1f} s "
          f"({hist.seconds / max(hist.iterations, 1):.3f} s/iteration wall, "
          f"{hist.cpu_seconds / max(hist.iterations, 1):.3f} s/iteration CPU)", flush=True)
    stride = max(1, hist.iterations // 1000)
    record = {
        "model": "helpers.ebm.build('resnet', in_channels=3, width=...)",
        "arch": "resnet", "arch_kwargs": {"in_channels": 3, "width": args.width},
        "variant": args.variant, "seed": args.seed, "data": desc,
        **ebm.training_record("scripts/train_ebm_cifar.py", sys.argv[1:] if argv is None else argv, args, sampler, hist,
                              device),
        "evaluation": hist.summary(100),
        "curves": {k: [round(v, 5) for v in getattr(hist, k)[::stride]]
                   for k in ("loss", "cd", "reg", "e_real", "e_fake", "grad_norm")},
        "curve_stride": stride,
    }
    full = ckpt.save_checkpoint(model, name, record)
    snaps = {f"iter_{i:06d}": ebm.to_uint8(s) for i, s in hist.snapshots.items()}
    snap_name = str(ckpt.resolve(name)).replace(".pt", "_snapshots.pt")
    ckpt.save_checkpoint(snaps, snap_name, {"of": Path(name).name, "variant": args.variant, "data": desc,
                                            "format": "uint8 (16, 3, 32, 32) negatives per iteration, [0, 255]"})
    print(f"saved {ckpt.resolve(name)} (sha256 {full['sha256'][:12]}...) and {snap_name}", flush=True)
    return full


if __name__ == "__main__":
    main()
