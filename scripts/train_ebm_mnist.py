"""Train an unconditional energy E(x) on MNIST (Homework 5, coding practice 1, Task 1.4) by contrastive divergence
with the deep-EBM tutorial's recipe, in one of three variants of the negatives, and evaluate it.

    python scripts/train_ebm_mnist.py --variant buffer            # writes checkpoints/ebm_mnist_buffer.pt + .json
    python scripts/train_ebm_mnist.py --variant buffer --resume   # continue from runs/ebm_mnist_buffer_seed0_state.pt
    python scripts/train_ebm_mnist.py --variant noise --smoke     # seconds; writes to /tmp, checks the code paths
    python scripts/train_ebm_mnist.py --variant buffer --score-state runs/ebm_mnist_buffer_seed0_state.pt  # scores only

The three variants differ only in where the chains start and in the noise schedule (helpers.ebm.train_step serves
all three):
- noise:  every chain starts from U[-1, 1] noise;
- buffer: 95% of the chains start from a replay buffer of past negatives, 5% from noise (the tutorial's recipe);
- decay:  the buffer, with eps decaying geometrically from 0.005 to 0.001 along each chain.

Recipe (the tutorial's, as flags):
- data: the offline 5k MNIST training subset plus the 9,000 MNIST test digits outside the 1,000 held out by
  helpers.energy.heldout_split (14,000 digits), pixels mapped to [-1, 1], N(0, 0.005^2) noise on the real digits;
- model: the tutorial's Swish CNN (helpers.ebm.CNNEnergy, hidden 32, 76,993 parameters);
- negatives: 60 steps of x <- x - (eps^2 / 2) grad E(x) / T + eps eta with eps = 0.005 and T = 1.25e-6 (a gradient
  step of 10), per-pixel gradients clipped at 0.03, pixels clamped to [-1, 1]; buffer of 8,192 images;
- loss: E(real).mean() - E(fake).mean() + alpha (mean E_real^2 + mean E_fake^2), alpha = 0.1; Adam lr 1e-4,
  betas (0, 0.999); parameter-gradient norm clipped at 0.1; batch 128. The tutorial also lowers the learning rate
  by 3% per epoch (StepLR, gamma 0.97; its loader drops the last partial batch, so an epoch is 468 iterations):
  --lr-gamma 0.97 does nearly the same per --lr-decay-every iterations (default 469); the 2,500- and
  10,000-iteration runs kept it constant (--lr-gamma 1), ebm_mnist_buffer_lrdecay.pt decayed it.
Evaluation (every --eval-every iterations and at the end, on chains the training never saw): --eval-chains chains
from U[-1, 1], --eval-steps steps of the variant's own sampler (seed 1000 + seed), scored by the project's MNIST
classifier (mean max-probability, smallest class share: helpers.energy.quality) and by a classifier two-sample
test against as many held-out digits (helpers.classifier.c2st; 0.5 = indistinguishable). The final evaluation
adds the energy as an out-of-distribution score (AUROC against 1,000 Fashion-MNIST test images and the tutorial's
noise / noisy / flipped / shrunken digits) and the two-sample test's controls (held-out digits against training
digits: about 0.5; U[-1, 1] noise against held-out digits: about 1.0).
With a replay buffer, the final evaluation also scores --eval-chains images drawn from the buffer (the persistent
chains whose last 60 steps the training used as negatives) the same way, under "replay_buffer": the model's samples
by the chains it trained with, beside fresh chains from noise. --score-state STATE prints both for a saved state.

Resumable: the whole training state (weights, Adam, buffer, both random generators, data order, curves) is written
to --state every --state-every iterations and at the end; --resume continues it exactly. The record (seed, data,
command, CPU time, load, sha256, curves, evaluations) is written beside the checkpoint; the negatives snapshotted
along training go to checkpoints/ebm_mnist_<variant>_snapshots.pt (uint8).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import checkpoints as ckpt  # noqa: E402
from helpers import data, ebm, energy, utils  # noqa: E402
from helpers.classifier import c2st  # noqa: E402
from helpers.utils import get_device, seed_everything  # noqa: E402

VARIANTS = {
    "noise": dict(use_buffer=False, decay=False),
    "buffer": dict(use_buffer=True, decay=False),
    "decay": dict(use_buffer=True, decay=True),
}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    p.add_argument("--iters", type=int, default=3000, help="training iterations in all (a resumed run stops here too)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (CPU)")
    ebm.add_recipe_args(p)
    p.add_argument("--lr-gamma", type=float, default=1.0,
                   help="multiply the learning rate by this every --lr-decay-every iterations (the tutorial: 0.97; "
                        "1 keeps it constant, as the runs shipped so far)")
    p.add_argument("--lr-decay-every", type=int, default=469,
                   help="iterations between learning-rate decays (default 469, 60,000 / 128 rounded up, as the "
                        "shipped runs used; the tutorial drops the last partial batch, so its epoch is 468)")
    p.add_argument("--snapshot-every", type=int, default=250, help="keep 16 negatives every this many iterations")
    p.add_argument("--eval-every", type=int, default=500, help="evaluate from noise every this many iterations (0: end only)")
    p.add_argument("--eval-chains", type=int, default=256)
    p.add_argument("--eval-steps", type=int, default=256)
    p.add_argument("--c2st-steps", type=int, default=400, help="Adam steps of each two-sample-test classifier")
    p.add_argument("--state-every", type=int, default=250)
    p.add_argument("--state", default=None, help="training-state file (default runs/ebm_mnist_<variant>_seed<k>_state.pt)")
    p.add_argument("--resume", action="store_true", help="continue from --state")
    p.add_argument("--compact-state", default=None,
                   help="also write the final state here with the buffer as uint8 (small enough to commit; resuming "
                        "from it is approximate)")
    p.add_argument("--out", default=None, help="checkpoint name (default ebm_mnist_<variant>.pt in checkpoints/)")
    p.add_argument("--buffer-sample", type=int, default=0, metavar="N",
                   help="also save N images drawn from the final replay buffer (uint8) as <out>_buffer.pt, for a "
                        "notebook to show the persistent chains")
    p.add_argument("--score-state", default=None, metavar="STATE",
                   help="only score a saved training state (256 chains from noise by the variant's sampler, and as "
                        "many replay-buffer images) and print the scores as JSON; trains and writes nothing")
    p.add_argument("--smoke", action="store_true", help="a few iterations on a small subset, written to /tmp")
    args = p.parse_args(argv)
    if args.iters < 1 or args.batch < 1 or args.steps < 1 or args.eval_chains < 2 or args.eval_steps < 1:
        p.error("--iters, --batch, --steps, --eval-steps must be >= 1 and --eval-chains >= 2")
    if args.buffer_sample < 0 or (args.buffer_sample and not VARIANTS[args.variant]["use_buffer"]):
        p.error(f"--buffer-sample must be >= 0 and needs a variant with a replay buffer (buffer, decay), got "
                f"{args.buffer_sample} with --variant {args.variant}")
    if not 0 < args.lr_gamma <= 1 or args.lr_decay_every < 1:
        p.error(f"--lr-gamma must lie in (0, 1] and --lr-decay-every be >= 1, got {args.lr_gamma} and "
                f"{args.lr_decay_every}")
    if args.smoke:
        args.iters, args.steps, args.eval_steps, args.eval_chains, args.buffer = 4, 3, 5, 16, 256
        args.snapshot_every, args.eval_every, args.state_every, args.c2st_steps = 2, 2, 2, 20
    tmp = Path(tempfile.gettempdir())
    args.out = args.out or (str(tmp / f"ebm_mnist_{args.variant}_smoke.pt") if args.smoke else f"ebm_mnist_{args.variant}.pt")
    args.state = args.state or str((tmp if args.smoke else utils.repo_root() / "runs")
                                   / f"ebm_mnist_{args.variant}_seed{args.seed}_state.pt")
    return args


def repo_relative(path) -> str:
    """A path relative to the project's root when it lies inside (records name files portably), else as given."""
    p = Path(path).resolve()
    return p.relative_to(utils.repo_root()).as_posix() if p.is_relative_to(utils.repo_root()) else str(path)


def sampler_for(args, n_steps: int) -> ebm.SamplerConfig:
    """The variant's sampler over n_steps (the decay variant decays eps over the whole chain)."""
    return ebm.sampler_from_args(args, n_steps, decay=VARIANTS[args.variant]["decay"])


def load_data(smoke: bool):
    """Training digits, held-out test digits and Fashion-MNIST test images, in [-1, 1], with a description."""
    x, _, x_held, _, n_test_in_train = energy.mnist_split()
    xf, _ = data.fashion_mnist(train=False)
    xf = xf[utils.randperm(len(xf), generator=utils.generator(0))[:len(x_held)]]
    if smoke:
        x, x_held, xf = x[::50], x_held[:200], xf[:200]
    desc = (f"MNIST: offline 5k training subset + {n_test_in_train} test digits outside the held-out 1,000 "
            f"(helpers.energy.heldout_split, seed {energy.HELDOUT_SEED}) = {len(x)} digits; evaluation: the "
            f"{len(x_held)} held-out test digits and {len(xf)} Fashion-MNIST test images (seed 0)")
    return ebm.to_signed(x), ebm.to_signed(x_held), ebm.to_signed(xf), desc


def sample_from_noise(model, sampler: ebm.SamplerConfig, n: int, seed: int, device) -> torch.Tensor:
    """n chains from U[-1, 1] under the sampler; returns the final images in [-1, 1] (CPU)."""
    g = utils.generator(seed, device)
    model.eval().requires_grad_(False)
    x0 = ebm.uniform_noise(n, (1, 28, 28), g, device)
    return sampler.run(model, x0, generator=g).cpu()


def sample_scores(model, xs: torch.Tensor, real: torch.Tensor, classifier, args, seed: int, device) -> dict:
    """Images in [-1, 1] scored by the classifier, by the two-sample test against `real`, and by their mean energy."""
    q = energy.quality(classifier, ebm.to_unit(xs))
    test = c2st(ebm.to_unit(real), ebm.to_unit(xs), steps=args.c2st_steps, seed=seed, device=device)
    return {"mean_max_prob": round(q["mean_max_prob"], 4), "min_class": round(q["min_class_fraction"], 4),
            "class_fractions": q["class_fractions"], "c2st_accuracy": round(test["accuracy"], 4),
            "c2st_ci95": [round(v, 4) for v in test["ci95"]], "c2st_n": test["n"],
            "mean_energy_samples": round(ebm.energy_scores(model, xs).mean().item(), 4)}


def evaluate(model, args, x_held: torch.Tensor, classifier, device, controls: dict | None = None,
             buffer_x: torch.Tensor | None = None) -> dict:
    """Samples from noise scored by the classifier and by the two-sample test against held-out digits; with
    buffer_x, as many images of the replay buffer (the persistent chains) scored the same way."""
    t0 = time.perf_counter()
    seed = 1000 + args.seed  # never a training seed
    xs = sample_from_noise(model, sampler_for(args, args.eval_steps), args.eval_chains, seed, device)
    real = x_held[utils.randperm(len(x_held), generator=utils.generator(seed))[:args.eval_chains]]
    out = {**sample_scores(model, xs, real, classifier, args, seed, device),
           "mean_energy_heldout": round(ebm.energy_scores(model, real).mean().item(), 4),
           "chains": args.eval_chains, "steps": args.eval_steps, "sampler_seed": seed}
    if buffer_x is not None:
        pick = utils.randperm(len(buffer_x), generator=utils.generator(seed + 2))[:args.eval_chains]
        out["replay_buffer"] = sample_scores(model, buffer_x[pick].to(device), real, classifier, args, seed, device)
    if controls:
        g = utils.generator(seed + 1)
        x_train_ctrl = controls["x_train"][utils.randperm(len(controls["x_train"]), generator=g)[:args.eval_chains]]
        noise = ebm.uniform_noise(args.eval_chains, (1, 28, 28), g)
        out["c2st_controls"] = {
            "heldout_vs_training_digits": round(c2st(ebm.to_unit(real), ebm.to_unit(x_train_ctrl), steps=args.c2st_steps,
                                                     seed=seed)["accuracy"], 4),
            "heldout_vs_uniform_noise": round(c2st(ebm.to_unit(real), ebm.to_unit(noise), steps=args.c2st_steps,
                                                   seed=seed)["accuracy"], 4)}
        q_noise = energy.quality(classifier, ebm.to_unit(noise))
        out["classifier_on_noise"] = {"mean_max_prob": round(q_noise["mean_max_prob"], 4),
                                      "min_class": round(q_noise["min_class_fraction"], 4)}
        out.update({k: round(v, 4) for k, v in ebm.ood_report(model, x_held, controls["x_fashion"], seed=args.seed).items()})
    out["eval_seconds"] = round(time.perf_counter() - t0, 1)
    model.requires_grad_(True).train()
    return out


def buffer_images(saved: dict) -> torch.Tensor:
    """A saved replay buffer's images in [-1, 1]: float32, or zlib-compressed uint8 in a compact state."""
    bx = saved["x"]
    if saved.get("codec") == "uint8-zlib":
        raw = zlib.decompress(bytes(bx.numpy()))
        bx = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(saved["shape"])
    return ebm.from_uint8(bx) if bx.dtype == torch.uint8 else bx


def score_state(args, device) -> dict:
    """The final evaluation's sample scores (from noise, and the replay buffer's images) of a saved training state,
    without training or writing anything: what --score-state prints."""
    _, x_held, _, _ = load_data(args.smoke)
    s = torch.load(args.score_state, map_location="cpu", weights_only=True)
    model = ebm.build("cnn", hidden=32).to(device)
    model.load_state_dict(s["model"])
    buffer_x = buffer_images(s["buffer"]) if s.get("buffer") else None
    out = evaluate(model, args, x_held, energy.load_classifier(device=device), device, buffer_x=buffer_x)
    return {"state": repo_relative(args.score_state), "state_sha256": ckpt.sha256sum(args.score_state),
            "iteration": s["iteration"], **out}


def save_state(path: Path, it: int, model, opt, buffer, g, perm, pos, hist: ebm.History, evals: list, cpu_used: float,
               wall_used: float, loads: list, commands: list, compact: bool = False) -> None:
    """Everything a resumed run needs, written atomically (weights_only-loadable types only). compact=True stores
    the replay buffer as zlib-compressed uint8 (1/255 steps), so a resume from it is close to, not exactly, the run."""
    extra = {}
    bx = None if buffer is None else buffer.x
    if compact and buffer is not None:  # uint8, then zlib: mostly-black digits compress several-fold
        u8 = ebm.to_uint8(buffer.x)
        bx = torch.frombuffer(bytearray(zlib.compress(u8.numpy().tobytes(), 9)), dtype=torch.uint8)
        extra = {"codec": "uint8-zlib", "shape": list(u8.shape)}
    state = {"iteration": it, "model": model.state_dict(), "optimizer": opt.state_dict(),
             "buffer": None if buffer is None else {"x": bx, **extra, "next": buffer._next,
                                                    "generator": buffer.generator.get_state()},
             "generator": g.get_state(), "perm": perm, "pos": pos,
             "curves": {k: getattr(hist, k) for k in ("loss", "cd", "reg", "e_real", "e_fake", "grad_norm")},
             "snapshots": hist.snapshots, "evals": json.dumps(evals), "cpu_seconds": cpu_used,
             "wall_seconds": wall_used, "loads": json.dumps(loads), "commands": json.dumps(commands)}
    ckpt.save_atomic(state, path)


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device = get_device()
    if args.score_state:
        if not Path(args.score_state).exists():
            sys.exit(f"--score-state: no training state at {args.score_state}")
        scores = score_state(args, device)
        print(json.dumps(scores, indent=1), flush=True)
        return scores
    seed_everything(args.seed)
    x, x_held, x_fashion, desc = load_data(args.smoke)
    v = VARIANTS[args.variant]
    model = ebm.build("cnn", hidden=32).to(device)
    opt = ebm.make_optimizer(model, args.lr)
    sampler = sampler_for(args, args.steps)
    buffer = ebm.ReplayBuffer((1, 28, 28), args.buffer, args.fresh, seed=args.seed) if v["use_buffer"] else None
    g = utils.generator(args.seed, device)
    hist = ebm.History()
    perm, pos, start_it, evals, cpu_before, wall_before, loads, commands = None, 0, 0, [], 0.0, 0.0, [], []
    state_path = Path(args.state)
    if args.resume:
        if not state_path.exists():
            sys.exit(f"--resume: no training state at {state_path}; start without --resume")
        s = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["optimizer"])
        if buffer is not None:
            buffer.x = buffer_images(s["buffer"])
            buffer._next = s["buffer"]["next"]
            buffer.generator.set_state(s["buffer"]["generator"])
        g.set_state(s["generator"])
        perm, pos, start_it = s["perm"], s["pos"], s["iteration"]
        for k, vals in s["curves"].items():
            setattr(hist, k, list(vals))
        hist.snapshots, hist.iterations = dict(s["snapshots"]), start_it
        evals, loads = json.loads(s["evals"]), json.loads(s["loads"])
        commands = json.loads(s.get("commands", "[]"))
        cpu_before, wall_before = s["cpu_seconds"], s["wall_seconds"]
        print(f"resumed {state_path} at iteration {start_it}", flush=True)
    if perm is None:
        perm = utils.randperm(len(x), generator=g, device=x.device)
    commands.append({"argv": sys.argv[1:] if argv is None else list(argv), "from_iteration": start_it})
    classifier = energy.load_classifier(device=device)
    print(f"{args.variant}: device {device}, {torch.get_num_threads()} threads | {len(x)} training digits | "
          f"{sum(p.numel() for p in model.parameters()):,} parameters | sampler {sampler}", flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    for it in utils.progress(range(start_it, args.iters), desc=f"CD {args.variant}", initial=start_it, total=args.iters):
        if pos + args.batch > len(x):
            perm, pos = utils.randperm(len(x), generator=g, device=x.device), 0
        idx = perm[pos:pos + args.batch]
        pos += args.batch
        for group in opt.param_groups:  # a function of the iteration alone, so a resumed run continues it exactly
            group["lr"] = ebm.step_decay_lr(args.lr, args.lr_gamma, args.lr_decay_every, it)
        out = ebm.train_step(model, opt, x[idx].to(device), None, sampler, buffer, args.alpha, args.clip_norm,
                             0.005, g)
        if not math.isfinite(out["loss"]):
            sys.exit(f"CD training diverged at iteration {it}: loss {out['loss']}; the last state is {state_path}")
        hist.append(out)
        done = it + 1
        if done % args.snapshot_every == 0 or it == start_it == 0:
            hist.snapshots[it] = out["x_fake"][:16].cpu().clone()  # clone: a view would save all 128
        if args.eval_every and done % args.eval_every == 0 and done < args.iters:
            e = evaluate(model, args, x_held, classifier, device)
            loads.append([done, round(os.getloadavg()[0], 2)])
            evals.append({"iteration": done, **e})
            print(f"iteration {done}: " + json.dumps({k: e[k] for k in ("mean_max_prob", "min_class", "c2st_accuracy",
                                                                         "mean_energy_samples", "mean_energy_heldout")}),
                  flush=True)
        if done % args.state_every == 0 or done == args.iters:
            save_state(state_path, done, model, opt, buffer, g, perm, pos, hist, evals,
                       cpu_before + time.process_time() - c0, wall_before + time.perf_counter() - t0, loads, commands)
    hist.cpu_seconds = cpu_before + time.process_time() - c0
    hist.seconds = wall_before + time.perf_counter() - t0
    hist.iterations = len(hist.loss)
    print(f"trained {hist.iterations} iterations: {hist.cpu_seconds:.0f} CPU s, "
          f"{hist.cpu_seconds / hist.iterations:.3f} CPU s/iteration", flush=True)

    if args.compact_state:
        save_state(Path(args.compact_state), len(hist.loss), model, opt, buffer, g, perm, pos, hist, evals,
                   hist.cpu_seconds, hist.seconds, loads, commands, compact=True)
    final = evaluate(model, args, x_held, classifier, device, controls={"x_train": x, "x_fashion": x_fashion},
                     buffer_x=None if buffer is None else buffer.x)
    print(json.dumps(final, indent=1), flush=True)
    snap_name = Path(args.out).stem + "_snapshots.pt"
    snap_path = ckpt.resolve(args.out).with_name(snap_name)
    torch.save({int(k): ebm.to_uint8(v) for k, v in hist.snapshots.items()}, snap_path)
    buffer_record = {}
    if args.buffer_sample and buffer is not None:
        pick = utils.randperm(len(buffer.x), generator=utils.generator(2000 + args.seed))[:args.buffer_sample]
        buf_path = ckpt.resolve(args.out).with_name(Path(args.out).stem + "_buffer.pt")
        torch.save(ebm.to_uint8(buffer.x[pick]), buf_path)
        buffer_record = {"buffer_sample_file": buf_path.name, "buffer_sample_sha256": ckpt.sha256sum(buf_path),
                         "buffer_sample": f"{len(pick)} images drawn uniformly (seed {2000 + args.seed}) from the final "
                                          f"replay buffer of {len(buffer.x)}, uint8 (pixel in [0, 1] x 255)"}
    stride = max(1, hist.iterations // 500)
    record = {
        "model": "helpers.ebm.build('cnn', hidden=32): the tutorial's Swish CNN",
        "arch": "cnn", "arch_kwargs": {"hidden": 32},
        "variant": args.variant, "variant_description": {
            "noise": "negatives: 60-step chains from U[-1, 1] noise",
            "buffer": "negatives: 60-step chains, 95% from a replay buffer of 8,192 past negatives, 5% from noise",
            "decay": "negatives: as buffer, with eps decaying geometrically 0.005 -> 0.001 along each chain"}[args.variant],
        "seed": args.seed, "data": desc,
        **ebm.training_record("scripts/train_ebm_mnist.py", sys.argv[1:] if argv is None else argv, args, sampler,
                              hist, device),
        "commands": commands,  # every segment of a resumed run, with the iteration it started from
        "load_average_at_evaluations": loads,
        "summary_last_100": hist.summary(100),
        "curves": {k: [round(a, 5) for a in getattr(hist, k)[::stride]] for k in ("loss", "cd", "reg", "e_real", "e_fake")},
        "curve_stride": stride,
        "snapshots_file": snap_name, "snapshots_sha256": ckpt.sha256sum(snap_path), **buffer_record,
        "evaluations_during_training": evals,
        "metrics": {k: final[k] for k in ("mean_max_prob", "min_class", "c2st_accuracy")},
        "evaluation": final,
        "state_file": repo_relative(state_path), "state_sha256": ckpt.sha256sum(state_path),
        **({"compact_state_file": str(args.compact_state), "compact_state_sha256": ckpt.sha256sum(args.compact_state)}
           if args.compact_state else {}),
    }
    full = ckpt.save_checkpoint(model, args.out, record)
    print(f"saved {ckpt.resolve(args.out)} (sha256 {full['sha256'][:12]}...)", flush=True)
    return full


if __name__ == "__main__":
    main()
