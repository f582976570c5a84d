"""Train JEM or JEM++ on MNIST from the shipped classifier (notebook 07, Homework 5 coding practice 2).

    python scripts/train_jem.py --method jem   --minutes 40     # JEM: replay buffer + noise, SGLD (20 steps)
    python scripts/train_jem.py --method jempp --minutes 40     # JEM++: class-GMM starts, proximal SGLD (10 steps)
    python scripts/train_jem.py --method jem --proximal --iters 472 --minutes 600 --lr 3e-5 --px-weight 0.1 \
        --out jem_jemprox.pt                                    # JEM with the proximal step alone (ablation)
    python scripts/train_jem.py --method jem --smoke            # a few iterations, nothing saved unless --out

The model is helpers.jem.JEMCNN initialised from checkpoints/mnist_classifier.pt with its BatchNorm
folded into the convolutions (the same function, 98.9% held-out accuracy). Data: the offline 5k MNIST
training subset plus the 9,000 test digits that are not held out (as scripts/train_mnist_classifier.py),
shuffled; the 1,000 held-out test digits of helpers.energy.heldout_split measure the test accuracy.
Training stops after --iters iterations or --minutes of wall time, whichever comes first. A step whose
loss is not finite or whose |E_real - E_fake| exceeds --max-gap counts as a divergence: the model,
optimiser (and JEM's buffer) go back to the last good state (kept every --eval-every iterations).
Saved: checkpoints/jem_<method>.pt (+ .json record) and jem_<method>_samples.pt (samples for the notebook).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import checkpoints as ckpt  # noqa: E402
from helpers import energy, jem, utils  # noqa: E402
from helpers.classifier import accuracy, predict_proba  # noqa: E402
from helpers.utils import get_device, seed_everything  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", choices=["jem", "jempp"], required=True)
    p.add_argument("--minutes", type=float, default=40.0, help="wall-clock cap on training")
    p.add_argument("--iters", type=int, default=100_000, help="cap on iterations")
    p.add_argument("--smoke", action="store_true", help="a few iterations on small settings; saves only with --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--steps", type=int, default=None, help="SGLD steps per iteration (JEM 20, JEM++ 10)")
    p.add_argument("--step-size", type=float, default=jem.JEM_STEP_SIZE)
    p.add_argument("--noise", type=float, default=jem.JEM_NOISE)
    p.add_argument("--bound", type=float, default=0.03, help="JEM++ proximal bound per pixel and step")
    p.add_argument("--proximal", action="store_true",
                   help="JEM with JEM++'s proximal SGLD (--bound) and nothing else changed: the ablation of the step")
    p.add_argument("--buffer", type=int, default=10_000, help="JEM's replay buffer size")
    p.add_argument("--reinit", type=float, default=jem.JEM_REINIT)
    p.add_argument("--gmm-cov", choices=["diag", "full"], default="full",
                   help="class Gaussians' covariance (full: as JEM++, about 15 s to fit on CPU)")
    p.add_argument("--energy-l2", type=float, default=0.0, help="optional alpha * (E_real^2 + E_fake^2)")
    p.add_argument("--n-fake", type=int, default=None, help="SGLD negatives per iteration (default: --batch)")
    p.add_argument("--px-weight", type=float, default=1.0, help="weight of the log p(x) term (JEM: 1)")
    p.add_argument("--px-warmup", type=int, default=0, help="iterations over which the log p(x) weight ramps 0 -> 1")
    p.add_argument("--max-gap", type=float, default=1e3)
    p.add_argument("--shift", type=int, default=2, help="random shifts of the real batch (as the classifier)")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--n-samples", type=int, default=100, help="samples saved for the notebook")
    p.add_argument("--eval-steps", type=int, default=None, help="SGLD steps for the saved samples (default 5x)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default=None)
    p.add_argument("--out", default=None, help="checkpoint name (default jem_<method>.pt)")
    args = p.parse_args(argv)
    if args.proximal and args.method == "jempp":
        p.error("--proximal adds JEM++'s proximal step to JEM; JEM++ always takes it (its bound is --bound): "
                "drop --proximal, or use --method jem for the ablation")
    return args


def main():
    args = parse()
    torch.set_num_threads(args.threads)
    g = seed_everything(args.seed)
    device = get_device(args.device)
    if args.smoke:
        args.iters, args.buffer, args.eval_every, args.n_samples = min(args.iters, 6), 200, 3, 16
    steps = args.steps or (20 if args.method == "jem" else 10)
    if args.smoke and args.steps is None:
        steps = 3

    x, y, x_test, y_test, n_test_in_train = energy.mnist_split()

    base = energy.load_classifier()
    base_acc = accuracy(base, x_test, y_test)
    model = jem.JEMCNN.from_small_cnn(base).to(device)
    init_acc = accuracy(model, x_test, y_test)
    print(f"baseline classifier {base_acc:.4f}; folded JEMCNN {init_acc:.4f} (held-out 1,000)", flush=True)

    gmm, t_gmm = None, 0.0
    if args.method == "jem":
        config = jem.SamplerConfig.jem(n_steps=steps, step_size=args.step_size, noise_scale=args.noise,
                                       buffer_size=args.buffer, reinit=args.reinit,
                                       bound=args.bound if args.proximal else None)
    else:
        t0 = time.time()
        gmm = jem.ClassGaussianMixture(args.gmm_cov, seed=args.seed).fit(x, y)
        t_gmm = time.time() - t0
        print(f"class GMM ({args.gmm_cov}) fitted in {t_gmm:.1f} s", flush=True)
        config = jem.SamplerConfig.jempp(n_steps=steps, step_size=args.step_size, noise_scale=args.noise,
                                         bound=args.bound)
    sampler = jem.NegativeSampler(config, gmm=gmm, generator=g, device=device)
    res = jem.fit(model, x, y, x_test, y_test, sampler, iters=args.iters, minutes=args.minutes, batch=args.batch,
                  lr=args.lr, shift=args.shift, n_fake=args.n_fake, px_weight=args.px_weight, px_warmup=args.px_warmup,
                  energy_l2=args.energy_l2, max_gap=args.max_gap, eval_every=args.eval_every, generator=g,
                  device=device)
    it, train_seconds, test_acc = res["iterations"], res["train_seconds"], res["test_acc"]
    sec_per_it, cpu_per_it, divergences = res["seconds_per_iteration"], res["cpu_seconds_per_iteration"], res["divergences"]
    curves = res["curves"]
    print(f"{it} iterations in {train_seconds:.0f} s ({sec_per_it:.2f} s/iteration, {cpu_per_it:.2f} CPU s); "
          f"held-out accuracy {test_acc:.4f}; {len(divergences)} divergences", flush=True)

    # samples for the notebook: the buffer's chains (JEM) or fresh GMM starts (JEM++), run longer
    eval_steps = args.eval_steps or 5 * steps
    x0 = sampler.buffer.starts(args.n_samples, g)[0] if sampler.buffer is not None else sampler.init(args.n_samples)
    t0 = time.time()
    samples = jem.sgld(model, x0.to(device), eval_steps, config.step_size, config.noise_scale, config.bound).cpu()
    t_sample = time.time() - t0
    q = energy.quality(base, samples)
    share_conf = (predict_proba(base, samples.clamp(0, 1)).max(1).values > 0.9).float().mean().item()
    with torch.no_grad():
        e_test = model.energy(x_test[:500].to(device)).mean().item()
        e_samp = model.energy(samples.to(device)).mean().item()
        e_noise = model.energy(utils.rand(500, 1, 28, 28, generator=g, device=device)).mean().item()
    print(f"samples ({eval_steps} SGLD steps): baseline confidence {q['mean_max_prob']:.3f}, share > 0.9 "
          f"{share_conf:.2f}; energies test {e_test:.2f}, samples {e_samp:.2f}, noise {e_noise:.2f}", flush=True)

    if args.smoke and args.out is None:
        print("smoke run: nothing saved")
        return
    name = args.out or f"jem_{args.method}.pt"
    command = utils.command_line("scripts/train_jem.py", sys.argv[1:])
    record = {
        "model": "helpers.jem.JEMCNN(n_classes=10, width=32) from mnist_classifier.pt (BatchNorm folded)",
        "method": args.method, "seed": args.seed, "command": command, "device": str(device),
        "data": f"MNIST: offline 5k training subset + {n_test_in_train} test digits (random shifts <= {args.shift} px), "
                f"shuffled; test: the 1,000 held-out test digits of helpers.energy.heldout_split"
                f"(seed={energy.HELDOUT_SEED})",
        "sampler": {**vars(config), "clamp": list(jem.CLAMP), "gmm_covariance": args.gmm_cov if gmm else None,
                    "gmm_fit_seconds": round(t_gmm, 1)},
        "optimizer": {"name": "Adam", "lr": args.lr, "batch": args.batch, "n_fake": args.n_fake or args.batch,
                      "energy_l2": args.energy_l2, "px_weight": args.px_weight, "px_warmup": args.px_warmup, "shift": args.shift},
        "iterations": it, "train_seconds": round(train_seconds, 1), "seconds_per_iteration": round(sec_per_it, 3),
        "cpu_seconds_per_iteration": round(cpu_per_it, 3), "threads": args.threads,
        "baseline_heldout_accuracy": round(base_acc, 4), "initial_heldout_accuracy": round(init_acc, 4),
        "heldout_accuracy": round(test_acc, 4),
        "divergences": divergences, "n_divergences": len(divergences), "max_gap": args.max_gap,
        "curves": curves,
        "samples": {"n": len(samples), "sgld_steps": eval_steps, "seconds": round(t_sample, 1),
                    "baseline_mean_max_prob": round(q["mean_max_prob"], 4), "share_conf_gt_0.9": round(share_conf, 4),
                    "class_fractions": q["class_fractions"]},
        "energies": {"heldout_mean": round(e_test, 3), "samples_mean": round(e_samp, 3), "uniform_noise_mean": round(e_noise, 3)},
    }
    rec = ckpt.save_checkpoint(model, name, record)
    path = ckpt.resolve(name)
    ckpt.save_checkpoint({"samples": samples, "starts": x0.cpu()}, path.with_name(path.stem + "_samples.pt"),
                         {"of": name, "seed": args.seed, "command": command, "sgld_steps": eval_steps})
    print("saved", name, rec["sha256"][:12])


if __name__ == "__main__":
    main()
