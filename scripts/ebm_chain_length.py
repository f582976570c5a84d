"""How the class mix of an image EBM's chains from noise changes with the chain's length (notebook 06, *Why the 1s
are missing*). Runs `--chains` chains of the model's own sampler (the tutorial's: step 10 on the clamped gradient,
noise 0.005, pixels clamped to [-1, 1]) from U[-1, 1] for `--max-steps` steps and scores the same chains after
256, 512, 1,024, ... steps: the project's MNIST classifier (class fractions, mean max-prob), a classifier
two-sample test against as many held-out digits, and the mean energy. One process per sampler seed; `--merge`
pools the seeds into checkpoints/<model>_chain_length.json, with the first `--images` chains of the first seed at
every length (uint8) in <model>_chain_length_images.pt.

    OMP_NUM_THREADS=1 python scripts/ebm_chain_length.py --seed 0 &
    OMP_NUM_THREADS=1 python scripts/ebm_chain_length.py --seed 1 &
    wait; python scripts/ebm_chain_length.py --merge 0 1
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import checkpoints, ebm, energy, utils  # noqa: E402
from helpers.classifier import c2st  # noqa: E402

SEED_OFFSET = 3000  # sampler seeds 3000 + k: apart from the training seeds and the record's evaluation seeds (1000 + k)


def lengths(first: int, last: int) -> list[int]:
    """first, 2 first, 4 first, ... up to last."""
    out = [first]
    while out[-1] * 2 <= last:
        out.append(out[-1] * 2)
    return out


def part_path(ckpt: str, seed: int) -> Path:
    return utils.repo_root() / "runs" / "chain_length" / f"{Path(ckpt).stem}_seed{seed}.json"


def run_seed(a) -> dict:
    """Chains of one sampler seed, scored at every length."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    model = ebm.load(a.ckpt, device="cpu").eval().requires_grad_(False)
    classifier = energy.load_classifier(device="cpu")
    _, _, x_held, _, _ = energy.mnist_split()
    x_held = ebm.to_signed(x_held)
    seed = SEED_OFFSET + a.seed
    g = utils.generator(seed)
    real = ebm.to_unit(x_held[utils.randperm(len(x_held), generator=utils.generator(seed))[:a.chains]])
    x0 = ebm.uniform_noise(a.chains, (1, 28, 28), g, "cpu")
    marks = lengths(a.first, a.max_steps)
    _, traj = ebm.SamplerConfig(n_steps=marks[-1]).run(model, x0, generator=g, every=a.first)
    out, images = {}, {}
    for k in marks:
        xs = traj[k // a.first]
        images[k] = ebm.to_uint8(xs[:a.images])
        xu = ebm.to_unit(xs)
        q = energy.quality(classifier, xu)
        test = c2st(real, xu, steps=a.c2st_steps, seed=seed)
        out[k] = {"class_counts": torch.bincount(torch.tensor(q["labels"]), minlength=10).tolist(),
                  "mean_max_prob": round(q["mean_max_prob"], 4), "c2st_accuracy": round(test["accuracy"], 4),
                  "c2st_ci95": [round(v, 4) for v in test["ci95"]],
                  "mean_energy": round(ebm.energy_scores(model, xs).mean().item(), 4)}
        print(f"seed {a.seed}, {k:6d} steps: 1s {out[k]['class_counts'][1]:3d} of {a.chains}, smallest class "
              f"{min(out[k]['class_counts'])}, max-prob {q['mean_max_prob']:.3f}, C2ST {test['accuracy']:.3f}", flush=True)
    if a.images:
        torch.save(images, part_path(a.ckpt, a.seed).with_suffix(".pt"))
    return {"seed": a.seed, "sampler_seed": seed, "chains": a.chains, "by_length": out,
            "cpu_seconds": round(time.process_time() - cpu0, 1), "wall_seconds": round(time.perf_counter() - wall0, 1),
            "loadavg": os.getloadavg(), "hardware": utils.hardware(),
            "command": utils.command_line("scripts/ebm_chain_length.py", sys.argv[1:])}


def merge(a) -> dict:
    """The seeds' parts pooled: per length, the class counts summed, and each seed's count of 1s, classifier
    max-prob, two-sample accuracy and mean energy side by side."""
    parts = [json.loads(part_path(a.ckpt, s).read_text()) for s in a.merge]
    rec = checkpoints.load_record(a.ckpt)
    steps = sorted({int(k) for p in parts for k in p["by_length"]})
    pooled = {}
    for k in steps:
        rows = [p["by_length"][str(k)] for p in parts]
        counts = [sum(c) for c in zip(*(r["class_counts"] for r in rows))]
        n = sum(p["chains"] for p in parts)
        pooled[k] = {"chains": n, "class_counts": counts, "class_fractions": [round(c / n, 4) for c in counts],
                     "min_class": round(min(counts) / n, 4), "ones_by_seed": [r["class_counts"][1] for r in rows],
                     "mean_max_prob_by_seed": [r["mean_max_prob"] for r in rows],
                     "c2st_accuracy_by_seed": [r["c2st_accuracy"] for r in rows],
                     "mean_energy_by_seed": [r["mean_energy"] for r in rows]}
    return {"what": __doc__.split("\n\n")[0], "model": a.ckpt, "model_sha256": rec["sha256"],
            "model_iterations": rec.get("iterations"), "sampler": "helpers.ebm.SamplerConfig() (the tutorial's)",
            "classifier": "helpers.energy.load_classifier (the project's MNIST classifier)",
            "held_out": "helpers.energy.mnist_split's 1,000 held-out test digits",
            "pooled": pooled, "parts": parts, "cpu_seconds": round(sum(p["cpu_seconds"] for p in parts), 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **utils.versions()}


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default="ebm_mnist_buffer_lrdecay.pt")
    p.add_argument("--seed", type=int, default=0, help="sampler seed k (draws from seed 3000 + k)")
    p.add_argument("--chains", type=int, default=256)
    p.add_argument("--first", type=int, default=256, help="the shortest length scored; then doublings")
    p.add_argument("--max-steps", type=int, default=16384)
    p.add_argument("--c2st-steps", type=int, default=400)
    p.add_argument("--images", type=int, default=16, help="keep this many chains' images at every length (0: none)")
    p.add_argument("--merge", type=int, nargs="+", help="pool these seeds' parts into checkpoints/")
    a = p.parse_args(argv)
    if a.merge:
        out = checkpoints.resolve(f"{Path(a.ckpt).stem}_chain_length.json")
        record = merge(a)
        pictures = part_path(a.ckpt, a.merge[0]).with_suffix(".pt")
        if pictures.exists():
            kept = out.with_name(out.stem + "_images.pt")
            kept.write_bytes(pictures.read_bytes())
            record["images"] = {"file": kept.name, "sha256": checkpoints.sha256sum(kept),
                                "what": f"the first chains of sampler seed {a.merge[0]} after each length, uint8 "
                                        "(helpers.ebm.to_uint8), a dict steps -> (n, 1, 28, 28)"}
        out.write_text(json.dumps(record, indent=1) + "\n")
    else:
        out = part_path(a.ckpt, a.seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(run_seed(a), indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
