"""Train notebook 09's checkpoints on the Hoda Persian digits: the digit classifier used for the scores, then
DCGAN-style GAN, WGAN (weight clipping) and WGAN-GP generators, each for the same number of EPOCHS over the
same 85% train split, resumable across sessions.

    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --only classifier
    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --models gan wgan wgan-gp --seed 0 --epochs 20 --resume
    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --models gan-noise --seed 0 --epochs 20 --resume
    OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --time-epoch 40    # CPU seconds per epoch, each model

The models given to one run are trained round-robin, one epoch each in turn, so that all of them have the same
number of epochs whenever the run stops. After every epoch the script
- scores the generator (FD to the validation split in the classifier's feature space, from 1,000 binarised
  samples; class entropy; confidence) and appends it, with the epoch's losses, CPU seconds
  (time.process_time) and the machine's load (os.getloadavg), to the history;
- writes the training state (weights of G and D, both optimizers, the RNG, epoch, history) to
  checkpoints/training_state/hoda_<model>_seed<seed>_state.pt, from which --resume continues exactly;
- writes the generator to checkpoints/hoda_<model>_seed<seed>_G.pt with its JSON record (seed, data, commands,
  epochs done / planned, CPU seconds, history); a snapshot of G per epoch goes to runs/hoda_gans/ (git-ignored).
When a model reaches --epochs, its record gets the final scores on the test split (5,000 samples; FD of
binarised and raw samples, per-class coverage) and the critic's diagnostics.

Models: DCGANGenerator(z 64, width 32) from a 7x7 map; discriminator / critic DCGANCritic(width 32) with
batch norm (GAN, and WGAN as in its paper) or layer norm (WGAN-GP); DCGAN initialisation N(0, 0.02) for all.
'gan-noise' is the GAN with instance noise (std 0.1) on the discriminator's real and generated inputs: the
control that removes the binary-pixel cue.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import torch

from helpers import checkpoints, classifier, data, gan, utils

SPLIT_SEED = 0
SPLIT = (0.85, 0.10, 0.05)
Z_DIM, WIDTH, BATCH = 64, 32, 64
CLASSIFIER = dict(width=16, epochs=2, batch_size=128, lr=3e-3, shift=2)
MODELS = gan.HODA_RECIPES  # name -> kind, discriminator / critic norm, trainer arguments
N_EVAL = 5000  # generated samples for the final scores (against the test split)
N_MONITOR = 1000  # generated samples for the per-epoch Frechet distance (validation split)
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
    return gan.make_hoda_trainer(name, x_train, seed=seed, z_dim=Z_DIM, width=WIDTH, batch_size=BATCH)


def file_stem(name: str, seed: int) -> str:
    return f"hoda_{name.replace('-', '')}_seed{seed}"


def state_path(name: str, seed: int) -> Path:
    return utils.checkpoints_dir() / "training_state" / f"{file_stem(name, seed)}_state.pt"


def snapshot_dir() -> Path:
    return utils.repo_root() / "runs" / "hoda_gans"


def atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves a half-written state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- classifier
def train_hoda_classifier(splits, command: str):
    (xtr, ytr), (xva, yva), (xte, yte) = splits["train"], splits["val"], splits["test"]
    utils.seed_everything(SPLIT_SEED)
    clf = make_classifier()
    cfg = {k: v for k, v in CLASSIFIER.items() if k != "width"}
    start, cpu0 = time.perf_counter(), time.process_time()
    losses = classifier.train_classifier(clf, xtr, ytr, seed=SPLIT_SEED, **cfg)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    metrics = {"train_loss_per_epoch": losses, "val_accuracy": classifier.accuracy(clf, xva, yva),
               "test_accuracy": classifier.accuracy(clf, xte, yte)}
    print(f"classifier: val {metrics['val_accuracy']:.4f}, test {metrics['test_accuracy']:.4f}, {seconds:.0f} s",
          flush=True)
    if metrics["test_accuracy"] < 0.97:
        print("WARNING: the classifier is below the project's 97% bar on the test split", file=sys.stderr)
    checkpoints.save_checkpoint(clf, "hoda_classifier.pt", {
        "seed": SPLIT_SEED, "data": data_record(splits), "command": command, "train_seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1), "loadavg": os.getloadavg(),
        "model": f"helpers.classifier.SmallCNN(width={CLASSIFIER['width']})", "config": cfg, "metrics": metrics,
        "hardware": utils.hardware()})
    return clf


def real_reference(clf, splits) -> dict:
    """Scores of real digits (N_EVAL train images vs the test split): the floor of the Frechet distance."""
    xtr = splits["train"][0][:N_EVAL]
    out = {"fd": gan.frechet_distance(classifier.features(clf, xtr), classifier.features(clf, splits["test"][0]))}
    out.update(gan.coverage_scores(classifier.predict_proba(clf, xtr)))
    return out


def load_classifier() -> classifier.SmallCNN:
    rec = checkpoints.load_record("hoda_classifier.pt")
    if rec.get("data", {}).get("name") != DATA_NAME:
        raise RuntimeError("checkpoints/hoda_classifier.pt was trained on another preprocessing of the Hoda digits "
                           f"({rec.get('data', {}).get('name')!r}); its features would not match the data the GANs "
                           "see. Retrain it: python scripts/train_hoda_gans.py --only classifier")
    return checkpoints.load_into(make_classifier(), "hoda_classifier.pt").eval()


# ----------------------------------------------------------------------------- generators
def critic_diagnostics(C, G, x_real, clip=None, seed: int = 0) -> dict:
    """The trained critic: share of weights at the clipping bound, input-gradient norms on real / generated digits."""
    C.eval()
    out = {}
    if clip:
        w = torch.cat([p.detach().flatten() for n, p in C.named_parameters() if n.endswith("weight")])
        out["weights_at_clip"] = (w.abs() >= clip * (1 - 1e-6)).float().mean().item()
    fake = G.sample(len(x_real), utils.generator(seed + 5))
    for which, x in (("real", x_real), ("generated", fake)):
        x = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(C(x).sum(), x)
        norms = g.flatten(1).norm(dim=1)
        out[f"grad_norm_{which}_median"] = norms.median().item()
        out[f"grad_norm_{which}_q10_q90"] = [norms.quantile(0.1).item(), norms.quantile(0.9).item()]
    with torch.no_grad():
        out["score_real_minus_generated"] = (C(x_real).mean() - C(fake).mean()).item()
    return out


def final_metrics(name: str, trainer: gan.GANTrainer, clf, splits, seed: int) -> dict:
    test_feats = classifier.features(clf, splits["test"][0])
    m = gan.evaluate_generator(trainer.G, clf, test_feats, n=N_EVAL, seed=seed + 2)
    m["fd_continuous"] = gan.evaluate_generator(trainer.G, clf, test_feats, n=N_EVAL, seed=seed + 2, binary=False)["fd"]
    if trainer.kind != "gan":
        m["critic"] = critic_diagnostics(trainer.D, trainer.G, splits["val"][0][:1000], trainer.config["clip"], seed)
    return m


def save_generator(name: str, seed: int, trainer: gan.GANTrainer, splits, commands: list[str], epochs: int,
                   metrics: dict | None) -> None:
    h = trainer.history
    spec = MODELS[name]
    checkpoints.save_checkpoint(trainer.G, f"{file_stem(name, seed)}_G.pt", {
        "seed": seed, "data": data_record(splits), "command": commands[-1], "commands": commands,
        "epochs": trainer.epoch, "planned_epochs": epochs, "complete": trainer.epoch >= epochs,
        "cpu_seconds": round(sum(h.get("cpu_seconds", [])), 1), "train_seconds": round(sum(h.get("wall_seconds", [])), 1),
        "model": f"helpers.gan.DCGANGenerator(z_dim={Z_DIM}, width={WIDTH})",
        "critic": f"helpers.gan.{'DCGANDiscriminator' if spec['kind'] == 'gan' else 'DCGANCritic'}"
                  f"(width={WIDTH}, norm={spec['norm']!r}) (in the training state, not shipped here)",
        "init": "helpers.gan.init_weights (DCGAN: N(0, 0.02))",
        "config": trainer.config, "state_file": str(state_path(name, seed).relative_to(utils.repo_root())),
        "metrics": metrics, "history": h, "hardware": utils.hardware(), "threads": torch.get_num_threads()})


def train_generators(names: list[str], seed: int, epochs: int, splits, command: str, resume: bool,
                     max_minutes: float | None) -> None:
    clf = load_classifier()
    val_feats = classifier.features(clf, splits["val"][0])
    x_train = splits["train"][0]
    trainers, commands = {}, {}
    for name in names:
        t = make_trainer(name, seed, x_train)
        sp = state_path(name, seed)
        commands[name] = [command]
        if sp.exists():
            if not resume:
                raise FileExistsError(f"{sp} exists: pass --resume to continue it, or delete it to start afresh")
            state = torch.load(sp, map_location="cpu", weights_only=True)
            t.load_state_dict(state["trainer"])
            commands[name] = state["commands"] + [command]
            print(f"{name}: resumed at epoch {t.epoch}", flush=True)
        trainers[name] = t
    start = time.perf_counter()
    while True:
        todo = [n for n in names if trainers[n].epoch < epochs]
        if not todo:
            break
        lagging = min(trainers[n].epoch for n in todo)
        for name in [n for n in todo if trainers[n].epoch == lagging]:  # round robin: equal epochs at any stop
            t = trainers[name]
            out = t.run_epoch()
            scores = gan.epoch_scores(t.G, clf, val_feats, n=N_MONITOR, seed=seed)
            scores["loadavg_1min"] = os.getloadavg()[0]
            for k, v in scores.items():
                t.history.setdefault(k, []).append(v)
            atomic_save({"trainer": t.state_dict(), "commands": commands[name]}, state_path(name, seed))
            snap = snapshot_dir() / f"{file_stem(name, seed)}_G_epoch{t.epoch:03d}.pt"
            atomic_save(t.G.state_dict(), snap)
            metrics = final_metrics(name, t, clf, splits, seed) if t.epoch >= epochs else None
            save_generator(name, seed, t, splits, commands[name], epochs, metrics)
            print(f"{name} seed {seed} epoch {t.epoch}/{epochs}: loss_d {out['loss_d']:.3f} loss_g {out['loss_g']:.3f} "
                  f"| FD(val) {scores['fd_val']:.1f} conf {scores['confidence_val']:.3f} "
                  f"entropy {scores['class_entropy_val']:.3f} | {out['cpu_seconds']:.0f} CPU s, "
                  f"{out['wall_seconds']:.0f} wall s, load {scores['loadavg_1min']:.1f}", flush=True)
            if metrics:
                print(f"{name} seed {seed} final (test): FD {metrics['fd']:.2f}, raw FD {metrics['fd_continuous']:.2f}, "
                      f"conf {metrics['confidence']:.3f}, min class {metrics['min_class']:.3f}", flush=True)
        if max_minutes is not None and time.perf_counter() - start > 60 * max_minutes:
            print(f"stopping after {max_minutes} minutes; continue with --resume", flush=True)
            break


def time_epochs(names: list[str], generator_steps: int, splits) -> None:
    """CPU seconds per epoch, extrapolated from `generator_steps` generator steps of each model."""
    x = splits["train"][0]
    for name in names:
        t = make_trainer(name, 0, x)
        n_batches = t.config["n_critic"] * generator_steps
        sub = gan.GANTrainer(t.kind, t.G, t.D, x[:n_batches * BATCH], batch_size=BATCH, **{
            k: v for k, v in MODELS[name].items() if k not in ("kind", "norm")})
        out = sub.run_epoch()
        per_epoch = out["cpu_seconds"] * (len(x) // BATCH) / n_batches
        print(f"{name}: {out['cpu_seconds']:.1f} CPU s for {generator_steps} generator steps ({n_batches} batches) "
              f"-> {per_epoch:.0f} CPU s per epoch ({len(x) // BATCH} batches); wall {out['wall_seconds']:.1f} s, "
              f"load {os.getloadavg()[0]:.1f}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=["classifier"], help="train the classifier")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=[], help="generators to train (round robin)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and of all training draws")
    p.add_argument("--epochs", type=int, default=20, help="train each model up to this many epochs")
    p.add_argument("--resume", action="store_true", help="continue from the saved training states")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop (after a full round of epochs) once this many wall minutes have passed")
    p.add_argument("--time-epoch", type=int, default=None, metavar="STEPS",
                   help="only measure CPU seconds per epoch of each model from STEPS generator steps")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in ["scripts/train_hoda_gans.py", *argv])
    print(f"torch {torch.__version__}, {utils.hardware()}, load {os.getloadavg()}", flush=True)
    splits = load_splits()
    if args.time_epoch:
        time_epochs(args.models or list(MODELS), args.time_epoch, splits)
        return 0
    if args.only:
        clf = train_hoda_classifier(splits, command).eval()
        ref = real_reference(clf, splits)
        print(f"real train digits vs test: FD {ref['fd']:.2f}, class entropy {ref['class_entropy']:.3f}", flush=True)
    if args.models:
        train_generators(args.models, args.seed, args.epochs, splits, command, args.resume, args.max_minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
