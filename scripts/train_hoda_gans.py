"""Train notebook 09's checkpoints on the Hoda Persian digits: the digit classifier (the first feature space), the
11-class referee (digits plus "not a digit"; the second feature space), then DCGAN generators trained as a GAN, a
WGAN (weight clipping), a WGAN-GP and a GAN with instance noise, all for the same number of GENERATOR STEPS on the
same 85% train split, two seeds each, resumable across sessions.

    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --only classifier referee
    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --models gan wgan gan-noise --seed 0 --steps 20000 --resume
    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --models wgan-gp --seed 0 --steps 20000 --resume
    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --models wgan-gp --seed 0 --rescore  # curves from snapshots
    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --publish       # copy finished generators to checkpoints/
    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --time 20       # ms per generator step, each model
    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --widths 128 64 --models gan --seed 0 --steps 20000  # usual width
    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --models gan --seed 0 --park-as 108k  # then scripts/park_state.py
    python scripts/train_hoda_gans.py --device cuda --widths 128 64 --models gan wgan-gp --seed 0 --steps 20000  # a GPU

The models given to one run are trained round-robin, --eval-every generator steps each in turn, so all of them have
the same number of generator steps whenever the run stops. After every turn the script
- scores the generator on 1,000 binarised samples against the validation split: Frechet distance in the
  classifier's features and in the referee's, the referee's share of samples named as a digit with p >= 0.9, the
  classifier's confidence; with the generator steps and CPU seconds (time.process_time) done so far and the load;
- writes the training state (G, D, both optimizers, RNG, position in the data, history) to
  runs/hoda_gans/state/<stem>_state.pt, from which --resume continues exactly, a snapshot of G to
  runs/hoda_gans/snapshots/, and G with its record to runs/hoda_gans/<stem>_G.pt (+ .json).
When a model reaches --steps its record gets the final scores (5,000 binarised samples against the test split:
FD in both feature spaces, a classifier two-sample test against 2,000 test digits, the referee's digit share and
class coverage) and the critic's diagnostics. --publish copies finished generators and records to checkpoints/.

Models (helpers.gan.make_hoda_trainer): generator DCGANGenerator(z 100, width 64): z -> linear -> 128x7x7 ->
64x14x14 -> 1x28x28; discriminator / critic DCGANCritic(width 32): three 5x5 stride-2 convolutions 32 -> 64 ->
128 channels, batch norm (GAN), none (clipped WGAN) or layer norm (WGAN-GP); recipes of the papers in
helpers.gan.DEFAULTS / HODA_RECIPES. The width was chosen from timed pilots (ms per generator step, one thread):
critic width 32: GAN 89, WGAN 242, WGAN-GP 412; critic width 64 (the WGAN-GP authors' MNIST critic, 1.03M
parameters): 193, 644, 1,282. At width 32 four models x two seeds x 20,000 generator steps (notebook 09's comparison)
cost 15.0 CPU h on one thread of this project's 2-core machine under two training processes (the records'
cpu_seconds: GAN about 0.15, WGAN 0.37, WGAN-GP 0.69 CPU s per generator step).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import checkpoints, classifier, data, gan, referee, utils  # noqa: E402

SPLIT_SEED = 0
SPLIT = (0.85, 0.10, 0.05)
Z_DIM, WIDTH, CRITIC_WIDTH, BATCH = 100, 64, 32, 64
DEVICE = torch.device("cpu")  # where the generators train (--device; the classifier, referee and scores stay on the CPU)
DEFAULT_WIDTHS = (WIDTH, CRITIC_WIDTH)  # notebook 09's models; --widths trains others in a run directory of their own
CLASSIFIER = dict(width=16, epochs=2, batch_size=128, lr=3e-3, shift=2)
REFEREE_SEED = 1  # another architecture (LeNet-5) and another seed than the classifier: a second feature space
MODELS = gan.HODA_RECIPES  # name -> kind, discriminator / critic norm, trainer arguments
N_EVAL = 5000  # generated samples for the final scores (against the test split)
N_C2ST = 2000  # samples and test digits in the final two-sample test
N_MONITOR = 1000  # generated samples for the scores along training (validation split)
N_CONTROL = 1000  # images per control set
C2ST_STEPS = 400  # Adam steps of each two-sample-test classifier (helpers.classifier.c2st)
DATA_NAME = ("Hoda Persian digits (Test 20000.cdb + RemainingSamples.cdb; the 60,000-digit training file is not "
             "in the data), 28x28 binary, helpers.data.hoda_to_28 (shrunk to fit 20 px, never enlarged, centred by mass)")


def load_splits():
    """Hoda digits (N, 1, 28, 28) in {0, 1} and labels, split 85/10/5 with SPLIT_SEED."""
    x, y = data.hoda()
    tr, va, te = data.split(len(x), SPLIT, seed=SPLIT_SEED)
    return {"train": (x[tr], y[tr]), "val": (x[va], y[va]), "test": (x[te], y[te])}


def data_record(splits) -> dict:
    return {"name": DATA_NAME, "split": {k: len(v[0]) for k, v in splits.items()}, "split_fractions": list(SPLIT),
            "split_seed": SPLIT_SEED}


def make_classifier() -> classifier.SmallCNN:
    return classifier.SmallCNN(width=CLASSIFIER["width"])


def make_trainer(name: str, seed: int, x_train: torch.Tensor) -> gan.GANTrainer:
    return gan.make_hoda_trainer(name, x_train, seed=seed, z_dim=Z_DIM, width=WIDTH, critic_width=CRITIC_WIDTH,
                                 batch_size=BATCH, device=DEVICE)


def file_stem(name: str, seed: int) -> str:
    return f"hoda_{name.replace('-', '')}_seed{seed}"


def run_dir() -> Path:
    """runs/hoda_gans/ for the default widths; runs/hoda_gans_g<width>_d<critic width>/ for other --widths."""
    default = (WIDTH, CRITIC_WIDTH) == DEFAULT_WIDTHS
    return utils.repo_root() / "runs" / ("hoda_gans" if default else f"hoda_gans_g{WIDTH}_d{CRITIC_WIDTH}")


def state_path(name: str, seed: int) -> Path:
    return run_dir() / "state" / f"{file_stem(name, seed)}_state.pt"


def cpu_record(cpu0: float, wall0: float) -> dict:
    return {"cpu_seconds": round(time.process_time() - cpu0, 1), "train_seconds": round(time.perf_counter() - wall0, 1),
            "loadavg": os.getloadavg(), "hardware": utils.hardware()}


# ----------------------------------------------------------------------------- the two feature spaces
def train_hoda_classifier(splits, command: str):
    (xtr, ytr), (xva, yva), (xte, yte) = splits["train"], splits["val"], splits["test"]
    utils.seed_everything(SPLIT_SEED)
    clf = make_classifier()
    cfg = {k: v for k, v in CLASSIFIER.items() if k != "width"}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    losses = classifier.train_classifier(clf, xtr, ytr, seed=SPLIT_SEED, **cfg)
    metrics = {"train_loss_per_epoch": losses, "val_accuracy": classifier.accuracy(clf, xva, yva),
               "test_accuracy": classifier.accuracy(clf, xte, yte)}
    print(f"classifier: val {metrics['val_accuracy']:.4f}, test {metrics['test_accuracy']:.4f}", flush=True)
    checkpoints.save_checkpoint(clf, "hoda_classifier.pt", {
        "seed": SPLIT_SEED, "data": data_record(splits), "command": command, **cpu_record(cpu0, wall0),
        "model": f"helpers.classifier.SmallCNN(width={CLASSIFIER['width']})", "config": cfg, "metrics": metrics})
    return clf


def load_classifier() -> classifier.SmallCNN:
    rec = checkpoints.load_record("hoda_classifier.pt")
    if rec.get("data", {}).get("name") != DATA_NAME:
        raise RuntimeError("checkpoints/hoda_classifier.pt was trained on another preprocessing of the Hoda digits "
                           f"({rec.get('data', {}).get('name')!r}); its features would not match the data the GANs "
                           "see. Retrain it: python scripts/train_hoda_gans.py --only classifier")
    return checkpoints.load_into(make_classifier(), "hoda_classifier.pt").eval()


def train_hoda_referee(splits, command: str) -> torch.nn.Module:
    (xtr, ytr), (xte, yte) = splits["train"], splits["test"]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    ref = referee.train_referee(xtr, ytr, seed=REFEREE_SEED)
    rec = cpu_record(cpu0, wall0)
    metrics = {"test_accuracy": classifier.accuracy(ref, xte, yte)}
    print(f"referee: test accuracy {metrics['test_accuracy']:.4f}, {rec['cpu_seconds']} CPU s", flush=True)
    checkpoints.save_checkpoint(ref, "hoda_referee.pt", {
        "seed": REFEREE_SEED, "data": data_record(splits), "command": command, **rec,
        "model": "helpers.referee.LeNet5(n_classes=11): digits 0-9 and 10 = not a digit",
        "non_digits": list(referee.NON_DIGIT_KINDS), "metrics": metrics})
    return ref


def load_referee() -> torch.nn.Module | None:
    """The 11-class referee, or None while it is not trained."""
    if not checkpoints.resolve("hoda_referee.pt").exists():
        return None
    return checkpoints.load_into(referee.LeNet5(11), "hoda_referee.pt").eval()


def score_controls(clf, ref, splits, seed: int = 7) -> dict:
    """Every score of the control sets (held-out real digits, noise, blobs, strokes, cut-and-mixed digits) against
    the test split: what a generator's numbers must be read against."""
    xte = splits["test"][0]
    feats = referee.reference_features(clf, ref, xte)
    sets = referee.control_sets(*splits["val"], n=N_CONTROL, ink=splits["train"][0].mean().item(), seed=seed)
    out = {}
    for k, x in sets.items():
        out[k] = referee.image_scores(x, clf, ref, feats, x_c2st=xte[:min(N_C2ST, len(x))], seed=seed,
                                      c2st_steps=C2ST_STEPS)
        print(f"control {k}: " + ", ".join(f"{a} {b:.3f}" for a, b in out[k].items() if isinstance(b, float)),
              flush=True)
    return out


# ----------------------------------------------------------------------------- generators
def critic_diagnostics(C, G, x_real, clip=None, seed: int = 0) -> dict:
    """The trained critic: share of weights at the clipping bound, input-gradient norms on real / generated digits."""
    C.eval()
    out = {}
    if clip:
        w = torch.cat([p.detach().flatten() for p in C.parameters()])
        out["weights_at_clip"] = (w.abs() >= clip * (1 - 1e-6)).float().mean().item()
    fake = G.sample(len(x_real), utils.generator(seed + 5))
    dev = next(C.parameters()).device
    for which, x in (("real", x_real), ("generated", fake)):
        x = x.to(dev).clone().requires_grad_(True)
        (g,) = torch.autograd.grad(C(x).sum(), x)
        norms = g.flatten(1).norm(dim=1)
        out[f"grad_norm_{which}_median"] = norms.median().item()
        out[f"grad_norm_{which}_q10_q90"] = [norms.quantile(0.1).item(), norms.quantile(0.9).item()]
    with torch.no_grad():
        out["score_real_minus_generated"] = (C(x_real).mean() - C(fake).mean()).item()
    return out


def final_samples(G, seed: int) -> torch.Tensor:
    """The N_EVAL binarised samples a generator of training seed `seed` is finally scored on (noise seed + 2)."""
    return gan.binarize(G.sample(N_EVAL, generator=utils.generator(seed + 2)))


def final_metrics(trainer: gan.GANTrainer, clf, ref, splits, seed: int) -> dict:
    xte = splits["test"][0]
    x = final_samples(trainer.G, seed)
    m = referee.image_scores(x, clf, ref, referee.reference_features(clf, ref, xte), x_c2st=xte[:N_C2ST], seed=seed,
                             c2st_steps=C2ST_STEPS)
    m.update(gan.coverage_scores(classifier.predict_proba(clf, x)))  # the classifier's class histogram
    if ref is not None:
        m["min_class"] = m["referee_min_class"]  # among samples named as digits by the referee
    if trainer.kind != "gan":
        m["critic"] = critic_diagnostics(trainer.D, trainer.G, splits["val"][0][:1000], trainer.config["clip"], seed)
    return m


def save_generator(name: str, seed: int, trainer: gan.GANTrainer, splits, commands: list[str], steps: int,
                   metrics: dict | None) -> None:
    h = trainer.history
    spec = MODELS[name]
    checkpoints.save_checkpoint(trainer.G, run_dir() / f"{file_stem(name, seed)}_G.pt", {
        "seed": seed, "data": data_record(splits), "command": commands[-1], "commands": commands,
        "generator_steps": trainer.generator_steps, "planned_generator_steps": steps,
        "complete": trainer.generator_steps >= steps,
        "cpu_seconds": round(sum(h.get("cpu_seconds", [])), 1), "train_seconds": round(sum(h.get("wall_seconds", [])), 1),
        "model": f"helpers.gan.DCGANGenerator(z_dim={Z_DIM}, width={WIDTH})",
        "critic": f"helpers.gan.{'DCGANDiscriminator' if spec['kind'] == 'gan' else 'DCGANCritic'}"
                  f"(width={CRITIC_WIDTH}, norm={spec['norm']!r}) (in the training state, not shipped)",
        "init": "helpers.gan.init_weights (DCGAN: N(0, 0.02))",
        "config": trainer.config, "state_file": str(state_path(name, seed).relative_to(utils.repo_root())),
        "metrics": metrics, "history": h, "threads": torch.get_num_threads(), "device": str(DEVICE)})


def monitor(t: gan.GANTrainer, clf, ref, val_feats: dict, seed: int) -> dict:
    return {**referee.monitor_scores(t.G, clf, ref, val_feats, seed, N_MONITOR),
            "cpu_seconds_total": sum(t.history["cpu_seconds"]), "loadavg_1min": os.getloadavg()[0]}


def append_aligned(history: dict, key: str, value) -> None:
    """Append a score to history[key], first padding with None the turns it missed (a referee trained later)."""
    lst = history.setdefault(key, [])
    lst.extend([None] * (len(history["step"]) - 1 - len(lst)))
    lst.append(value)


MONITOR_KEYS = ("fd_val", "confidence_val", "fd_referee_val", "digit_share_val")


def rescore(names: list[str], seed: int, splits) -> None:
    """Recompute the scores along training (MONITOR_KEYS) of finished or paused runs from their snapshots of G,
    e.g. after the referee was trained; the training state's history and the record are updated."""
    clf, ref = load_classifier(), load_referee()
    val_feats = referee.reference_features(clf, ref, splits["val"][0])
    for name in names:
        sp = state_path(name, seed)
        state = torch.load(sp, map_location="cpu", weights_only=True)
        h = state["trainer"]["history"]
        G = gan.DCGANGenerator(Z_DIM, WIDTH).eval()
        fresh = {k: [] for k in MONITOR_KEYS}
        for step in h["step"]:
            snap = run_dir() / "snapshots" / f"{file_stem(name, seed)}_G_step{step:06d}.pt"
            G.load_state_dict(torch.load(snap, map_location="cpu", weights_only=True))
            s = referee.monitor_scores(G, clf, ref, val_feats, seed, N_MONITOR)
            for k in MONITOR_KEYS:
                fresh[k].append(s.get(k))
        h.update(fresh)
        checkpoints.save_atomic(state, sp)
        rec_file = run_dir() / f"{file_stem(name, seed)}_G.json"
        rec = json.loads(rec_file.read_text())
        rec["history"] = {k: (v.tolist() if torch.is_tensor(v) else v) for k, v in h.items()}
        rec["rescored"] = "scores along training recomputed from the snapshots (scripts/train_hoda_gans.py --rescore)"
        rec_file.write_text(json.dumps(rec, indent=2, default=str) + "\n")
        print(f"{name} seed {seed}: rescored {len(h['step'])} snapshots; FD(val) " +
              ", ".join(f"{v:.0f}" for v in fresh["fd_val"]), flush=True)


def train_generators(names: list[str], seed: int, steps: int, every: int, splits, command: str, resume: bool,
                     max_minutes: float | None) -> None:
    clf, ref = load_classifier(), load_referee()
    if ref is None:
        print("no referee yet (checkpoints/hoda_referee.pt): curves without its scores", flush=True)
    val_feats = referee.reference_features(clf, ref, splits["val"][0])
    trainers, commands = {}, {}
    for name in names:
        t = make_trainer(name, seed, splits["train"][0])
        sp = state_path(name, seed)
        commands[name] = [command]
        if sp.exists():
            if not resume:
                raise FileExistsError(f"{sp} exists: pass --resume to continue it, or delete it to start afresh")
            state = torch.load(sp, map_location="cpu", weights_only=True)
            t.load_state_dict(state["trainer"])
            commands[name] = state["commands"] + [command]
            print(f"{name}: resumed at generator step {t.generator_steps}", flush=True)
        trainers[name] = t
    start = time.perf_counter()
    while True:
        todo = [n for n in names if trainers[n].generator_steps < steps]
        if not todo:
            break
        lagging = min(trainers[n].generator_steps for n in todo)
        for name in [n for n in todo if trainers[n].generator_steps == lagging]:  # round robin: equal steps
            t = trainers[name]
            out = t.run(min(every - t.generator_steps % every, steps - t.generator_steps))
            for k, v in monitor(t, clf, ref, val_feats, seed).items():
                append_aligned(t.history, k, v)
            checkpoints.save_atomic({"trainer": t.state_dict(), "commands": commands[name]}, state_path(name, seed))
            checkpoints.save_atomic(t.G.state_dict(), run_dir() / "snapshots" / f"{file_stem(name, seed)}_G_step{t.generator_steps:06d}.pt")
            metrics = final_metrics(t, clf, ref, splits, seed) if t.generator_steps >= steps else None
            save_generator(name, seed, t, splits, commands[name], steps, metrics)
            h = t.history
            print(f"{name} seed {seed} step {t.generator_steps}/{steps}: loss_d {out['loss_d']:.3f} "
                  f"loss_g {out['loss_g']:.3f} | FD(val) {h['fd_val'][-1]:.1f}"
                  + (f" FD-referee {h['fd_referee_val'][-1]:.1f} digits {h['digit_share_val'][-1]:.3f}" if ref else "")
                  + f" | {h['cpu_seconds_total'][-1]:.0f} CPU s, load {h['loadavg_1min'][-1]:.1f}", flush=True)
            if metrics:
                print(f"{name} seed {seed} final (test): " + ", ".join(
                    f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float)), flush=True)
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            print(f"stopping after {max_minutes} minutes; continue with --resume", flush=True)
            break


def publish() -> None:
    """Copy every finished generator (and its record) from runs/hoda_gans/ to checkpoints/, in float16: eight
    generators of 772k parameters would take 25 MB of the repository in float32. Measured on the WGAN-GP, seed 0:
    0.002% of the binarised pixels of 5,000 samples change, FD 38.555 -> 38.550."""
    utils.checkpoints_dir().mkdir(parents=True, exist_ok=True)
    for rec_path in sorted(run_dir().glob("hoda_*_G.json")):
        rec = checkpoints.load_record(rec_path.with_suffix(".pt"))
        if not rec.get("complete"):
            print(f"{rec_path.stem}: not finished ({rec['generator_steps']} of {rec['planned_generator_steps']} "
                  "generator steps), not published", flush=True)
            continue
        state = checkpoints.load_state_dict(rec_path.with_suffix(".pt"))
        half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        record = {k: v for k, v in rec.items() if k not in ("file", "sha256")}
        where = (f"git commit {rec['state_commit']['commit']} (state_commit)" if "state_commit" in rec
                 else "runs/hoda_gans/")
        record["stored"] = (f"float16 (a published copy; the float32 weights, sha256 {rec['sha256']}, and the full "
                            f"training state are in {where})")
        checkpoints.save_checkpoint(half, utils.checkpoints_dir() / rec_path.with_suffix(".pt").name, record)
        print(f"published {rec_path.stem} (float16)", flush=True)


def copy_for_parking(names: list[str], seed: int, tag: str) -> list[Path]:
    """Copy each run's generator, record and training state to checkpoints/training_state/<stem>_<tag>_G.pt (+ .json)
    and <stem>_<tag>_state.pt, the record naming the copies, ready for scripts/park_state.py; returns the .pt copies."""
    out_dir = utils.checkpoints_dir() / "training_state"
    out_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for name in names:
        stem = file_stem(name, seed)
        g_src, st_src = run_dir() / f"{stem}_G.pt", state_path(name, seed)
        g_dst, st_dst = out_dir / f"{stem}_{tag}_G.pt", out_dir / f"{stem}_{tag}_state.pt"
        for src in (g_src, st_src):
            if not src.exists():
                raise FileNotFoundError(f"{src}: no such run of {name}, seed {seed} (train it first, same --widths)")
        for dst in (g_dst, st_dst, g_dst.with_suffix(".json")):
            if dst.exists():
                raise FileExistsError(f"{dst} exists: choose another --park-as tag")
        shutil.copy2(g_src, g_dst)
        shutil.copy2(st_src, st_dst)
        rec = json.loads(g_src.with_suffix(".json").read_text())
        rel = lambda q: str(q.relative_to(utils.repo_root()))  # noqa: E731
        rec.update(file=rel(g_dst), state_file=rel(st_dst), copied_from=rel(g_src))
        g_dst.with_suffix(".json").write_text(json.dumps(rec, indent=2, default=str) + "\n")
        copies += [st_dst, g_dst]
        print(f"copied {name} seed {seed} ({rec['generator_steps']} generator steps) to {rel(g_dst)} and "
              f"{rel(st_dst)}; park them with scripts/park_state.py --record {rel(g_dst.with_suffix('.json'))} ...",
              flush=True)
    return copies


def time_steps(names: list[str], n: int, splits) -> None:
    """Milliseconds of CPU per generator step of each model (after 2 warm-up steps)."""
    for name in names:
        ms = gan.step_cost(make_trainer(name, 0, splits["train"][0]), n)["cpu_ms"]
        print(f"{name}: {ms:.0f} ms CPU per generator step ({ms * 10 / 60:.0f} min per 10,000), "
              f"load {os.getloadavg()[0]:.1f}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=["classifier", "referee", "controls"],
                   help="train the classifier / the referee, or score the control sets (into the referee's record)")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=[], help="generators to train (round robin)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and of all training draws")
    p.add_argument("--steps", type=int, default=20000, help="train each model up to this many generator steps")
    p.add_argument("--eval-every", type=int, default=500, help="generator steps between scores and saved states")
    p.add_argument("--resume", action="store_true", help="continue from the saved training states")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop (after a full round) once this many wall minutes have passed")
    p.add_argument("--publish", action="store_true", help="copy finished generators to checkpoints/")
    p.add_argument("--rescore", action="store_true",
                   help="recompute the scores along training of --models (seed --seed) from their snapshots")
    p.add_argument("--widths", type=int, nargs=2, default=list(DEFAULT_WIDTHS), metavar=("G", "D"),
                   help="generator width (G: 2G x 7x7 -> G x 14x14 -> 28x28) and critic width (D -> 2D -> 4D "
                        "channels); other than the default 64 32 (the usual DCGAN is 128 64) the run lives in "
                        "runs/hoda_gans_g<G>_d<D>/ and is never published")
    p.add_argument("--park-as", default=None, metavar="TAG",
                   help="only copy the runs of --models (seed --seed, --widths) with their records and training "
                        "states to checkpoints/training_state/<stem>_<TAG>_*, for scripts/park_state.py")
    p.add_argument("--device", default="cpu",
                   help="where the generators and critics train: cpu (default, as the shipped runs), cuda, or auto "
                        "(CUDA when present); the scores are computed on the CPU either way")
    p.add_argument("--time", type=int, default=None, metavar="STEPS",
                   help="only measure CPU milliseconds per generator step of each model from STEPS steps")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    if args.steps < 1 or args.eval_every < 1:
        p.error("--steps and --eval-every must be >= 1")
    if min(args.widths) < 1:
        p.error("--widths must be two positive integers, e.g. --widths 128 64")
    if args.publish and tuple(args.widths) != DEFAULT_WIDTHS:
        p.error(f"--publish ships notebook 09's models only (--widths {DEFAULT_WIDTHS[0]} {DEFAULT_WIDTHS[1]})")
    global WIDTH, CRITIC_WIDTH, DEVICE
    WIDTH, CRITIC_WIDTH = args.widths
    try:
        DEVICE = utils.get_device(args.device)
    except ValueError as e:
        p.error(str(e))
    command = utils.command_line("scripts/train_hoda_gans.py", argv)
    print(f"torch {torch.__version__}, {utils.hardware()}, load {os.getloadavg()}", flush=True)
    if args.publish:
        publish()
        return 0
    if args.park_as:
        if not args.models or not args.park_as.replace("_", "").isalnum():
            p.error("--park-as TAG needs --models and a tag of letters, digits and _ (e.g. --park-as 20k)")
        copy_for_parking(args.models, args.seed, args.park_as)
        return 0
    splits = load_splits()
    if args.time:
        time_steps(args.models or list(MODELS), args.time, splits)
        return 0
    only = args.only or []
    if "classifier" in only:
        train_hoda_classifier(splits, command)
    if "referee" in only:
        train_hoda_referee(splits, command)
    if "referee" in only or "controls" in only:
        ref = load_referee()
        if ref is None:
            sys.exit("no referee: run --only referee first")
        rec = checkpoints.load_record("hoda_referee.pt")
        rec["controls"] = score_controls(load_classifier(), ref, splits)
        rec["controls_command"] = command
        checkpoints.record_path("hoda_referee.pt").write_text(json.dumps(rec, indent=2, default=str) + "\n")
    if args.rescore:
        rescore(args.models, args.seed, splits)
        return 0
    if args.models:
        train_generators(args.models, args.seed, args.steps, args.eval_every, splits, command, args.resume,
                         args.max_minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
