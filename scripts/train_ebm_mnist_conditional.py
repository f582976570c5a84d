"""Train the class-conditional energy E(x, y) on MNIST (Homework 5, 1.5) by contrastive divergence with the
deep-EBM tutorial's recipe, and evaluate it: the share of class-conditional samples that the shipped MNIST
classifier assigns to the conditioning class (goal >= 90%), and the AUROC of the energy as an
out-of-distribution detector against Fashion-MNIST (and the tutorial's noise / flipped / shrunken digits).

    python scripts/train_ebm_mnist_conditional.py                 # --minutes of training, writes
                                                                  # checkpoints/ebm_mnist_conditional.pt + .json
    python scripts/train_ebm_mnist_conditional.py --smoke         # seconds; writes to /tmp, checks the code paths

Recipe (tutorial defaults, as flags):
- data: the offline 5k MNIST training subset plus the 9,000 MNIST test digits outside the 1,000 held out by
  helpers.energy.heldout_split (the classifier's training data too), pixels mapped to [-1, 1], N(0, 0.005^2)
  noise on the real digits;
- model: helpers.ebm.build(arch, n_classes=10): a multi-head network whose label picks the head,
  E(x, y) = f(x)[y]; default the tutorial's Swish CNN ('cnn'), or the 9-block ResNet ('resnet');
- negatives: a conditional replay buffer (95% buffer with their labels, 5% U[-1, 1] with random labels),
  60 steps of x <- x - (eps^2 / 2) grad E(x, y) / T + eps eta with y fixed, eps = 0.005 and T = 1.25e-6
  (a gradient step of 10, the tutorial's sampler), per-pixel gradients clipped at 0.03, pixels clamped to
  [-1, 1];
- loss: E(real, y).mean() - E(fake, y_fake).mean() + alpha (mean E_real^2 + mean E_fake^2), alpha = 0.1,
  plus --ce-weight (default 1) x the cross-entropy of softmax_y(-E(x_real, y)) on the real labels;
  Adam lr 1e-4, betas (0, 0.999); parameter-gradient norm clipped at 0.1.
Evaluation: 100 chains per class from U[-1, 1], --eval-steps steps of the same sampler with y fixed, labelled
by checkpoints/mnist_classifier.pt; OOD scores on the 1,000 held-out test digits vs 1,000 Fashion-MNIST test
images, using the marginal energy -logsumexp_y(-E(x, y)).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import checkpoints as ckpt  # noqa: E402
from helpers import data, ebm, energy, utils  # noqa: E402
from helpers.utils import get_device, seed_everything  # noqa: E402

NAME = "ebm_mnist_conditional.pt"


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=40.0, help="wall-clock budget of the training loop (checked after each iteration)")
    p.add_argument("--max-iters", type=int, default=100_000)
    p.add_argument("--arch", choices=["cnn", "resnet"], default="cnn")
    p.add_argument("--width", type=int, default=32, help="hidden width (cnn: hidden, resnet: width)")
    ebm.add_recipe_args(p, eps_end=None)
    p.add_argument("--ce-weight", type=float, default=1.0,
                   help="weight of a cross-entropy term on -E(x_real, .) (the shipped model: 1; 0: the plain CD recipe)")
    p.add_argument("--eval-steps", type=int, default=256, help="Langevin steps of the evaluation chains")
    p.add_argument("--eval-per-class", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=NAME, help="checkpoint name (in checkpoints/) or path")
    p.add_argument("--smoke", action="store_true", help="a few iterations on a small subset, written to /tmp")
    return p.parse_args(argv)


def load_data(smoke: bool):
    """Training digits (5k subset + non-held-out test digits) and held-out test digits, in [-1, 1]."""
    x, y, x_held, y_held, n_test_in_train = energy.mnist_split()
    xf, _ = data.fashion_mnist(train=False)
    xf = xf[utils.randperm(len(xf), generator=utils.generator(0))[:len(x_held)]]
    if smoke:
        x, y = x[::50], y[::50]
        x_held, y_held, xf = x_held[:200], y_held[:200], xf[:200]
    desc = (f"MNIST: offline 5k training subset + {n_test_in_train} test digits outside the held-out 1,000 "
            f"(helpers.energy.heldout_split, seed {energy.HELDOUT_SEED}) = {len(x)} digits; evaluation: the "
            f"{len(x_held)} held-out test digits and {len(xf)} Fashion-MNIST test images (seed 0)")
    return ebm.to_signed(x), y, ebm.to_signed(x_held), y_held, ebm.to_signed(xf), desc


def downsample(v: list[float], n: int = 500) -> list[float]:
    """At most n evenly spaced points of a curve (the record stays small)."""
    step = max(1, len(v) // n)
    return [round(a, 5) for a in v[::step]]


def main(argv=None):
    args = parse(argv)
    if args.smoke:
        args.minutes, args.max_iters = min(args.minutes, 1.0), min(args.max_iters, 5)
        args.steps, args.eval_steps, args.eval_per_class, args.buffer = 5, 10, 4, 256
        if args.out == NAME:
            args.out = str(Path(tempfile.gettempdir()) / "ebm_mnist_conditional_smoke.pt")
    device = get_device()
    seed_everything(args.seed)
    x, y, x_held, y_held, x_fashion, desc = load_data(args.smoke)
    arch_kwargs = {"hidden": args.width} if args.arch == "cnn" else {"in_channels": 1, "width": args.width}
    arch_kwargs["n_classes"] = 10
    model = ebm.build(args.arch, **dict(arch_kwargs)).to(device)
    sampler = ebm.sampler_from_args(args, decay=args.eps_end is not None)
    print(f"device {device} | {len(x)} training digits | {sum(p.numel() for p in model.parameters())} parameters"
          f" | sampler {sampler}", flush=True)
    hist = ebm.train(model, x, y, n_iters=args.max_iters, minutes=args.minutes, batch_size=args.batch,
                     sampler=sampler, use_buffer=True, buffer_size=args.buffer, fresh=args.fresh, alpha=args.alpha,
                     lr=args.lr, clip_norm=args.clip_norm, snapshot_every=0, seed=args.seed, device=device,
                     ce_weight=args.ce_weight)
    print(f"trained {hist.iterations} iterations in {hist.seconds:.1f} s "
          f"({hist.seconds / max(hist.iterations, 1):.3f} s/iteration wall, "
          f"{hist.cpu_seconds / max(hist.iterations, 1):.3f} s/iteration CPU)", flush=True)

    # evaluation: class-conditional samples labelled by the shipped classifier, OOD scores
    t0 = time.perf_counter()
    model.eval().requires_grad_(False)
    classifier = energy.load_classifier(device=device)
    y_eval = torch.arange(10).repeat_interleave(args.eval_per_class)
    eval_sampler = ebm.SamplerConfig(n_steps=args.eval_steps, eps=sampler.eps, temperature=sampler.temperature,
                                     grad_clip=sampler.grad_clip)
    samples = ebm.sample_conditional(model, y_eval.to(device), eval_sampler, seed=args.seed + 1, device=device)
    share = ebm.conditional_share(classifier, samples, y_eval)
    per_class = ebm.per_class_share(classifier, samples, y_eval)
    ood = ebm.ood_report(model, x_held, x_fashion, seed=args.seed)
    held_acc = (model.classify(x_held.to(device)).cpu() == y_held).float().mean().item()
    eval_seconds = time.perf_counter() - t0
    evaluation = {"conditional_share": share, "conditional_share_per_class": [round(v, 4) for v in per_class],
                  "eval_chains": len(y_eval), "eval_steps": args.eval_steps,
                  "heldout_accuracy_argmin_energy": held_acc, **ood, "eval_seconds": round(eval_seconds, 1)}
    print(json.dumps(evaluation, indent=1), flush=True)

    record = {
        "model": f"helpers.ebm.build({args.arch!r}, **arch_kwargs)",
        "arch": args.arch, "arch_kwargs": arch_kwargs,
        "seed": args.seed, "data": desc,
        **ebm.training_record("scripts/train_ebm_mnist_conditional.py", sys.argv[1:] if argv is None else argv, args, sampler, hist,
                              device),
        "summary_last_100": hist.summary(100),
        "curves": {k: downsample(getattr(hist, k)) for k in ("loss", "cd", "reg", "e_real", "e_fake")},
        "curve_stride": max(1, hist.iterations // 500),
        "evaluation": evaluation,
    }
    full = ckpt.save_checkpoint(model, args.out, record)
    print(f"saved {ckpt.resolve(args.out)} (sha256 {full['sha256'][:12]}...)", flush=True)
    return full


if __name__ == "__main__":
    main()
