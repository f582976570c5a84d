"""How much does notebook 09's `digit_share` depend on the referee's seed? Train the 11-class referee again with
other seeds (same data, architecture and recipe as `train_hoda_gans.py --only referee`), and score with every
referee the same images: the held-out real digits, noise and blobs (the controls), and the plain GAN's
generators of both seeds at 20,000 and 108,000 generator steps and the WGAN-GP's at 20,000 (5,000 binarised
samples each, drawn as in the generators' final scores). Writes checkpoints/hoda_referee_seeds.json.

    mkdir -p /tmp/g108  # the 108k generators from the commits in their records' state_commit:
    git show 7991def:checkpoints/training_state/hoda_gan_seed0_108k_G.pt > /tmp/g108/hoda_gan_seed0_108k_G.pt
    git show 1022d3b:checkpoints/training_state/hoda_gan_seed1_108k_G.pt > /tmp/g108/hoda_gan_seed1_108k_G.pt
    OMP_NUM_THREADS=1 python scripts/referee_seeds.py --seeds 2 3 4 5 --g108 /tmp/g108
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import checkpoints, classifier, gan, referee, utils  # noqa: E402
import train_hoda_gans as T  # noqa: E402


def generator_sets(g108: Path | None) -> dict[str, tuple[Path, int]]:
    """Generator files to score, with their training seeds: the published 20,000-step ones and, where given, the
    108,000-step float32 ones."""
    out = {}
    for s in (0, 1):
        out[f"gan seed {s}, 20k"] = checkpoints.resolve(f"hoda_gan_seed{s}_G.pt"), s
        out[f"wgan-gp seed {s}, 20k"] = checkpoints.resolve(f"hoda_wgangp_seed{s}_G.pt"), s
        if g108 is not None:
            rec = json.loads((utils.checkpoints_dir() / "training_state" / f"hoda_gan_seed{s}_108k_G.json").read_text())
            p = g108 / f"hoda_gan_seed{s}_108k_G.pt"
            want = rec["sha256"]
            if checkpoints.sha256sum(p) != want:
                raise SystemExit(f"{p}: sha256 differs from its record's {want}; restore it with "
                                 f"{rec['state_commit']['restore']}")
            out[f"gan seed {s}, 108k"] = p, s
    return out


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="*", default=[2, 3, 4, 5], help="referee seeds to train (1 is shipped)")
    p.add_argument("--g108", type=Path, default=None, help="folder with the restored 108k generators")
    a = p.parse_args(argv)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    splits = T.load_splits()
    images = {}
    sets = referee.control_sets(*splits["val"], n=T.N_CONTROL, ink=splits["train"][0].mean().item(), seed=7)
    for k in ("real (held out)", "noise", "blobs"):
        images[k] = sets[k]
    for name, (path, seed) in generator_sets(a.g108).items():
        G = checkpoints.load_into(gan.DCGANGenerator(T.Z_DIM, T.WIDTH), path, check_sha256=False)
        images[name] = T.final_samples(G, seed)
    referees = {1: T.load_referee()}
    for s in a.seeds:
        t = time.process_time()
        referees[s] = referee.train_referee(*splits["train"], seed=s)
        print(f"referee seed {s}: test accuracy "
              f"{classifier.accuracy(referees[s], *splits['test']):.4f}, {time.process_time() - t:.0f} CPU s",
              flush=True)
    table = {k: {s: referee.digit_share(r, x)["digit_share"] for s, r in referees.items()} for k, x in images.items()}
    accuracy = {s: classifier.accuracy(r, *splits["test"]) for s, r in referees.items()}
    print(f"{'images':24s}" + "".join(f"  seed {s}" for s in referees) + "   mean   sd")
    for k, row in table.items():
        v = torch.tensor(list(row.values()))
        print(f"{k:24s}" + "".join(f"  {x:6.3f}" for x in row.values()) + f"  {v.mean():.3f}  {v.std():.3f}")
    record = {"what": __doc__.split("\n\n")[0], "command": utils.command_line("scripts/referee_seeds.py", argv),
              "referee_seeds": list(referees), "referee_test_accuracy": accuracy, "digit_share": table,
              "n_images": {k: len(x) for k, x in images.items()}, "threshold": 0.9,
              "cpu_seconds": round(time.process_time() - cpu0, 1), "wall_seconds": round(time.perf_counter() - wall0, 1),
              "loadavg": os.getloadavg(), "hardware": utils.hardware(), **utils.versions(),
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = checkpoints.resolve("hoda_referee_seeds.json")
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
