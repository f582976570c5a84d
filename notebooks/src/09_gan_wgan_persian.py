# %% [markdown]
# # 09 — GAN, WGAN and WGAN-GP on handwritten Persian digits
#
# Homework 5, coding practice 4. We teach generators to draw the binary Persian digits of the **Hoda** data set
# (white ink on a black 28x28 canvas): a classic **GAN**, whose discriminator outputs the probability that an image
# is real; a **WGAN** as in Arjovsky, Chintala and Bottou (2017), whose critic estimates a Wasserstein distance
# under weight clipping; and, after discussing what is still wrong with the WGAN, its usual repair, the
# **WGAN-GP** of Gulrajani et al. (2017); and, as a control, the GAN with *instance noise*. All of them use the same
# DCGAN generator and train for the same number
# of *generator steps*, from two seeds each. We compare them by their samples, their training curves, and a few
# scores of realism that we first test on images that are not digits. The networks are loaded from saved weights
# (`RETRAIN = True` trains them here instead).

# %% setup

# %%
import inspect

import numpy as np
import torch
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from scipy import ndimage, stats

from helpers import checkpoints, classifier, data, gan, plotting, referee, scaled, utils

RETRAIN = False                   # True: train the classifiers and the generators here
SPLIT_SEED = 0
SEEDS = [0, 1]                    # two training seeds per model
STEPS = 20_000                    # generator steps of every model (the training script's --steps)
N_EVAL = scaled(5000, 500)        # generated samples per model for the final scores
N_CONTROL = scaled(1000, 300)     # images per control set
N_MONITOR = 1000                  # samples scored along training (against the validation split)
STEPS_HERE = scaled(STEPS, 20)    # generator steps trained here when RETRAIN (smoke profile: when a file is missing)
N_TRAIN_HERE = scaled(None, 640)  # training digits used when training here (None: all)
MODELS = {"GAN": "gan", "WGAN": "wgan", "WGAN-GP": "wgan-gp", "GAN + instance noise": "gan-noise"}
Z_DIM, WIDTH, CRITIC_WIDTH = 100, 64, 32


def show_code(*functions):
    """Display the source code of functions of the helper package."""
    display(Markdown("\n".join(f"```python\n{inspect.getsource(f)}```" for f in functions)))


def checkpoint_file(name, seed):
    """File name of the generator of model `name` trained from `seed` (written by scripts/train_hoda_gans.py)."""
    return f"hoda_{name.replace('-', '')}_seed{seed}_G.pt"

# %% [markdown]
# ## Task 4.1 — Data: the Hoda digits, 28x28, binary, split 85/10/5
#
# The homework provides binary images of Persian digits, asks for 28x28 images and a shuffled
# train / validation / test split of 85 / 10 / 5 %. Our digits come from the **Hoda** dataset
# (Khosravi and Kabir, "Introducing a very large dataset of handwritten Farsi digits and a study on their
# varieties", *Pattern Recognition Letters* 28 (2007) 1133-1141; public copy
# [github.com/amir-saniyan/HodaDatasetReader](https://github.com/amir-saniyan/HodaDatasetReader), free for
# research and non-commercial use). It is published as binary scans of varying sizes; we use 42,352 of them
# (which files: *About this run*), ample for the homework's own 85/10/5 split, which we draw from them.

# %% [markdown]
# **Bringing each scan to 28x28.** A digit whose longer side exceeds 20 pixels is shrunk to fit (aspect
# ratio kept), a smaller one is **never enlarged**, and the digit is placed with its centre of mass at the
# canvas centre, then thresholded back to {0, 1}. (MNIST instead scaled every digit into its 20-pixel box.) Not
# enlarging matters for Persian digits: a 0 (۰) is small, a dot or a small ring, and scaling every digit into the
# full box turns it into a large disc or ring, a shape no writer draws (the left grid below shows that alternative
# on the same digits).
#
# We shuffle once with a seed and cut the indices into disjoint sets. Disjoint *indices* need not mean
# disjoint *images*: a short digit such as a 0 (a dot) or a 1 (a bar) can be scanned into exactly the same
# 28x28 binary pattern by two writers, so the cell also counts test images that occur pixel for pixel in the
# training split: 7 of the 2,118 test images, too few to matter for the scores. The generators and the classifier
# learn from the training split only; the validation split tracks the generators during training; the test
# split is used once, for the final scores.

# %%
x_all, y_all = data.hoda()
idx_tr, idx_va, idx_te = data.split(len(x_all), (0.85, 0.10, 0.05), seed=SPLIT_SEED)
x_tr, y_tr = x_all[idx_tr], y_all[idx_tr]
x_va, y_va = x_all[idx_va], y_all[idx_va]
x_te, y_te = x_all[idx_te], y_all[idx_te]
print(f"{len(x_all)} digits, {tuple(x_all.shape[1:])}, pixel values {torch.unique(x_all).tolist()}, "
      f"ink fraction {x_all.mean():.3f}")
print(f"train {len(x_tr)} ({len(x_tr) / len(x_all):.1%}), val {len(x_va)} ({len(x_va) / len(x_all):.1%}), "
      f"test {len(x_te)} ({len(x_te) / len(x_all):.1%})")
sets = [set(i.tolist()) for i in (idx_tr, idx_va, idx_te)]
print("index sets disjoint:", all(a.isdisjoint(b) for a, b in [(sets[0], sets[1]), (sets[0], sets[2]), (sets[1], sets[2])]),
      "| cover all:", len(sets[0] | sets[1] | sets[2]) == len(x_all))
# Disjoint indices can still hold pixel-identical images (short digits such as 0 and 1 repeat exactly):
keys = {name: {bytes(np.packbits(v.numpy().astype(np.uint8))) for v in xs} for name, xs in
        (("train", x_tr), ("val", x_va), ("test", x_te))}
print(f"distinct test images that also occur, pixel for pixel, in train: {len(keys['test'] & keys['train'])} "
      f"of {len(keys['test'])} distinct")
print("class counts (train):", torch.bincount(y_tr, minlength=10).tolist())


def ink_crop(x):
    """The ink's bounding box of one (1, 28, 28) binary image, as a uint8 image (0 background, 255 ink)."""
    rows, cols = np.flatnonzero(x[0].sum(1).numpy()), np.flatnonzero(x[0].sum(0).numpy())
    return (x[0, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].numpy() * 255).astype(np.uint8)


def ink_height(x):
    """Height in pixels of each image's ink (rows with any ink, first to last)."""
    rows = x[:, 0].sum(2) > 0
    idx = torch.arange(x.shape[2]).expand_as(rows)
    return (torch.where(rows, idx, -1).max(1).values - torch.where(rows, idx, 99).min(1).values + 1).float()


# the same 60 digits (the first 6 of each class): as used (never enlarged) and with every digit's ink scaled
# up to fill the same 20-pixel box
pick = [i for c in range(10) for i in np.flatnonzero(y_all.numpy() == c)[:6]]
after = x_all[pick]
before = data.hoda_to_28([ink_crop(x) for x in after], box=20, enlarge=True)
h_tr = ink_height(x_tr)
print(f"median ink height (training split): 0s {h_tr[y_tr == 0].median():.0f} px, other digits "
      f"{h_tr[y_tr != 0].median():.0f} px")
fig, axes = plt.subplots(1, 3, figsize=(18, 4.4), gridspec_kw={"width_ratios": [1, 1, 0.9]})
plotting.image_grid(before, nrow=12, ax=axes[0], title="every digit enlarged to fill 20 px (0 = disc or ring)")
plotting.image_grid(after, nrow=12, ax=axes[1], title="as used: shrunk only when larger than 20 px (0 = small dot or ring)")
axes[2].bar(range(10), torch.bincount(y_tr, minlength=10).numpy(), color="tab:blue")
axes[2].set(title="training digits per class", xlabel="digit", ylabel="count", xticks=range(10))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## How to tell whether samples are digits
#
# Before training anything we need an instrument that says how close a set of generated images is to real
# digits, and we must check that it rejects images that are obviously not digits. A small CNN trained on the Hoda
# training split (`helpers.classifier.SmallCNN`) is right on about 99% of held-out digits, but its softmax was
# trained only on digits, so nothing makes it flat on an image unlike any digit: the next cell finds it confident
# on pure pixel noise. We therefore use these scores, each read against **controls**, image sets whose answer we
# know:
#
# - **FD, the Fréchet distance** between Gaussians fitted to the features of two image sets,
#   $$\mathrm{FD}=\|\mu_1-\mu_2\|^2+\mathrm{Tr}\big(\Sigma_1+\Sigma_2-2(\Sigma_1\Sigma_2)^{1/2}\big),$$
#   always against the 2,118 test digits; lower is closer. The features are the classifier's 128 *penultimate
#   features* (its last hidden layer). This is the usual GAN score FID, with a network that knows Persian digits
#   in place of the photograph classifier Inception.

# %% [markdown]
# The other scores and the controls:
#
# - **FD in a second feature space**: the 84 penultimate features of a LeNet-5, another architecture trained from
#   another seed (`helpers.referee.LeNet5`), so that a ranking found in both spaces is not an artefact of one network.
# - **The referee's digit share.** That LeNet-5 has an eleventh class, *not a digit*, trained on pixel noise, smooth
#   blobs, random pen strokes and chimeras cut from two digits. An image counts as a digit when the referee's top
#   class is a digit with probability at least 0.9.
# - **A classifier two-sample test (C2ST)**: a fresh small CNN learns to tell 2,000 generated images from 2,000 test
#   digits; its accuracy on images it did not train on is 0.5 when it cannot tell them apart and 1.0 when it always
#   can (95% binomial interval). Two folds, each classifier trained on one half and scored on the other, so every one
#   of the 4,000 images is scored by a classifier that did not see it; the controls use 1,000 images a side.
# - **In several pieces**: the share of images whose ink falls into more than one connected piece. A handwritten
#   Persian digit is one stroke, so this counts stray specks and broken strokes.
#
# The controls (`helpers.referee.control_sets`, drawn from a seed the referee never trained on) are held-out real
# digits, pixel noise at the data's ink fraction, smooth blobs, random strokes, and digits cut and mixed. An FD
# estimated from fewer images is larger (its covariances are noisier), so the last row scores all validation digits:
# the floor for the generators' 5,000 samples.

# %%
clf = classifier.SmallCNN(width=16).to(device)
ref = referee.LeNet5(referee.NOT_A_DIGIT + 1).to(device)
if RETRAIN:
    with utils.timer("classifier and referee training"):
        utils.seed_everything(SPLIT_SEED)
        classifier.train_classifier(clf, x_tr, y_tr, epochs=scaled(2, 1), batch_size=128, lr=3e-3, shift=2,
                                    seed=SPLIT_SEED)
        ref = referee.train_referee(x_tr, y_tr, seed=1, epochs=scaled(20, 1)).to(device)
    control_c2st = {}
else:
    checkpoints.load_into(clf, "hoda_classifier.pt")
    checkpoints.load_into(ref, "hoda_referee.pt")
    control_c2st = checkpoints.load_record("hoda_referee.pt")["controls"]
clf.eval(), ref.eval()
ref_on_test = classifier.predict_proba(ref, x_te).argmax(1).cpu()
print(f"classifier accuracy: validation {classifier.accuracy(clf, x_va, y_va):.2%}, test "
      f"{classifier.accuracy(clf, x_te, y_te):.2%} | referee (11 classes) on test digits: "
      f"{(ref_on_test == y_te).float().mean():.2%} right, {(ref_on_test == referee.NOT_A_DIGIT).float().mean():.2%} "
      "called not a digit")
feats_te = referee.reference_features(clf, ref, x_te)
feats_va = referee.reference_features(clf, ref, x_va)
print("penultimate features per image: " + ", ".join(f"{k} {v.shape[1]}" for k, v in feats_te.items()))
ink = x_tr.mean().item()
controls = referee.control_sets(x_va, y_va, n=N_CONTROL, ink=ink, seed=7)

SCORE_COLUMNS = {"fd": "FD classifier", "fd_referee": "FD referee", "digit_share": "digit share",
                 "referee_not_digit_share": "not a digit", "confidence": "classifier confidence",
                 "several_pieces": "in several pieces"}


def several_pieces(x):
    """Share of binary images whose ink falls into more than one 8-connected piece (a handwritten digit is one)."""
    pieces = [ndimage.label(im[0].cpu().numpy(), structure=np.ones((3, 3)))[1] for im in x]
    return float(np.mean(np.array(pieces) > 1))


def all_scores(x):
    """referee.image_scores against the test digits, and the share of images in several pieces."""
    return {**referee.image_scores(x, clf, ref, feats_te), "several_pieces": several_pieces(x)}



def c2st_text(rec):
    """'accuracy [low, high]' of a two-sample test from a record, or '-' where none was run."""
    return f"{rec['c2st_accuracy']:.3f} [{rec['c2st_ci95'][0]:.3f}, {rec['c2st_ci95'][1]:.3f}]" if rec else "-"


def score_table(rows):
    """A Markdown table of {label: (scores, c2st record or None)}."""
    cells = {label: [f"{s[k]:.3g}" if k.startswith("fd") else f"{s[k]:.3f}" for k in SCORE_COLUMNS] + [c2st_text(c2st)]
             for label, (s, c2st) in rows.items()}
    return Markdown(plotting.markdown_table(["images", *SCORE_COLUMNS.values(), "C2ST accuracy [95% CI]"], cells))


control_scores = {name: all_scores(x) for name, x in controls.items()}
# FD shrinks as the sets grow, so the generators' 5,000 samples need a floor from a set of similar size:
control_scores[f"real (all {len(x_va):,} validation digits)"] = all_scores(x_va)
display(score_table({name: (s, control_c2st.get(name)) for name, s in control_scores.items()}))
fig, axes = plt.subplots(1, 5, figsize=(18, 2.6))
for ax, (name, x) in zip(axes, controls.items()):
    plotting.image_grid(x[:24], nrow=6, ax=ax, title=name)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Answer.** The 10-class classifier's confidence does not reject non-digits: pixel noise gets a mean confidence
# of about 0.96, close to the 0.99 of real digits. The referee does: it names 95% of held-out real digits as digits
# and at most 7% of any control (0% of noise, under 1% of blobs and strokes, 7% of the cut-and-mixed chimeras, the
# hardest case). The two-sample test gives real held-out digits 0.504 [0.482, 0.527], an interval that contains
# 0.5, and noise 1.000, and both FDs put every control far above real digits. So digit share, FD and C2ST can be
# read as realism scores below; confidence cannot. One caveat the table shows: the referee's digit share on real
# digits is 0.95, not 1, so no generator can be expected to exceed it.

# %% [markdown]
# ## Task 4.2 — A simple GAN
#
# The homework asks for a plain (unconditional) GAN whose generator maps noise to a 28x28 binary image and
# whose discriminator outputs the probability that an image is real, with the choice of losses, optimisers
# and hyper-parameters justified.
#
# **The game.** A generator $G_\theta:\mathbb{R}^{100}\to[0,1]^{28\times28}$ turns noise $z\sim\mathcal N(0,I)$
# into an image; a discriminator $D_\phi:[0,1]^{28\times28}\to(0,1)$ outputs the probability that its input is
# a real digit. Goodfellow et al. (2014) play
#
# $$\min_\theta\max_\phi\; V(\theta,\phi)=\mathbb E_{x\sim p_\text{data}}[\log D_\phi(x)]+\mathbb E_{z}[\log(1-D_\phi(G_\theta(z)))].$$
#
# For a fixed $G$ the best discriminator is $D^*(x)=p_\text{data}(x)/(p_\text{data}(x)+p_G(x))$ (for each $x$,
# $a\log y+b\log(1-y)$ is largest at $y=a/(a+b)$), and substituting it gives
# $V=2\,\mathrm{JS}(p_\text{data}\,\|\,p_G)-\log 4$: the generator minimises a Jensen–Shannon divergence.
#
# **Losses.** The discriminator minimises the binary cross-entropy with labels 1 (real) and 0 (fake),
# $-\mathbb E\log D(x)-\mathbb E\log(1-D(G(z)))$. The generator uses the *non-saturating* loss
# $-\mathbb E_z\log D(G(z))$ instead of minimising $\log(1-D(G(z)))$: both have the same fixed point, but
# early in training $D(G(z))\approx0$ and $\log(1-D)$ is flat there, whereas $-\log D$ gives large
# gradients. Both losses are computed from the discriminator's logit (`binary_cross_entropy_with_logits`),
# the same number as the cross-entropy of the probability without its overflow.

# %% [markdown]
# **Networks** (DCGAN, Radford et al. 2016; `helpers.gan`):
#
# | | generator `DCGANGenerator` | discriminator `DCGANDiscriminator` |
# |---|---|---|
# | input | noise $z\in\mathbb R^{100}$, $z\sim\mathcal N(0,I)$ | image, 1x28x28 |
# | layer 1 | linear to 6,272 units, batch norm, ReLU, reshaped to 128x7x7 | 5x5 convolution, stride 2, to 32x14x14, LeakyReLU(0.2) |
# | layer 2 | 4x4 transposed convolution, stride 2, to 64x14x14, batch norm, ReLU | 5x5 convolution to 64x7x7, batch norm, LeakyReLU |
# | layer 3 | 4x4 transposed convolution to 1x28x28, **sigmoid** | 5x5 convolution to 128x4x4, batch norm, LeakyReLU |
# | output | pixels in $[0,1]$ | linear to one logit; $D(x)$ is its sigmoid |
#
# Samples are binarised at 0.5 for display and scoring, as the data are (a hard threshold inside the generator would
# have zero gradient). The WGANs' critic is the same network without the sigmoid and with another normalisation
# (below), so the three models differ only in the loss, the optimiser and the critic's normalisation. Weights start
# from DCGAN's initialisation: $\mathcal N(0,0.02^2)$ weights, normalisation scales $\mathcal N(1,0.02^2)$, zero
# biases (`gan.init_weights`).

# %% [markdown]
# **Hyper-parameters, and why.** We use DCGAN's published settings untuned (nothing was tried on this data), so the
# comparison below is between the recipes as published, not between tuned models:
# - Adam with learning rate $2\cdot10^{-4}$ and $\beta_1=0.5$ for both players. The DCGAN authors found the default
#   $\beta_1=0.9$ made training oscillate: with much momentum a player keeps moving towards where the other player
#   *was*, and in a game each update moves the other's target.
# - One discriminator step per generator step, so that neither player runs far ahead; the non-saturating loss keeps
#   the generator's gradient useful even when the discriminator is ahead.
# - Batch size 64, large enough for stable batch-norm statistics. Batch norm in the generator (not on its output
#   layer) is what the DCGAN authors needed for a deep generator to start learning at all.

# %% [markdown]
# **Comparing at equal generator steps.** Every model takes `STEPS` generator steps. The GAN's discriminator takes
# one step per generator step; the WGANs' critics take five, so they see five times as many batches and cost more
# per step. Equal generator steps compare what the generators learned from an equal number of updates; the curves
# below also show the same scores against CPU seconds, the other fair axis. A fourth model, **GAN + instance
# noise**, is the GAN with a small change to its discriminator's inputs, explained in its own section at the end.
#
# **The code.** One round of training is one `critic_step` (repeated five times for the WGANs) and one
# `generator_step`; the same two functions of `helpers.gan` serve every model, branching on `kind`:

# %%
show_code(gan.critic_step, gan.generator_step)

# %%
def train_here(name, seed):
    """Train a model here (RETRAIN, or the smoke profile when its checkpoint is missing): a record like the script's."""
    x = x_tr if N_TRAIN_HERE is None else x_tr[:N_TRAIN_HERE]
    t = gan.make_hoda_trainer(name, x, seed=seed, z_dim=Z_DIM, width=WIDTH, critic_width=CRITIC_WIDTH, device=device)
    every = max(STEPS_HERE // 20, 1)
    for _ in utils.progress(range(0, STEPS_HERE, every), desc=f"{name} seed {seed}"):
        t.run(min(every, STEPS_HERE - t.generator_steps))
        for key, v in referee.monitor_scores(t.G, clf, ref, feats_va, seed, N_MONITOR).items():
            t.history.setdefault(key, []).append(v)
    t.history["cpu_seconds_total"] = np.cumsum(t.history["cpu_seconds"]).tolist()
    return t.G.eval(), {"generator_steps": t.generator_steps, "planned_generator_steps": STEPS_HERE, "complete": True,
                        "config": t.config, "history": t.history, "cpu_seconds": sum(t.history["cpu_seconds"]),
                        "metrics": None}


def load_or_train(name, seed):
    """The generator of model `name` trained from `seed`, and its record (scores along training, final metrics)."""
    file = checkpoint_file(name, seed)
    if not RETRAIN and checkpoints.resolve(file).exists():
        G = checkpoints.load_into(gan.DCGANGenerator(Z_DIM, WIDTH), file).to(device).eval()
        rec = checkpoints.load_record(file)
        if not rec["complete"]:
            print(f"{file}: NOT FINISHED, {rec['generator_steps']} of {rec['planned_generator_steps']} generator steps")
        return G, rec
    if not RETRAIN and not utils.is_smoke():
        raise FileNotFoundError(
            f"checkpoints/{file} is missing. Train it with\n  OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py "
            f"--models {name} --seed {seed} --steps {STEPS} --resume\n(resumable; see the script's docstring), "
            f"or set RETRAIN = True to train here.")
    print(f"{file}: {'RETRAIN' if RETRAIN else 'missing, smoke profile'} -> training {STEPS_HERE} generator steps here")
    return train_here(name, seed)


generators, records = {}, {}
for label, name in MODELS.items():
    for seed in SEEDS:
        generators[label, seed], records[label, seed] = load_or_train(name, seed)


def show_samples(label, seed=SEEDS[0], n=60):
    """Raw sigmoid outputs and the same samples binarised at 0.5, side by side."""
    s = generators[label, seed].sample(n, generator=utils.generator(seed + 3))
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
    plotting.image_grid(s, nrow=12, ax=axes[0], title=f"{label} (seed {seed}): generator output in [0, 1]")
    plotting.image_grid(gan.binarize(s), nrow=12, ax=axes[1], title=f"{label}: binarised at 0.5 (like the data)")
    plt.tight_layout()
    plt.show()
    model_summary(label)


def second_half_mean(rec, key):
    """Mean of a logged training quantity over the second half of the run (its late, settled phase)."""
    v = rec["history"][key]
    return float(np.mean(v[len(v) // 2:]))


def model_summary(label):
    """Per seed: the record's final scores and, for the GANs, the discriminator's mean outputs late in training."""
    for seed in SEEDS:
        rec, h = records[label, seed], records[label, seed]["history"]
        m = rec["metrics"]
        parts = ([f"test FD {m['fd']:.1f} (classifier) / {m['fd_referee']:.1f} (referee)",
                  f"digit share {m['digit_share']:.2f}", f"C2ST {m['c2st_accuracy']:.3f}"] if m else ["no final scores"])
        if "d_real" in h:
            parts.append(f"second half of training: mean D(x) {second_half_mean(rec, 'd_real'):.3f}, "
                         f"mean D(G(z)) {second_half_mean(rec, 'd_fake'):.3f}")
        print(f"{label}, seed {seed}, {rec['generator_steps']:,} generator steps: " + ", ".join(parts))


n_params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
print(f"{len(generators)} generators, generator steps: {sorted({r['generator_steps'] for r in records.values()})}")
print(f"generator: {n_params(gan.DCGANGenerator(Z_DIM, WIDTH)):,} parameters | discriminator / critic: "
      + ", ".join(f"{norm} norm {n_params(gan.DCGANCritic(CRITIC_WIDTH, norm=norm)):,}" for norm in ("batch", "layer", "none")))
for label in MODELS:
    c = records[label, SEEDS[0]]["config"]
    extra = {"clip": "weights clipped to +-{:g}", "gp_weight": "gradient penalty lambda {:g}",
             "noise_std": "instance noise std {:g}"}
    print(f"{label}: {c['optimizer']} lr {c['lr']:g}" + (f", betas {tuple(c['betas'])}" if c["betas"] else "")
          + f", batch {c['batch_size']}, {c['n_critic']} critic step(s) per generator step"
          + "".join(", " + fmt.format(c[k]) for k, fmt in extra.items() if c.get(k)))
show_samples("GAN")

# %% [markdown]
# **Answer.** After 20,000 generator steps many of the GAN's samples are readable Persian digits (grid above), some
# with ragged edges, stray specks or a filled blob. The referee names 54% and 57% of them as digits (seeds 0 and 1;
# real held-out digits: 95%), and their FD to the test digits is 36.4 and 34.0, far below the non-digit controls
# (198 and more) but well above real digits (3.32). The discriminator wins throughout: over the second half of
# training its mean output is 0.961 on real digits and 0.038-0.039 on generated ones, far from the 0.5 of a
# discriminator that cannot tell them apart. The generator improves all the same (training curves below), because the
# non-saturating loss $-\log D(G(z))$ has its largest gradient exactly where $D(G(z))$ is small.

# %% [markdown]
# ## Task 4.3 — A WGAN, per the paper
#
# The homework asks to change the GAN's loss to the one of the WGAN paper, retrain, and say what problems
# remain and how one might fix them.
#
# **Why change the loss.** When $p_\text{data}$ and $p_G$ live on low-dimensional manifolds that do not
# overlap (the normal case for images, and extreme for *binary* images), $\mathrm{JS}=\log2$ whatever the
# distance between them, and a near-optimal discriminator gives the generator vanishing (or, with the
# non-saturating loss, unstable) gradients. Arjovsky et al. replace JS by the Wasserstein-1 (earth mover's)
# distance, which shrinks continuously as the generated distribution moves towards the data. By the
# Kantorovich–Rubinstein duality
#
# $$W_1(p_\text{data},p_G)=\sup_{\|f\|_L\le1}\;\mathbb E_{x\sim p_\text{data}}[f(x)]-\mathbb E_{z}[f(G(z))],$$
#
# so a **critic** $f_w$ (a real score, **no sigmoid**, no log) is trained to maximise
# $\mathbb E f_w(x)-\mathbb E f_w(G(z))$ and the generator minimises $-\mathbb E f_w(G(z))$. The sup is over
# **1-Lipschitz** functions ($\|f\|_L\le1$): a function is $K$-Lipschitz when $|f(x)-f(y)|\le K\,\|x-y\|$ for
# all $x,y$, that is, its slope is nowhere steeper than $K$. The paper keeps $f_w$ $K$-Lipschitz for *some*
# $K$ by **clipping every weight to $[-c,c]$** after each critic update, so the critic estimates $K\cdot W_1$.

# %% [markdown]
# **What changes in the code** (Algorithm 1 of the paper, with its defaults, except where said): the sigmoid and the
# cross-entropies go; the critic takes $n_\text{critic}=5$ steps per generator step, so that it is close to its
# optimum when the generator follows its gradient (with JS this would kill the gradient; with $W_1$ a better
# critic gives *better* gradients); every parameter of the critic is clipped to $[-0.01, 0.01]$ after each step;
# the optimiser is **RMSProp** with learning rate $5\cdot10^{-5}$ (the paper saw Adam's momentum destabilise the
# clipped critic). Our choice, not the paper's (its DCGAN critic kept batch norm): the critic has no normalisation
# layer, since a batch-norm layer divides by the batch's spread and so could undo the bound that clipping puts on
# each layer. The critic's objective,
# $\mathbb E f(x)-\mathbb E f(G(z))$ on the current batches, is logged as the WGAN's estimate of the distance. The
# clipping itself is three lines:

# %%
show_code(gan.clip_weights)
show_samples("WGAN")

# %% [markdown]
# ### What is still wrong with the WGAN
#
# *The grid above:* after 20,000 generator steps the clipped WGAN (seed 0) draws thick, lumpy strokes. A few read as
# digits (shapes of ۱, ۷ and ۸ among them); most are malformed, with bulges, doubled strokes or loose specks.
#
# Each trained critic was measured at the end of training: the share of the clipped critic's weights that
# sit at the bound $\pm c$, and the norm of the critic's gradient with respect to its input on 1,000 validation
# digits and 1,000 generated images. A 1-Lipschitz critic that is optimal has gradient norm 1 almost everywhere
# between the two distributions.

# %%
for label in ("WGAN", "WGAN-GP"):
    for seed in SEEDS:
        c = (records[label, seed].get("metrics") or {}).get("critic")
        if c is None:
            print(f"{label} seed {seed}: no critic diagnostics (trained here, or not finished)")
            continue
        clip = f"{c['weights_at_clip']:.1%} of weights at +-c; " if "weights_at_clip" in c else ""
        print(f"{label:8s} seed {seed}: {clip}input-gradient norm, median (10-90%): real "
              f"{c['grad_norm_real_median']:.3g} ({c['grad_norm_real_q10_q90'][0]:.3g}-{c['grad_norm_real_q10_q90'][1]:.3g}),"
              f" generated {c['grad_norm_generated_median']:.3g} | E f(real) - E f(generated) = "
              f"{c['score_real_minus_generated']:.3g}")

# %% [markdown]
# **Answer.** Three problems, each visible in these runs.
#
# 1. **A critic that barely separates the two sets.** Clipping bounds each weight, not the function, so the critic is
#    $K$-Lipschitz for an unknown $K$ and estimates at best $K\cdot W_1$. A function's Lipschitz constant is at least
#    its gradient norm, and the clipped critic's input-gradient norms are about 1 (medians 0.965 and 0.871 on real
#    digits), so $K$ is at least about 1. Yet its estimate of the distance ends at 0.0367 and 0.033 (seeds 0 and 1),
#    against 1.27 and 1.24 for the WGAN-GP's critic, whose generator is much closer to the data. The clipped critic
#    is far from the optimum it is meant to approach, and its gradient guides the generator poorly.
# 2. **Slow, unstable learning.** Early on it wanders: its digit share spiked near step 1,500 and fell back to almost zero
#    (top middle panel below), and its validation FD rose between 2,500 and 5,000 steps (569 → 647 and 521 → 658).
#    Then it improves steadily but slowly, to a validation FD of 223 and 262 at 20,000 steps (table below),
#    where the WGAN-GP stood after 1,000 steps (221 and 235).
# 3. **Clipping can waste the critic's capacity.** 5.5% and 14.8% of the weights sit at $\pm c$; the WGAN-GP
#    paper shows that a critic boxed into $[-0.01, 0.01]$ learns overly simple functions (not tested here).
#
# Whether clipping or the slow optimiser (RMSProp at $5\cdot10^{-5}$) causes these, these runs do not separate.
# Remedies: a gradient penalty (WGAN-GP, next), **spectral normalisation** of the critic's layers (Miyato et al.,
# 2018: each weight matrix divided by its largest singular value, so that every layer is 1-Lipschitz), or a clipping
# bound tuned to the network.

# %% [markdown]
# ### The remedy: WGAN-GP
#
# A differentiable function is 1-Lipschitz if and only if its gradient norm is at most 1 everywhere, and the optimal
# critic has gradient norm 1 on straight lines between real and generated images (between each real digit and the
# generated image that the optimal transport moves onto it, the pairing of the two sets that achieves $W_1$). Gulrajani et al. therefore drop clipping and add a soft
# constraint at random points between a real and a generated image:
#
# $$L_\text{critic}=\mathbb E_{z}[f(G(z))]-\mathbb E_{x}[f(x)]+\lambda\,\mathbb E_{\hat x}\big[(\|\nabla_{\hat x}f(\hat x)\|_2-1)^2\big],
# \qquad \hat x=\epsilon x+(1-\epsilon)G(z),\ \epsilon\sim U[0,1],\ \lambda=10 .$$
#
# The penalty needs the gradient of $f$ *with respect to its input* inside the loss (a second derivative in
# training: `torch.autograd.grad(..., create_graph=True)`), and **batch norm must not be used in the critic**: it
# would make each $\hat x$'s score depend on the other samples of the batch. Our WGAN-GP critic uses layer norm
# instead (one normalisation group per image, `DCGANCritic(norm="layer")`). With clipping gone the critic can use
# momentum again: Adam, learning rate $10^{-4}$, $\beta=(0.5,0.9)$, $n_\text{critic}=5$.
# `helpers.gan.gradient_penalty` computes this formula:

# %%
show_code(gan.gradient_penalty)
show_samples("WGAN-GP")

# %% [markdown]
# **Answer.** The penalty gives the critic a known scale: its input-gradient norms are of order 1, somewhat above it
# (medians 1.37 and 1.33 on real digits, 1.21 and 1.18 on generated ones, seeds 0 and 1; the penalty is soft), and its
# estimate of the distance ends at 1.27 and 1.24, 35 and 38 times the clipped critic's. (These are measured after
# training on 1,000 validation digits and as many samples; the training log's last values, on training batches, are
# 1.34 and 1.40.) It separates real from generated images as a near-optimal critic should, and its gradient carries
# that information to the generator. The samples show it (grid above): most are clean digits, with test FD 22.8 and
# 26.2 and referee digit share 0.67 and 0.66, the highest digit share of the four models (Task 4.4). The WGAN-GP
# changes three things at once (the penalty, Adam instead of RMSProp, layer norm in the critic), and these runs cannot
# say which of them matters most.

# %% [markdown]
# ## Task 4.4 — Comparing the models: pictures, curves, numbers
#
# The homework asks for samples of the trained models side by side and a discussion of realism, training
# stability and convergence. First the pictures, both seeds of every model, binarised as the data are.

# %%
labels = list(MODELS)
fig, axes = plt.subplots(2, len(labels) + 1, figsize=(20, 8.4))
for row, seed in enumerate(SEEDS):
    plotting.image_grid(x_te[row * 36:(row + 1) * 36], nrow=6, ax=axes[row, 0], title="real test digits")
    for ax, label in zip(axes[row, 1:], labels):
        s = generators[label, seed].sample(36, generator=utils.generator(seed + 4))
        plotting.image_grid(gan.binarize(s), nrow=6, ax=ax, title=f"{label}, seed {seed}")
plt.tight_layout()
plt.show()

# %% [markdown]
# *The grids above:* the real digits are single clean strokes. The GAN, the GAN with instance noise and the WGAN-GP
# draw mostly shapes that read as Persian digits (clear ۱, ۲, ۳, ۸ and ۹ among them), some with ragged edges, stray
# specks or broken strokes. The clipped WGAN draws thick, lumpy strokes, a few of them legible digits, most
# malformed; seed 1's are blotchier, with more filled shapes and loose fragments.

# %% [markdown]
# ### Training curves
#
# Every 500 generator steps during training, 1,000 binarised samples were scored against the validation
# digits.
# Top row, for all models and seeds on a common scale: the FD in the classifier's features, the referee's digit
# share, and the FD against CPU seconds of training (process time, which does not count other processes). Bottom
# row, what each loss sees: the GAN discriminator's mean outputs on real and generated batches, and each critic's
# estimate of the Wasserstein distance, $\mathbb E f(x)-\mathbb E f(G(z))$, on its own scale (clipping and the
# penalty fix different Lipschitz constants), with $\lambda$ times the gradient penalty for the WGAN-GP.

# %%
def curve(label, seed, key, x="step"):
    h = records[label, seed]["history"]
    v = np.array([np.nan if a is None else a for a in h[key]], dtype=float)
    return np.asarray(h[x], dtype=float), v


colors = dict(zip(labels, ["tab:blue", "tab:red", "tab:green", "tab:purple"]))
fig, axes = plt.subplots(2, 3, figsize=(18, 9))
for (label, seed) in records:
    style = dict(color=colors[label], ls="-" if seed == SEEDS[0] else "--", label=f"{label}, seed {seed}")
    axes[0, 0].plot(*curve(label, seed, "fd_val"), **style)
    axes[0, 1].plot(*curve(label, seed, "digit_share_val"), **style)
    axes[0, 2].plot(*curve(label, seed, "fd_val", x="cpu_seconds_total"), **style)
axes[0, 0].set(title="FD to validation digits (classifier features)", xlabel="generator steps", ylabel="FD",
               yscale="log")
axes[0, 1].set(title="referee: share named as a digit (p >= 0.9)", xlabel="generator steps", ylabel="share",
               ylim=(0, 1))
axes[0, 1].axhline(control_scores["real (held out)"]["digit_share"], color="grey", ls=":", label="real held-out digits")
axes[0, 2].set(title="FD against training CPU time", xlabel="CPU seconds of training", ylabel="FD",
               yscale="log")
for seed in SEEDS:
    ls = "-" if seed == SEEDS[0] else "--"
    axes[1, 0].plot(*curve("GAN", seed, "d_real"), ls, color="tab:blue", label=f"mean D(x), real, seed {seed}")
    axes[1, 0].plot(*curve("GAN", seed, "d_fake"), ls, color="tab:orange", label=f"mean D(G(z)), generated, seed {seed}")
    axes[1, 1].plot(*curve("WGAN", seed, "w_estimate"), ls, color="tab:red", label=f"seed {seed}")
    axes[1, 2].plot(*curve("WGAN-GP", seed, "w_estimate"), ls, color="tab:green", label=f"E f(x) - E f(G(z)), seed {seed}")
    s, gp = curve("WGAN-GP", seed, "gp")
    axes[1, 2].plot(s, 10 * gp, ls, color="k", label=f"lambda x penalty, seed {seed}")
axes[1, 0].axhline(0.5, color="grey", ls=":", label="0.5: D cannot tell")
axes[1, 0].set(title="GAN: discriminator outputs", xlabel="generator steps", ylabel="probability", ylim=(0, 1))
axes[1, 1].set(title="WGAN: critic's estimate of the distance", xlabel="generator steps", ylabel="critic's scale")
axes[1, 2].set(title="WGAN-GP: critic's estimate and penalty", xlabel="generator steps", ylabel="critic's scale",
               yscale="log")
for ax in axes.flat:
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# The numbers the answers cite: the validation scores at a few points of training, each critic's estimate of the
# distance at the same points, and the best FD and where it was reached. These FDs compare 1,000 samples
# with the 4,235 validation digits; the final scores further below compare 5,000 other samples with the 2,118 test
# digits, so the two kinds of FD differ (the line under the table gives an example): compare FDs within one table
# only.

# %%
marks = [1000, 2500, 5000, 10_000, 15_000, 20_000]
rows = ["| model | seed | FD at " + " / ".join(f"{m:,}" for m in marks) + " steps | digit share at the same steps "
        "| critic's estimate at the same steps | best FD (step) |",
        "|---|---|---|---|---|---|"]
for (label, seed), rec in records.items():
    h = rec["history"]
    step = list(h["step"])
    at = [step.index(m) for m in marks if m in step]
    fd, share = curve(label, seed, "fd_val")[1], curve(label, seed, "digit_share_val")[1]
    w = " / ".join(f"{curve(label, seed, 'w_estimate')[1][i]:.3g}" for i in at) if "w_estimate" in h else "-"
    rows.append(f"| {label} | {seed} | " + " / ".join(f"{fd[i]:.0f}" for i in at) + " | "
                + " / ".join(f"{share[i]:.2f}" for i in at) + f" | {w} | {np.nanmin(fd):.0f} "
                f"({step[int(np.nanargmin(fd))]:,}) |")
display(Markdown("\n".join(rows)))
rec = records["GAN", SEEDS[0]]
if rec["metrics"]:
    print(f"GAN, seed {SEEDS[0]}, at step {rec['generator_steps']:,}: FD {curve('GAN', SEEDS[0], 'fd_val')[1][-1]:.1f} "
          f"against the validation digits (1,000 samples), {rec['metrics']['fd']:.1f} against the test digits (final "
          "scores)")

# %% [markdown]
# What a generator step costs, timed here, one model after the other on the same machine and data (wall
# milliseconds, after two warm-up steps):

# %%
N_TIME = scaled(20, 2)
step_ms = {label: gan.step_cost(gan.make_hoda_trainer(name, x_tr[:2000], seed=0, z_dim=Z_DIM, width=WIDTH,
                                                     critic_width=CRITIC_WIDTH, device=device), N_TIME)["wall_ms"]
           for label, name in MODELS.items()}
print(f"ms per generator step on {device}: " + ", ".join(f"{k} {v:.0f}" for k, v in step_ms.items())
      + f" | WGAN-GP / GAN: {step_ms['WGAN-GP'] / step_ms['GAN']:.1f}x")
per_step = {k: r["cpu_seconds"] / r["generator_steps"] for k, r in records.items()}
print("in training (the records' CPU seconds per generator step), WGAN-GP / GAN: "
      + ", ".join(f"seed {seed} {per_step['WGAN-GP', seed] / per_step['GAN', seed]:.1f}x" for seed in SEEDS))

# %% [markdown]
# **Answer (convergence).** No model has converged. Every run's validation FD was lowest at step 18,000 or later
# (table), and over the last 5,000 steps it still fell by 16-32%: 50 → 37 and 44 → 35 for the GAN, 32 → 26 and
# 31 → 26 for the WGAN-GP, 41 → 28 and 37 → 28 for the GAN with instance noise (seeds 0 and 1). On the log scale the curves
# flatten, so each further 5,000 steps buys less, but longer training should still improve these three models
# (tested for the GAN in *Training longer* below). The clipped WGAN's FD also fell (267 → 223 and 335 → 262), but
# from far higher: it ends about where the WGAN-GP was after 1,000 steps.
#
# **Speed.** Per generator step the WGAN-GP learns fastest: FD 73 and 70 at 5,000 steps against 107-118 for the two
# GANs, and it stays ahead to the end. But a WGAN-GP step costs four to five GAN steps (4.8x and 4.2x in training,
# about 5x timed again above: five critic updates, each with the extra backward pass of the penalty), so per CPU
# second the GANs are far ahead (top right): the GAN's 20,000 steps buy the WGAN-GP about 20,000 / 4.8 ≈ 4,200 and
# 20,000 / 4.2 ≈ 4,800, where its validation FD lay between 115-123 (2,500 steps) and 70-73 (5,000 steps).

# %% [markdown]
# **Answer (stability).** The GAN's discriminator wins throughout, yet its generator's FD falls steadily. The WGAN-GP critic's
# estimate falls with the FD, from 5.18 at 1,000 steps to 1.34 and 1.40 at 20,000 (seeds 0 and 1), so it can serve as
# a loss curve. The clipped WGAN's cannot: between 2,500 and 5,000 steps its FD rose (569 → 647 and
# 521 → 658) while its estimate fell (1.59 → 0.845 and 2.28 → 1.52), and over the whole run the estimate shrank far more
# than the FD (2.68 → 0.0361 and 2.69 → 0.0618, against FD 1,295 → 223 and 1,294 → 262), rising again in seed 1 while
# the FD fell (0.0505 at 15,000 steps), so its size says little about the samples. Each model was trained once from each of two seeds, and both seeds show each of these patterns.

# %% [markdown]
# ### Training longer: the GAN to 108,000 steps
#
# Does more training close the gap to real digits? The plain GAN is the cheapest model, so both of its runs were
# continued from their 20,000-step states with the same recipe (nothing else changed), to 40,000 and then to 108,000
# generator steps. Their records are read here: the validation scores along all 108,000 steps, and the final scores
# (5,000 samples against the test digits, as in the table further below) at 20,000, 40,000 and 108,000 steps. If the
# referee's digit share grew by a fixed amount per doubling of the steps, it would be a straight line on the log
# axis; the second table measures that amount on each of the last four doublings (6,750 → 108,000 steps), as the
# least-squares slope of the validation digit share (1,000 samples every 500 steps) against $\log_2(\text{steps})$,
# with its standard error.

# %%
LONG_STEPS = (40_000, 108_000)  # the continued runs' lengths (records in checkpoints/training_state/)
long_runs = {(seed, n): checkpoints.load_record(utils.checkpoints_dir() / "training_state" / f"hoda_gan_seed{seed}_{n // 1000}k_G.json")
             for seed in SEEDS for n in LONG_STEPS}
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for seed in SEEDS:
    h = long_runs[seed, LONG_STEPS[-1]]["history"]
    style = dict(color="tab:blue", ls="-" if seed == SEEDS[0] else "--", label=f"GAN, seed {seed}")
    axes[0].plot(h["step"], h["fd_val"], **style)
    axes[1].plot(h["step"], h["digit_share_val"], **style)
axes[1].axhline(control_scores["real (held out)"]["digit_share"], color="k", ls=":", label="real held-out digits")
for ax in axes:
    ax.axvline(records["GAN", SEEDS[0]]["generator_steps"], color="grey", ls=":", label="end of the comparison")
    ax.set(xscale="log", xlabel="generator steps")
    ax.legend(fontsize=8)
axes[0].set(yscale="log", ylabel="FD", title="FD to validation digits (classifier features)")
axes[1].set(ylim=(0, 1), ylabel="share", title="referee: share named as a digit (p >= 0.9)")
plt.tight_layout()
plt.show()


def long_row(rec):
    """Final test scores of one record and its CPU seconds."""
    m = rec["metrics"]
    if not m:  # a generator trained here (RETRAIN) has no final scores
        return [f"{rec['generator_steps']:,}"] + ["-"] * 6
    return [f"{rec['generator_steps']:,}", f"{m['fd']:.1f}", f"{m['fd_referee']:.1f}", c2st_text(m),
            f"{m['digit_share']:.3f}", f"{m['min_class']:.3f}", f"{rec['cpu_seconds']:,.0f}"]


long_table = {}
for seed in SEEDS:
    long_table[f"GAN, seed {seed}"] = long_row(records["GAN", seed])
    for n in LONG_STEPS:
        long_table[f"GAN, seed {seed}, continued to {n:,}"] = long_row(long_runs[seed, n])
for seed in SEEDS:
    long_table[f"WGAN-GP, seed {seed}"] = long_row(records["WGAN-GP", seed])
display(Markdown(plotting.markdown_table(
    ["model", "generator steps", "FD (classifier)", "FD (referee)", "C2ST accuracy [95% CI]", "digit share",
     "smallest class", "CPU s of training (from step 0)"], long_table)))


def gain_per_doubling(history, first, last):
    """Least-squares slope (and its standard error) of the validation digit share against log2(steps), first..last."""
    step, share = np.array(history["step"]), np.array(history["digit_share_val"], dtype=float)
    keep = (step >= first) & (step <= last)
    fit = stats.linregress(np.log2(step[keep]), share[keep])
    return fit.slope, fit.stderr


doublings = [(LONG_STEPS[-1] // 2 ** k, LONG_STEPS[-1] // 2 ** (k - 1)) for k in (4, 3, 2, 1)]
gains = {seed: [gain_per_doubling(long_runs[seed, LONG_STEPS[-1]]["history"], a, b) for a, b in doublings] for seed in SEEDS}
display(Markdown(plotting.markdown_table(
    ["validation digit share gained per doubling", *(f"{a:,} → {b:,} steps" for a, b in doublings)],
    {f"GAN, seed {seed}": [f"{g:.3f} ± {se:.3f}" for g, se in gains[seed]] for seed in SEEDS})))

# %% [markdown]
# **Answer (training longer).** More steps keep improving the GAN, the digit share ever more slowly. From 20,000
# to 108,000 steps the test FD fell 36.4 → 11.6 and 34.0 → 16.5 and the digit share rose 0.543 → 0.724 and
# 0.568 → 0.730, with no digit dropped (smallest class 0.079 and 0.072). On the left, the FD still falls along a
# nearly straight line on log-log axes. The digit share's gain per doubling shrank at every doubling in both seeds
# (barely at seed 0's first, 0.153 → 0.143), to 0.076 and 0.045 on the doubling to 108,000 (standard errors
# 0.004-0.013, if anything too small; the seeds differ by more). If the gain keeps falling by about 0.03 per
# doubling, the share levels off near 0.8; if it shrinks by a fixed proportion instead, it approaches about 0.8
# (seed 1) to 0.9 (seed 0), and only over many more doublings.
# Even at a constant 0.06 per doubling (the last doubling's mean), the real digits' 0.95 is almost four doublings
# (about 1.4 million steps) away: longer training of this recipe is unlikely to get there in practice.
#
# The 108,000 steps cost about as much CPU time as the WGAN-GP's 20,000 (14,656 and 14,984 CPU s against 13,882 and
# 13,698). At that equal cost the GAN is ahead on both FDs, the two-sample test and the digit share in both seeds:
# test FD 11.6 and 16.5 against 22.8 and 26.2, two-sample accuracy 0.598 and 0.656 against 0.719 and 0.729, digit
# share 0.724 and 0.730 against 0.674 and 0.665; the rarest digit's share is similar (0.079 and 0.072 against 0.067
# and 0.079). This is one continued run per seed, and the WGAN-GP was not trained longer, so it says which recipe
# spends this much CPU better here, not which would end with better digits.

# %% [markdown]
# **Is the gap the referee's?** The referee is one trained network, so its verdicts could be partly its own quirks.
# Four more referees, trained like the shipped one (same data, non-digits, LeNet-5 and recipe) but from seeds 2 to 5,
# judged the same images: the held-out real digits and the noise and blob controls (1,000 images each), and 5,000
# samples from each of the GAN's generators at 20,000 and 108,000 steps and the WGAN-GP's at 20,000, both seeds
# (drawn with the same noise as the final scores). The table gives each set's digit share under the five referees
# (the shipped one is seed 1, the first column), their mean and their standard deviation; a line below it says
# whether every referee puts the sets in the same order.

# %%
seed_check = checkpoints.load_record("hoda_referee_seeds.json")  # scripts/referee_seeds.py
shares = seed_check["digit_share"]
display(Markdown(plotting.markdown_table(
    ["images", *(f"referee seed {s}" for s in seed_check["referee_seeds"]), "mean", "sd"],
    {k: [f"{v:.3f}" for v in row.values()] + [f"{np.mean(list(row.values())):.3f}",
                                              f"{np.std(list(row.values()), ddof=1):.3f}"]
     for k, row in shares.items()})))
order = {s: sorted(shares, key=lambda k: shares[k][s]) for s in map(str, seed_check["referee_seeds"])}
print("every referee orders the sets alike:", len({tuple(o) for o in order.values()}) == 1)
print("largest referee-to-referee sd:", f"{max(np.std(list(r.values()), ddof=1) for r in shares.values()):.3f}")

# %% [markdown]
# **Answer.** The verdicts belong to the samples, not to one referee. Across the five referees each set's digit
# share moves by a standard deviation of at most 0.009. Real held-out digits get 0.953 on average, the GAN at
# 108,000 steps 0.725 and 0.733, noise and blobs almost nothing. The gap between the GAN and real digits (about 0.22)
# is some 25 times that spread. All five referees also put the nine sets in the same order: noise and blobs (tied
# at 0 under one referee), the GAN at 20,000 steps, the WGAN-GP at 20,000, the GAN at 108,000, real digits. So the
# digit shares of these sets, and their order, would read the same under another referee seed. Not re-scored: the
# FD in the referee's features, the other models, and the stroke and cut-and-mixed controls; and a referee of
# another design, or trained on other non-digits, might judge differently.

# %% [markdown]
# ### Scores: which model draws the most realistic digits
#
# Each generator draws `N_EVAL` samples, binarised, scored like the controls above against the test digits; the
# controls are repeated as reference rows. The C2ST column tests the first 2,000 of the same samples against 2,000
# test digits. Two seeds per model show whether an ordering repeats; they are not a confidence interval. An FD is
# itself an estimate from a finite sample, so each generator also draws a second, independent set of as many
# samples, and the difference between its two FDs (the *redraw gap*) shows how far the estimate moves by chance. The
# lines under the table state a ranking of two models only where it holds **in both seeds and in both feature
# spaces**, each time by more than the two models' redraw gaps together.

# %%
scores, redraw = {}, {}
for (label, seed), G in generators.items():
    x = gan.binarize(G.sample(N_EVAL, generator=utils.generator(seed + 2)))
    scores[label, seed] = all_scores(x)
    # FD is an estimate: a second, independent draw of as many samples shows how much it moves
    redraw[label, seed] = referee.image_scores(gan.binarize(G.sample(N_EVAL, generator=utils.generator(seed + 20))),
                                               clf, ref, feats_te)
rows = {f"{label}, seed {seed}": (s, records[label, seed]["metrics"]) for (label, seed), s in scores.items()}
rows.update({f"control: {name}": (s, control_c2st.get(name)) for name, s in control_scores.items()})
display(score_table(rows))


def per_side(recs):
    """Images on each side of the two-sample tests in these records (their c2st_n counts both sides)."""
    return ", ".join(sorted({f"{r['c2st_n'] // 2:,}" for r in recs if r}))


print(f"two-sample tests: {per_side(r['metrics'] for r in records.values())} samples of each generator against as "
      f"many test digits; {per_side(control_c2st.values())} images of each control against as many")


def redraw_gap(m, k):
    """|FD of the scored samples - FD of a second draw| of model-and-seed m in feature space k."""
    return abs(scores[m][k] - redraw[m][k])


def ordering(a, b):
    """'<' or '>' when model a scores lower (better) than b in every seed and both feature spaces, each time by more
    than the two models' redraw gaps together, else None."""
    keys = ("fd", "fd_referee")
    gaps = lambda m: [{k: redraw_gap((m, s), k) for k in keys} for s in SEEDS]  # noqa: E731
    return referee.agreed_order([scores[a, s] for s in SEEDS], [scores[b, s] for s in SEEDS], gaps(a), gaps(b), keys)


print("FD of a second draw of as many samples, largest |difference| over the seeds (classifier / referee): "
      + ", ".join(f"{label} {max(redraw_gap((label, s), 'fd') for s in SEEDS):.2g} / "
                  f"{max(redraw_gap((label, s), 'fd_referee') for s in SEEDS):.2g}" for label in labels))
for i, a in enumerate(labels):
    for b in labels[i + 1:]:
        o = ordering(a, b)
        better = a if o == "<" else b
        print(f"{a} vs {b}: " + (f"{better} closer to the test digits in both seeds and both feature spaces"
                                 if o else "no ranking (the order differs between seeds or feature spaces, or a "
                                           "difference is within the redraw gaps)"))

# %% [markdown]
# **What the referee accepts and rejects.** A score is only as good as its judge on *these* images, so here are
# samples of two generators sorted by the referee's verdict: named as a digit (with the digit above each
# grid), and called not a digit.

# %%
fig, axes = plt.subplots(2, 2, figsize=(15, 6.4))
for row, label in enumerate(("GAN", "WGAN-GP")):
    x = gan.binarize(generators[label, SEEDS[0]].sample(400, generator=utils.generator(SEEDS[0] + 6)))
    p = classifier.predict_proba(ref, x).cpu()
    top, pred = p.max(1)
    named = (pred < referee.NOT_A_DIGIT) & (top >= 0.9)
    rejected = pred == referee.NOT_A_DIGIT
    per_digit = torch.cat([torch.nonzero(named & (pred == d)).flatten()[:3] for d in range(10)])  # up to 3 of each
    plotting.image_grid(x[per_digit], nrow=12, ax=axes[row, 0],
                        title=f"{label}: named a digit ({int(named.sum())} of 400), up to 3 of each digit")
    plotting.image_grid(x[rejected][:36], nrow=12, ax=axes[row, 1],
                        title=f"{label}: called not a digit ({int(rejected.sum())} of 400)")
plt.tight_layout()
plt.show()

# %% [markdown]
# *The grids above:* on the left, up to three accepted samples of each digit. Both models have all ten digits among
# their accepted samples, and most read as the digit they are named. The rejected images on the right are mostly
# digit-like strokes that are thickened, distorted or broken, or (more often for the WGAN-GP) speckled with loose
# pixels, with a few filled blobs; some could still be read as a digit. The referee is a strict judge: its digit share
# counts clean digits, not everything a lenient reader would accept.

# %% [markdown]
# **Answer (realism).** Three models draw mostly digits, and two of them are close. By FD the WGAN-GP and the GAN
# with instance noise lead (classifier FD 22.8 and 26.2 for the WGAN-GP, 26.5 and 26.2 with instance noise, seeds 0
# and 1), ahead of the plain GAN (36.4 and 34.0) in both seeds and both feature spaces. Between the two leaders FD gives no ranking (the line under the table): their classifier FDs
# differ by 3.7 in seed 0 and not at all in seed 1, within what a second draw of samples moves them (up to 2.4 and 1.4
# each). The referee
# names most of the WGAN-GP's samples as digits (67% and 66%, against 60-62% for the GAN with noise, 54-57% for the
# GAN, and 95% for real digits).
#
# The two-sample test orders the top the other way round: its accuracy is lower for both GANs (0.658 to 0.701) than
# for the WGAN-GP (0.719 and 0.729) in each seed, with separate 95% intervals except for the plain GAN against the
# WGAN-GP in seed 1. So "most realistic" depends
# on the judge. One cue all three share is in the "in several pieces" column: 30-31% of their samples have stray
# specks or broken strokes, against 4% of real digits. The clipped WGAN is far behind by every score (classifier FD 231 and 270,
# digit share 0.094 and 0.080, two-sample accuracy 0.978 and 0.971).

# %% [markdown]
# ### Which digits each model draws
#
# Among the samples the referee names as digits, the share of each digit (seed means), beside the test digits'
# true classes. A model that drops a digit (mode collapse onto part of the data) shows a bar near zero.

# %%
fig, ax = plt.subplots(figsize=(12, 3.8))
width = 0.16
ax.bar(np.arange(10) - 2 * width, np.bincount(y_te.numpy(), minlength=10) / len(y_te), width,
       label="test digits (true classes)", color="grey")
for i, label in enumerate(labels):
    fr = np.mean([scores[label, s]["referee_class_fractions"] for s in SEEDS], axis=0)
    ax.bar(np.arange(10) + (i - 1) * width, fr, width, color=colors[label], label=label)
ax.set(title="Digits named by the referee (among samples named as a digit)", xlabel="digit", ylabel="share",
       xticks=range(10))
ax.legend(ncol=5, fontsize=8)
plt.show()
for label in labels:
    print(f"{label:22s} smallest digit share, seeds {SEEDS}: "
          + ", ".join(f"{min(scores[label, s]['referee_class_fractions']):.3f} "
                      f"(digit {int(np.argmin(scores[label, s]['referee_class_fractions']))})" for s in SEEDS))

# %% [markdown]
# **Answer.** None of the three models that draw digits (the two GANs and the WGAN-GP) drops one in either seed:
# among their samples named as digits the rarest digit still has a share of 0.067 to 0.082 (0.10 would be perfectly
# even), so none shows mode collapse in the sense of a missing digit. No digit is under-drawn by all of them: the
# rarest one changes with the model and the seed (4, 0, 2, 2, 2, 6).
#
# Two limits of this measurement. It counts only the samples the referee accepts (54-67% of these models' samples),
# so a digit a model draws badly is under-counted just like one it draws rarely; and it says nothing about variety
# within a digit. The clipped WGAN's named samples (9.4% and 8.0% of its samples) are too few and too
# selected to judge how it covers the digits.

# %% [markdown]
# ### The binary-pixel cue: GAN with and without instance noise
#
# Real Hoda pixels are exactly 0 or 1; generated ones never are, because a sigmoid does not reach its limits. A
# discriminator can therefore tell any fake by its grey levels alone, whatever its shape, and then its gradient
# says little about shape. **Instance noise** (Sønderby et al., 2017) adds $\mathcal N(0,0.1^2)$ noise to every image
# the discriminator sees, real and generated alike (`gan.instance_noise`), which makes both continuous and weakens
# the cue. The GAN + instance noise runs are otherwise the GAN's: same seeds, same steps, the same initial
# generator weights and the same latent draws for the evaluation, so the difference between the two models within a
# seed is paired.

# %%
for key, name in (("fd", "FD classifier"), ("fd_referee", "FD referee"), ("digit_share", "digit share")):
    d = [scores["GAN + instance noise", s][key] - scores["GAN", s][key] for s in SEEDS]
    print(f"{name:14s} (GAN + instance noise) - GAN, per seed: " + ", ".join(f"{v:+.3g}" for v in d))
for label in ("GAN", "GAN + instance noise"):
    for seed in SEEDS:
        rec = records[label, seed]
        print(f"{label:22s} seed {seed}, second half: D(x) {second_half_mean(rec, 'd_real'):.3f}, "
              f"D(G(z)) {second_half_mean(rec, 'd_fake'):.3f}, discriminator loss {second_half_mean(rec, 'loss_d'):.3f}")

# %% [markdown]
# **Answer.** By FD and by the referee, instance noise helped in both seeds: the paired differences are -9.89 and
# -7.78 in classifier FD, -5.64 and -5.16 in referee FD, and +5.8 and +4.7 points of digit share (seeds 0 and 1),
# each FD difference at least twice the two models' redraw gaps together. The two-sample test agrees in seed 1 (0.658 against 0.701, intervals apart) but not in seed 0 (0.681
# against 0.672, intervals overlapping). The discriminator still wins by a wide margin (mean output on real digits
# 0.946 and 0.942 against 0.961 without noise), so the noise did not remove its advantage, only shrank it. What the
# control cannot separate is *which* property of the noise helped: besides weakening the binary-pixel cue, instance
# noise smooths what the discriminator sees everywhere, which is known to help GAN training in general (Sønderby et
# al., 2017; Arjovsky and Bottou, 2017).

# %% [markdown]
# ## Summary: GAN vs WGAN vs WGAN-GP
#
# After 20,000 generator steps each, in both seeds, three of the four models draw mostly recognisable Persian digits.
# By FD in two feature spaces and by the referee, the WGAN-GP and the GAN with instance noise lead and the plain GAN
# follows; the two-sample test finds the GANs' samples slightly harder to tell from real digits, so the order at the
# top depends on the judge, and every model remains distinguishable from real digits (two-sample accuracy 0.658 to
# 0.729 for these three; 0.5 would be indistinguishable). None of the three drops a digit (the rarest has a share of
# 0.067 to 0.082). A WGAN-GP step costs four to five GAN steps, so in the same CPU time the GAN trains four to five
# times as many; trained to 108,000 steps, in about the WGAN-GP's CPU time, it leads on both FDs, the two-sample test
# and the digit share, though its digit share (0.724 and 0.730) stays far below the real digits' 0.95 and grows ever
# more slowly (*Training longer*).
#
# The weight-clipped WGAN, after as many steps and as many critic updates as the WGAN-GP, still draws mostly malformed
# strokes (digit share 0.094 and 0.080): its critic barely separates real from generated digits, and its estimate
# of the distance does not track the samples' quality, while the WGAN-GP critic's does. The WGAN-GP recipe (gradient
# penalty, Adam, layer norm) repairs this, though these runs cannot say which of its changes matters most. None of the
# models has converged.

# %% [markdown]
# ## About this run
#
# Profile `full`, executed on a CPU with one thread in 189 s (`notebooks/timings.json`). The generators were trained
# beforehand by `scripts/train_hoda_gans.py` on one CPU thread, `STEPS` generator steps each (15.0 CPU hours for the
# eight and more for the GAN's continuation, both printed below; `RETRAIN = True` repeats the training here), and are
# loaded as float16 copies from `checkpoints/hoda_{gan,gannoise,wgan,wgangp}_seed{0,1}_G.pt`, with the classifier
# `hoda_classifier.pt` and the referee `hoda_referee.pt`. The JSON record beside each checkpoint holds the command,
# the configuration, the scores every 500 generator steps, the CPU seconds, the final metrics (the two-sample tests,
# one classifier trained per test, are read from there, computed on the same samples this notebook draws), the critic
# diagnostics, and the commit that holds the full training state for resuming. Data: the Hoda files `Test 20000.cdb`
# and `RemainingSamples.cdb` (`helpers.data.HODA_FILES`); the published training file is not used.
#
# *Training longer* reads only records: `checkpoints/training_state/hoda_gan_seed{0,1}_{40k,108k}_G.json`, the plain
# GAN resumed from its 20,000-step state by the same script (`--steps 40000 --resume`, later `--steps 108000
# --resume`, one thread beside one other training process); each names the commit that holds its float32 generator
# and full state. *Is the gap the referee's?* reads `checkpoints/hoda_referee_seeds.json`, written by
# `scripts/referee_seeds.py` (the four extra referees trained and all sets scored on one thread, CPU time printed below).

# %%
print(f"training CPU time of the {len(records)} generators: {sum(r['cpu_seconds'] for r in records.values()) / 3600:.1f} h")
print(f"the referee seed check (scripts/referee_seeds.py): {seed_check['cpu_seconds']:.0f} CPU s")
print(f"the GAN's continuation from {records['GAN', SEEDS[0]]['generator_steps']:,} to {LONG_STEPS[-1]:,} steps, both "
      f"seeds: {sum(long_runs[s, LONG_STEPS[-1]]['cpu_seconds'] - records['GAN', s]['cpu_seconds'] for s in SEEDS) / 3600:.1f} h")
recorded = [(scores[k]["fd"], records[k]["metrics"]["fd"]) for k in scores
            if records[k]["metrics"] and records[k]["metrics"]["referee_n"] == N_EVAL]
if recorded:
    print(f"FD recomputed here vs the records' (same samples): largest difference "
          f"{max(abs(a - b) for a, b in recorded):.2g}")
