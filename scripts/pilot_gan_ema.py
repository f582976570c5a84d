"""Pilot: does an exponential moving average of the generator's weights (EMA; Yazici et al. 2019, "The Unusual
Effectiveness of Averaging in GAN Training") draw more recognisable Hoda digits than the raw generator at the same
step? A record only; notebook 09 does not read it.

The plain GAN of notebook 09 (scripts/train_hoda_gans.py, default widths) is continued from a parked training state
(its record in checkpoints/training_state/, restored from git) with the same recipe, and an EMA copy of G is kept:
torch.optim.swa_utils.AveragedModel with get_ema_multi_avg_fn(decay), updated after every generator step, buffers
(batch-norm statistics) averaged too. The decay, 0.999 (a horizon of about 1,000 steps), is the usual choice for
DCGAN-sized generators and was fixed before any score was seen. Every --eval-every steps the raw and the EMA
generator are scored on the same 1,000 noise vectors against the validation split (train_hoda_gans.monitor's scores:
the referee's digit share, FD in both feature spaces); at the end both get train_hoda_gans.final_metrics (5,000
samples against the test split, two-sample test included). The paired difference EMA - raw is the result; the
training itself is identical with or without the EMA (the average never feeds back).

    OMP_NUM_THREADS=1 python scripts/pilot_gan_ema.py --seed 0 --from-record checkpoints/training_state/hoda_gan_seed0_108k_G.json --steps 10000

Writes checkpoints/training_state/hoda_gan_seed<k>_ema_pilot.json (seed, data, command, CPU time, load, the start
state's sha256, the scores) and keeps no weights.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_hoda_gans as T  # noqa: E402
from helpers import checkpoints, referee, utils  # noqa: E402


def restore_state(record: dict, dest: Path) -> Path:
    """Write the parked training state named by a record (state_commit) to dest, checking its sha256."""
    sc = record["state_commit"]
    src = record["state_file"]
    want = sc["files"][src]
    if not dest.exists() or checkpoints.sha256sum(dest) != want:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(subprocess.run(["git", "show", f"{sc['commit']}:{src}"], check=True,
                                        capture_output=True, cwd=utils.repo_root()).stdout)
    if checkpoints.sha256sum(dest) != want:
        raise ValueError(f"{dest}: sha256 differs from the record's {want[:12]}...")
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--from-record", required=True, help="a parked plain-GAN record in checkpoints/training_state/")
    p.add_argument("--steps", type=int, default=10000, help="generator steps to continue for")
    p.add_argument("--eval-every", type=int, default=2000)
    p.add_argument("--decay", type=float, default=0.999)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    if args.steps < 1 or args.eval_every < 1 or not 0 < args.decay < 1:
        p.error("--steps and --eval-every must be >= 1 and --decay in (0, 1)")
    rec_path = Path(args.from_record)
    record = json.loads(rec_path.read_text())
    if record["config"]["kind"] != "gan" or record["seed"] != args.seed:
        p.error(f"{rec_path} is not a plain-GAN record of seed {args.seed}")
    state_file = restore_state(record, utils.repo_root() / "runs" / "ema_pilot" / Path(record["state_file"]).name)
    splits = T.load_splits()
    clf, ref = T.load_classifier(), T.load_referee()
    val_feats = referee.reference_features(clf, ref, splits["val"][0])
    t = T.make_trainer("gan", args.seed, splits["train"][0])
    t.load_state_dict(torch.load(state_file, map_location="cpu", weights_only=True)["trainer"])
    start = t.generator_steps
    ema = AveragedModel(t.G, multi_avg_fn=get_ema_multi_avg_fn(args.decay), use_buffers=True)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    evals = []
    for done in range(1, args.steps + 1):
        t.run(1)
        ema.update_parameters(t.G)
        if done % args.eval_every == 0 or done == args.steps:
            ema.module.eval()
            row = {"generator_steps": t.generator_steps, "cpu_seconds": round(time.process_time() - cpu0, 1),
                   "loadavg_1min": os.getloadavg()[0],
                   "raw": referee.monitor_scores(t.G, clf, ref, val_feats, args.seed, T.N_MONITOR),
                   "ema": referee.monitor_scores(ema.module, clf, ref, val_feats, args.seed, T.N_MONITOR)}
            evals.append(row)
            print(f"seed {args.seed} step {t.generator_steps}: digit share raw {row['raw']['digit_share_val']:.3f} "
                  f"ema {row['ema']['digit_share_val']:.3f} | FD-referee raw {row['raw']['fd_referee_val']:.1f} "
                  f"ema {row['ema']['fd_referee_val']:.1f} | {row['cpu_seconds']:.0f} CPU s, load "
                  f"{row['loadavg_1min']:.1f}", flush=True)
    final = {"raw": T.final_metrics(t, clf, ref, splits, args.seed)}
    t.G, g_raw = ema.module, t.G  # final_metrics samples trainer.G
    final["ema"] = T.final_metrics(t, clf, ref, splits, args.seed)
    t.G = g_raw
    for k, m in final.items():
        print(f"seed {args.seed} final (test) {k}: " + ", ".join(f"{a} {b:.3f}" for a, b in m.items()
                                                                   if isinstance(b, float)), flush=True)
    out = utils.checkpoints_dir() / "training_state" / f"hoda_gan_seed{args.seed}_ema_pilot.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        **utils.versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "seed": args.seed,
        "data": T.data_record(splits), "command": utils.command_line("scripts/pilot_gan_ema.py", argv),
        "start_record": str(rec_path), "start_state_sha256": checkpoints.sha256sum(state_file),
        "start_generator_steps": start, "ema_decay": args.decay, "ema_use_buffers": True,
        "cpu_seconds": round(time.process_time() - cpu0, 1), "train_seconds": round(time.perf_counter() - wall0, 1),
        "threads": torch.get_num_threads(), "hardware": utils.hardware(), "loadavg_end": os.getloadavg(),
        "evaluations": evals, "final_test": final}, indent=2, default=str) + "\n")
    print(f"wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
