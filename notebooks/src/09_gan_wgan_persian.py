# %% [markdown]
# # 09 — GAN, WGAN and WGAN-GP on handwritten Persian digits
#
# Homework 5, coding practice 4. We teach three generators to draw the binary Persian digits of the
# **Hoda** data set (white ink on a black 28x28 canvas): a classic **GAN** whose discriminator outputs the
# probability that an image is real, a **WGAN** as in Arjovsky, Chintala and Bottou (2017) (a critic
# with no sigmoid, weight clipping, several critic steps per generator step, RMSProp), and — after
# discussing what is still wrong with the WGAN — its usual repair, the **WGAN-GP** of Gulrajani et al.
# (2017), which replaces clipping by a gradient penalty. All three use the same small convolutional
# (DCGAN-style) generator and discriminator / critic and train for the same number of epochs, from two seeds
# each (the notebook uses the seeds whose checkpoints exist, printed by the set-up cell). Beyond pictures we
# score them with a Persian-digit classifier trained on our training split: the
# **class distribution** of generated samples (do all ten digits appear? mode coverage) and a **Fréchet
# distance** between generated and real test digits in the classifier's feature space (realism). Training
# curves against epochs show stability and convergence.
#
# Everything trains on a CPU: the classifier and the generators ship as checkpoints made by
# `scripts/train_hoda_gans.py` (its records hold each run's command, epochs and CPU seconds); set
# `RETRAIN = True` to train them here instead (hours on one core).

# %% setup

# %%
import numpy as np
import torch
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from helpers import checkpoints, classifier, data, gan, plotting, scaled, utils

RETRAIN = False                   # True: train the classifier and the generators here (hours of CPU)
SPLIT_SEED = 0
PLANNED_SEEDS = [0, 1]            # two training seeds per model for the comparison
EPOCHS = 40                       # epochs of every model (the training script's --epochs)
N_EVAL = scaled(5000, 500)        # generated samples per model for the scores
EPOCHS_HERE = scaled(EPOCHS, 1)   # epochs trained here when RETRAIN (or, in the smoke profile, when a file is missing)
N_TRAIN_HERE = scaled(None, 640)  # training digits used when training here (None: all)
MODELS = {"GAN": "gan", "WGAN": "wgan", "WGAN-GP": "wgan-gp"}
CONTROL = {"GAN + instance noise": "gan-noise"}  # the binary-pixel-cue control, same seeds
Z_DIM, WIDTH = 64, 32


def checkpoint_file(name, seed):
    """File name of the generator of model `name` trained from `seed` (written by scripts/train_hoda_gans.py)."""
    return f"hoda_{name.replace('-', '')}_seed{seed}_G.pt"


def has_checkpoints(seed):
    """True when the generators of all three models trained from `seed` are in checkpoints/."""
    return all(checkpoints.resolve(checkpoint_file(name, seed)).exists() for name in MODELS.values())


# The comparison uses the seeds whose three checkpoints exist (all planned seeds when RETRAIN); with none,
# seed 0 (trained here in the smoke profile, a clear error otherwise).
SEEDS = PLANNED_SEEDS if RETRAIN else [s for s in PLANNED_SEEDS if has_checkpoints(s)] or PLANNED_SEEDS[:1]
missing = [s for s in PLANNED_SEEDS if s not in SEEDS]
print(f"training seeds in this run: {SEEDS}" + (
    f"; not yet trained: seed(s) {missing} (OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --models gan wgan "
    f"wgan-gp --seed {missing[0]} --epochs {EPOCHS} --resume)" if missing else ""))

# %% [markdown]
# ## Task 1 — Data: the Hoda digits, 28x28, binary, split 85/10/5
#
# The Hoda set is published as three CDB files; the 60,000-digit training file is **not** in our data, so
# we use the other two (`Test 20000.cdb` and `RemainingSamples.cdb`), 42,352 binary digits of varying
# sizes. `helpers.data.hoda` reads them and brings each to 28x28: a digit whose longer side exceeds 20
# pixels is shrunk to fit (aspect ratio kept), a smaller one is **never enlarged**, and the digit is placed
# with its centre of mass at the canvas centre (as MNIST was made), then thresholded back to {0, 1} (white
# ink). Not enlarging matters for Persian digits: a 0 (۰) is a small dot, and scaling every digit into a
# full box turned it into a large filled disc, a shape no writer draws (the grids below show both).
# We shuffle once with a seed and cut the indices into disjoint train / validation / test sets of
# 85 / 10 / 5 %. The generators and the classifier learn from the training split only; the validation split
# tracks the generators during training; the test split is used once, for the final scores.

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

# the same 60 scanned digits (6 per class), preprocessed the old way (every digit scaled to fill a 22-pixel box)
# and the new way (shrunk to fit 20 pixels only when larger, never enlarged)
scans, scan_labels = data.read_cdb(data.data_root() / "hoda" / "Test 20000.cdb")
pick = [i for c in range(10) for i in np.flatnonzero(scan_labels == c)[:6]]
before = data.hoda_to_28([scans[i] for i in pick], box=22, enlarge=True)
after = data.hoda_to_28([scans[i] for i in pick])


def ink_height(x):
    """Height in pixels of each image's ink (rows with any ink, first to last)."""
    rows = x[:, 0].sum(2) > 0
    idx = torch.arange(x.shape[2]).expand_as(rows)
    return (torch.where(rows, idx, -1).max(1).values - torch.where(rows, idx, 99).min(1).values + 1).float()


h_tr = ink_height(x_tr)
print(f"median ink height (training split): 0s {h_tr[y_tr == 0].median():.0f} px, other digits "
      f"{h_tr[y_tr != 0].median():.0f} px; in the scans the 0s' longer side is a median "
      f"{np.median([max(s.shape) for s, c in zip(scans, scan_labels) if c == 0]):.0f} px against "
      f"{np.median([max(s.shape) for s, c in zip(scans, scan_labels) if c != 0]):.0f} px")
fig, axes = plt.subplots(1, 3, figsize=(18, 4.4), gridspec_kw={"width_ratios": [1, 1, 0.9]})
plotting.image_grid(before, nrow=12, ax=axes[0], title="before: each digit scaled to fill 22 px (0 = disc)")
plotting.image_grid(after, nrow=12, ax=axes[1], title="after: shrunk only when larger than 20 px (0 = dot)")
axes[2].bar(range(10), torch.bincount(y_tr, minlength=10).numpy(), color="tab:blue")
axes[2].set(title="training digits per class", xlabel="digit", ylabel="count", xticks=range(10))
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The referee: a Persian-digit classifier
#
# To count digits and measure realism we need a judge that knows Persian digits. A small CNN
# (`helpers.classifier.SmallCNN`, width 16, four 3x3 convolutions, 128 penultimate features) is trained on
# the training split — of the preprocessing above, so that its features describe the images the generators
# learn from — with random shifts of up to 2 pixels; the project's bar is 97% on the test split.
# Its softmax labels the generated digits; its 128 penultimate features are the space in which we compare
# the distribution of generated digits with that of real test digits.

# %%
clf = classifier.SmallCNN(width=16).to(device)
if RETRAIN:
    utils.seed_everything(SPLIT_SEED)
    with utils.timer("classifier training"):
        classifier.train_classifier(clf, x_tr, y_tr, epochs=scaled(2, 1), batch_size=128, lr=3e-3, shift=2,
                                    seed=SPLIT_SEED)
else:
    checkpoints.load_into(clf, "hoda_classifier.pt")
    rec = checkpoints.load_record("hoda_classifier.pt")
    print(f"loaded hoda_classifier.pt (trained in {rec.get('cpu_seconds', float('nan')):.0f} CPU s, "
          f"command: {rec['command']}; data: {rec['data']['name']})")
clf.eval()
acc_va, acc_te = classifier.accuracy(clf, x_va, y_va), classifier.accuracy(clf, x_te, y_te)
print(f"classifier accuracy: validation {acc_va:.2%}, test {acc_te:.2%} (the project's bar: at least 97%)")
feats_te = classifier.features(clf, x_te)
feats_va = classifier.features(clf, x_va)

# %% [markdown]
# ## Task 2 — A GAN
#
# **The game.** A generator $G_\theta:\mathbb{R}^{64}\to[0,1]^{28\times28}$ turns noise $z\sim\mathcal N(0,I)$
# into an image; a discriminator $D_\phi:[0,1]^{28\times28}\to(0,1)$ outputs the probability that its input is
# a real digit. Goodfellow et al. (2014) play
#
# $$\min_\theta\max_\phi\; V(\theta,\phi)=\mathbb E_{x\sim p_\text{data}}[\log D_\phi(x)]+\mathbb E_{z}[\log(1-D_\phi(G_\theta(z)))].$$
#
# For a fixed $G$ the best discriminator is $D^*(x)=p_\text{data}(x)/(p_\text{data}(x)+p_G(x))$, and then
# $V=2\,\mathrm{JS}(p_\text{data}\,\|\,p_G)-\log 4$: the generator minimises a Jensen–Shannon divergence.
#
# **Losses.** The discriminator minimises the binary cross-entropy with labels 1 (real) and 0 (fake),
# $-\mathbb E\log D(x)-\mathbb E\log(1-D(G(z)))$. The generator uses the *non-saturating* loss
# $-\mathbb E_z\log D(G(z))$ instead of minimising $\log(1-D(G(z)))$: both have the same fixed point, but
# early in training $D(G(z))\approx0$ and $\log(1-D)$ is flat there, whereas $-\log D$ gives large
# gradients. Both losses are computed from the discriminator's logit (`binary_cross_entropy_with_logits`),
# which is the same number as the cross-entropy of the probability but does not overflow.
#
# **Networks and hyper-parameters** (DCGAN, Radford et al. 2016, made small for a CPU).
# - Generator `helpers.gan.DCGANGenerator`: $z\in\mathbb R^{64}$ → linear → a 64-channel 7x7 map → batch norm,
#   ReLU → transposed convolution (4x4, stride 2) to 32x14x14 → batch norm, ReLU → transposed convolution to
#   1x28x28 → **sigmoid**: pixels in $[0,1]$ like the data. We train on the binary data directly; samples are
#   binarised at 0.5 for display and scoring, exactly as the data were binarised (a hard threshold inside the
#   generator would have zero gradient).
# - Discriminator `helpers.gan.DCGANDiscriminator`: convolution (4x4, stride 2) to 32x14x14, LeakyReLU(0.2),
#   convolution to 64x7x7, batch norm, LeakyReLU, linear → one logit, sigmoid at the end. The same network
#   without the sigmoid is the WGAN's critic, so the three models differ only in the loss, the optimiser and
#   (WGAN-GP) the critic's normalisation.
# - DCGAN initialisation for every model: weights $\sim\mathcal N(0,0.02^2)$, normalisation scales
#   $\sim\mathcal N(1,0.02^2)$, biases 0 (`gan.init_weights`, checked in `tests/test_gan.py`).
# - Adam with learning rate $2\cdot10^{-4}$ and $\beta_1=0.5$ for both players (the DCGAN setting: the
#   default $\beta_1=0.9$ keeps too much momentum in a game whose gradient field rotates), one discriminator
#   step per generator step, batch size 64.
# - **Epochs, not wall time**: an epoch is one pass of the discriminator / critic over the 35,999 training
#   digits (562 batches of 64). Every model trains for the same number of epochs (`EPOCHS`), so all three see
#   the data equally often; the GAN's generator then takes 562 steps per epoch, the WGANs' 112 (one per five
#   critic steps). After each epoch the training script records the losses, the CPU seconds of the epoch
#   (`time.process_time`), the machine's load, and the Fréchet distance of 1,000 binarised samples to the
#   validation split.
#
# **The binary-pixel cue.** Real Hoda pixels are exactly 0 or 1, generated ones never are (a sigmoid does
# not reach its limits), so a discriminator can tell any fake by its grey levels alone, whatever its shape.
# As a control we also train the GAN with **instance noise**: $\mathcal N(0,0.1^2)$ noise added to every
# input of the discriminator, real and generated alike (`gan.instance_noise`), which makes both continuous
# and removes the cue (same seeds, same epochs).

# %%
def train_here(name, seed):
    """Train a model here (RETRAIN, or the smoke profile when its checkpoint is missing): a record like the script's."""
    x = x_tr if N_TRAIN_HERE is None else x_tr[:N_TRAIN_HERE]
    t = gan.make_hoda_trainer(name, x, seed=seed, z_dim=Z_DIM, width=WIDTH, device=device)
    for _ in utils.progress(range(EPOCHS_HERE), desc=f"{name} seed {seed}"):
        t.run_epoch()
        for k, v in gan.epoch_scores(t.G, clf, feats_va, seed=seed).items():
            t.history.setdefault(k, []).append(v)
    return t.G.eval(), {"epochs": t.epoch, "planned_epochs": EPOCHS_HERE, "complete": True, "config": t.config,
                        "history": t.history, "cpu_seconds": sum(t.history["cpu_seconds"]), "metrics": None}


def load_or_train(name, seed):
    """The generator of model `name` trained from `seed`, and its record (history per epoch, CPU seconds, ...)."""
    file = checkpoint_file(name, seed)
    if not RETRAIN and checkpoints.resolve(file).exists():
        G = checkpoints.load_into(gan.DCGANGenerator(Z_DIM, WIDTH), file).to(device).eval()
        rec = checkpoints.load_record(file)
        note = "" if rec["complete"] else f" — NOT FINISHED: {rec['epochs']} of {rec['planned_epochs']} epochs"
        print(f"loaded {file}: {rec['epochs']} epochs, {rec['cpu_seconds'] / 60:.0f} CPU min{note}")
        return G, rec
    if not RETRAIN and not utils.is_smoke():
        raise FileNotFoundError(
            f"checkpoints/{file} is missing. Train it with\n  OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py "
            f"--models {name} --seed {seed} --epochs {EPOCHS} --resume\n(resumable; see the script's docstring), "
            f"or set RETRAIN = True to train here.")
    print(f"{file}: {'RETRAIN' if RETRAIN else 'missing, smoke profile'} -> training {EPOCHS_HERE} epoch(s) here")
    return train_here(name, seed)


generators, records = {}, {}
for label, name in MODELS.items():
    for seed in SEEDS:
        generators[label, seed], records[label, seed] = load_or_train(name, seed)
for label, name in CONTROL.items():  # the control, for each seed; left out where its checkpoint is missing
    for seed in SEEDS:
        if RETRAIN or utils.is_smoke() or checkpoints.resolve(checkpoint_file(name, seed)).exists():
            generators[label, seed], records[label, seed] = load_or_train(name, seed)
        else:
            print(f"checkpoints/{checkpoint_file(name, seed)} is missing: the {label} control, seed {seed}, is left "
                  f"out of this run. Train it with\n  OMP_NUM_THREADS=1 python scripts/train_hoda_gans.py --models "
                  f"{name} --seed {seed} --epochs {EPOCHS} --resume")


def show_samples(label, seed=SEEDS[0], n=60):
    """Raw sigmoid outputs and the same samples binarised at 0.5, side by side."""
    s = generators[label, seed].sample(n, generator=utils.generator(seed + 3))
    fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
    plotting.image_grid(s, nrow=12, ax=axes[0], title=f"{label} (seed {seed}): generator output in [0, 1]")
    plotting.image_grid(gan.binarize(s), nrow=12, ax=axes[1], title=f"{label}: binarised at 0.5 (like the data)")
    plt.tight_layout()
    plt.show()


print(f"generator: {sum(p.numel() for p in gan.DCGANGenerator(Z_DIM, WIDTH).parameters()):,} parameters | "
      f"discriminator / critic: {sum(p.numel() for p in gan.DCGANCritic(WIDTH).parameters()):,} parameters")
show_samples("GAN")

# %% [markdown]
# ## Task 3 — A WGAN, per the paper
#
# **Why change the loss.** When $p_\text{data}$ and $p_G$ live on low-dimensional manifolds that do not
# overlap — the normal case for images, and extreme for *binary* images — $\mathrm{JS}=\log2$ whatever the
# distance between them, and a near-optimal discriminator gives the generator vanishing (or, with the
# non-saturating loss, unstable) gradients. Arjovsky et al. replace JS by the Wasserstein-1 (earth mover's)
# distance, which shrinks continuously as the generated distribution moves towards the data. By the
# Kantorovich–Rubinstein duality
#
# $$W_1(p_\text{data},p_G)=\sup_{\|f\|_L\le1}\;\mathbb E_{x\sim p_\text{data}}[f(x)]-\mathbb E_{z}[f(G(z))],$$
#
# so a **critic** $f_w$ (a real score, **no sigmoid**, no log) is trained to maximise
# $\mathbb E f_w(x)-\mathbb E f_w(G(z))$ and the generator minimises $-\mathbb E f_w(G(z))$. The sup is over
# 1-Lipschitz functions; the paper keeps $f_w$ $K$-Lipschitz for *some* $K$ by **clipping every weight to
# $[-c,c]$** after each critic update, so the critic estimates $K\cdot W_1$.
#
# **What changes in the code** (Algorithm 1 of the paper, with its defaults): the sigmoid and the
# cross-entropies go; the critic takes $n_\text{critic}=5$ steps per generator step, so that it is close to
# its optimum when the generator follows its gradient (with JS this would kill the gradient; with $W_1$ a
# better critic gives *better* gradients); every weight of the critic is clipped to $c=0.01$ after each step;
# the optimiser is **RMSProp** with learning rate $5\cdot10^{-5}$ (the paper saw Adam's momentum destabilise
# the clipped critic). Same networks as the GAN (the critic keeps the DCGAN batch norm, as in the paper's
# experiments), same data, same batch size, same number of epochs. The critic's objective,
# $\mathbb E f(x)-\mathbb E f(G(z))$ on the current batches, is logged as the WGAN's estimate of the distance.

# %%
show_samples("WGAN")

# %% [markdown]
# ### What is still wrong with the WGAN, and a remedy
#
# 1. **Clipping is a poor way to impose a Lipschitz bound.** It constrains each weight, not the function:
#    the critic's actual Lipschitz constant $K$ is unknown and changes during training, so the "distance"
#    it reports is only defined up to that moving scale (comparisons across runs or models are meaningless).
#    With a small $c$ many weights are pushed to $\pm c$ (we count them below), which pushes the critic
#    towards very simple functions — its **capacity is wasted** and it learns only coarse features of the digits.
# 2. **Vanishing or exploding gradients.** Through $L$ layers the gradient scales roughly like $c^L$ times
#    the widths: too small a $c$ and the critic's gradients vanish (slow learning), too large and they
#    explode (instability); the right $c$ depends on the architecture and must be tuned.
# 3. **Slow convergence.** Five critic steps per generator step, a small learning rate and no momentum make
#    the WGAN expensive: per unit of CPU time the generator gets few, small updates.
#
# **Remedy — WGAN-GP, implemented below.** A differentiable function is 1-Lipschitz iff its gradient norm
# is at most 1 everywhere, and the optimal critic has gradient norm 1 on the straight lines between coupled
# points of $p_\text{data}$ and $p_G$. Gulrajani et al. therefore drop clipping and add a soft constraint on
# random points of those lines:
#
# $$L_\text{critic}=\mathbb E_{z}[f(G(z))]-\mathbb E_{x}[f(x)]+\lambda\,\mathbb E_{\hat x}\big[(\|\nabla_{\hat x}f(\hat x)\|_2-1)^2\big],
# \qquad \hat x=\epsilon x+(1-\epsilon)G(z),\ \epsilon\sim U[0,1],\ \lambda=10 .$$
#
# The penalty needs the gradient of $f$ *with respect to its input* inside the loss (a second derivative in
# training: `torch.autograd.grad(..., create_graph=True)`), and **batch norm must not be used in the critic**:
# it would make each $\hat x$'s score depend on the other samples of the batch. Our WGAN-GP critic replaces it
# by layer norm (one normalisation group per image, `DCGANCritic(norm="layer")`); a test checks that each
# image's score is then its own. With clipping gone the critic can use momentum again: Adam, learning rate
# $10^{-4}$, $\beta=(0.5,0.9)$, $n_\text{critic}=5$, the same number of epochs as the others.
# `helpers.gan.gradient_penalty` is checked against this formula by hand and against per-image autograd in
# `tests/test_gan.py`.

# %%
show_samples("WGAN-GP")

# %% [markdown]
# ## Task 4 — Comparing the three: pictures, curves, numbers
#
# ### Samples side by side

# %%
fig, axes = plt.subplots(1, 4, figsize=(18, 5))
plotting.image_grid(x_te[:49], nrow=7, ax=axes[0], title="real test digits")
for ax, label in zip(axes[1:], MODELS):
    s = generators[label, SEEDS[0]].sample(49, generator=utils.generator(SEEDS[0] + 4))
    plotting.image_grid(gan.binarize(s), nrow=7, ax=ax, title=f"{label} (seed {SEEDS[0]}, binarised)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Training curves, per epoch
#
# Each point is the mean over one epoch (so no running mean is needed). For the GAN: both losses and the
# discriminator's mean outputs on real and generated batches. For the two WGANs: the critic's estimate of the
# Wasserstein distance, $\mathbb E f(x)-\mathbb E f(G(z))$ (on each critic's own scale: clipping and the penalty
# fix different Lipschitz constants), and, for WGAN-GP, $\lambda$ times the penalty. Last, for all models and
# seeds on a common scale: the Fréchet distance of 1,000 binarised samples to the validation split after every
# epoch, against epochs and against the CPU seconds of training (`time.process_time` of the training process,
# which does not count the time other processes took on the shared machine).

# %%
def curve(label, seed, key):
    h = records[label, seed]["history"]
    return np.asarray(h["epoch"]), np.asarray(h[key], dtype=float)


fig, axes = plt.subplots(2, 3, figsize=(18, 9))
for seed, ls in zip(SEEDS, ["-", "--"]):
    for key, lab in [("loss_d", "discriminator loss (BCE)"), ("loss_g", "generator loss -log D(G(z))")]:
        axes[0, 0].plot(*curve("GAN", seed, key), ls, label=f"{lab}, seed {seed}")
    for key, lab in [("d_real", "mean D(x), real"), ("d_fake", "mean D(G(z)), generated")]:
        axes[0, 1].plot(*curve("GAN", seed, key), ls, label=f"{lab}, seed {seed}")
    for label, ax in [("WGAN", axes[0, 2]), ("WGAN-GP", axes[1, 0])]:
        ax.plot(*curve(label, seed, "w_estimate"), ls, color="tab:green", label=f"E f(x) - E f(G(z)), seed {seed}")
    e, gp = curve("WGAN-GP", seed, "gp")
    axes[1, 0].plot(e, 10 * gp, ls, color="tab:red", label=f"lambda x gradient penalty, seed {seed}")
axes[0, 0].axhline(np.log(4), color="grey", ls=":", label="D loss at equilibrium, log 4")
axes[0, 0].set(title="GAN: losses (epoch means)", xlabel="epoch", ylabel="loss")
axes[0, 1].axhline(0.5, color="grey", ls=":", label="0.5: D cannot tell")
axes[0, 1].set(title="GAN: discriminator outputs", xlabel="epoch", ylabel="probability", ylim=(0, 1))
for label, ax in [("WGAN", axes[0, 2]), ("WGAN-GP", axes[1, 0])]:
    ax.set(title=f"{label}: critic's estimate of the Wasserstein distance", xlabel="epoch",
           ylabel="estimate (critic's own scale)")
for (label, seed), rec in records.items():
    e, fd = curve(label, seed, "fd_val")
    cpu = np.cumsum(rec["history"]["cpu_seconds"])
    style = "--" if seed != SEEDS[0] else "-"
    axes[1, 1].plot(e, fd, style, marker=".", label=f"{label}, seed {seed}")
    axes[1, 2].plot(cpu, fd, style, marker=".", label=f"{label}, seed {seed}")
axes[1, 1].set(title="Frechet distance to validation digits", xlabel="epoch", ylabel="FD (classifier features)",
               yscale="log")
axes[1, 2].set(title="... against training CPU time", xlabel="CPU seconds of training (process time)",
               ylabel="FD", yscale="log")
for ax in axes.flat:
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### The numbers behind the curves
#
# Everything the discussion cites about stability and convergence, printed from the training records: epoch
# means averaged over each fifth of training, the validation FD at a few epochs and its best epoch, and the
# cost per epoch.

# %%
def fifths(v):
    """Means of v over five consecutive, nearly equal parts."""
    return [float(np.mean(p)) for p in np.array_split(np.asarray(v, dtype=float), 5) if len(p)]


def fmt(v, p=3):
    return ", ".join(f"{a:.{p}g}" for a in v)


for (label, seed), rec in records.items():
    h = rec["history"]
    print(f"{label}, seed {seed}: {rec['epochs']} epochs, {np.mean(h['cpu_seconds']):.0f} CPU s per epoch, "
          f"{np.sum(h['generator_steps']) / np.sum(h['cpu_seconds']):.1f} generator steps per CPU s")
    if "d_real" in h:
        print(f"  per fifth: D(x) {fmt(fifths(h['d_real']))} | D(G(z)) {fmt(fifths(h['d_fake']))} | "
              f"loss_d {fmt(fifths(h['loss_d']))} | loss_g {fmt(fifths(h['loss_g']))}")
    if "w_estimate" in h:
        print(f"  per fifth: W estimate {fmt(fifths(h['w_estimate']))}"
              + (f" | gradient penalty {fmt(fifths(h['gp']))}" if "gp" in h else ""))
    fd = np.asarray(h["fd_val"])
    marks = sorted({1, len(fd) // 4, len(fd) // 2, 3 * len(fd) // 4, len(fd)} - {0})
    print(f"  validation FD at epochs {marks}: {fmt([fd[m - 1] for m in marks], 4)} | best {fd.min():.1f} at "
          f"epoch {fd.argmin() + 1} | confidence at the end {h['confidence_val'][-1]:.3f}")

# %% [markdown]
# ### Scores: realism and mode coverage
#
# For each generator, `N_EVAL` samples, binarised, are labelled and embedded by the classifier.
# - **FD (test)**: Fréchet distance between Gaussians fitted to the 128-d features of the samples and of the
#   2,118 test digits, $\|\mu_1-\mu_2\|^2+\mathrm{Tr}(\Sigma_1+\Sigma_2-2(\Sigma_1\Sigma_2)^{1/2})$ (lower is
#   better). The same number for 5,000 *real* training digits is the floor a perfect generator would reach
#   with these sample sizes. "FD raw" uses the un-binarised sigmoid outputs.
# - **Mode coverage**: the fraction of samples given to each digit (the per-class coverage, in the second
#   table), summarised by its entropy (a uniform histogram has $\log 10=2.303$ nats) and its smallest and
#   largest class fractions.
# - **Confidence**: mean of the classifier's top probability — digit-like samples get confident labels,
#   ambiguous scribbles do not. **IS**: the inception-score analogue $\exp\,\mathbb E\,\mathrm{KL}(p(y|x)\,\|\,p(y))$
#   (at most 10; high when samples are both confident and diverse).
# With two seeds per model the table gives each seed and their mean with half their difference (the spread of two
# runs; two seeds show whether a ranking holds up, not a confidence interval); with one seed it says that there
# is no spread yet, and every difference is one run's observation.

# %%
ref = {"fd": gan.frechet_distance(classifier.features(clf, x_tr[:N_EVAL]), feats_te)}
ref.update(gan.coverage_scores(classifier.predict_proba(clf, x_tr[:N_EVAL])))
ref["ink_fraction"] = x_tr[:N_EVAL].mean().item()
scores = {("real train digits", None): ref}
for (label, seed), G in generators.items():
    s = gan.evaluate_generator(G, clf, feats_te, n=N_EVAL, seed=seed + 2)
    s["fd_raw"] = gan.evaluate_generator(G, clf, feats_te, n=N_EVAL, seed=seed + 2, binary=False)["fd"]
    s["epochs"], s["cpu_min"] = records[label, seed]["epochs"], records[label, seed]["cpu_seconds"] / 60
    scores[label, seed] = s

cols = ["fd", "fd_raw", "class_entropy", "min_class", "max_class", "confidence", "inception_score", "ink_fraction"]
rows = ["| model | seed | FD (test) | FD raw | class entropy | min class | max class | confidence | IS | ink | epochs | CPU min |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
for (label, seed), s in scores.items():
    rows.append(f"| {label} | {'' if seed is None else seed} | " + " | ".join(f"{s.get(c, float('nan')):.3g}" for c in cols)
                + f" | {s.get('epochs', '')} | {s.get('cpu_min', float('nan')):.0f} |")
for label in [*MODELS, *CONTROL] if len(SEEDS) > 1 else []:
    if any((label, seed) not in scores for seed in SEEDS):
        continue
    runs = [scores[label, seed] for seed in SEEDS]
    mean = {c: np.mean([r[c] for r in runs]) for c in cols}
    half = {c: abs(runs[0][c] - runs[-1][c]) / 2 for c in cols}
    rows.append(f"| **{label}** | mean ± half-diff. | " + " | ".join(f"{mean[c]:.3g} ± {half[c]:.2g}" for c in cols)
                + " | | |")
display(Markdown("\n".join(rows)))
if len(SEEDS) == 1:
    print(f"one seed ({SEEDS[0]}): no spread yet — every difference in these tables is one run's observation")
rows = ["| model | seed | " + " | ".join(f"{d}" for d in range(10)) + " |", "|---|---|" + "---|" * 10]
for (label, seed), s in scores.items():
    rows.append(f"| {label} | {'' if seed is None else seed} | " + " | ".join(f"{f:.1%}" for f in s["class_fractions"]) + " |")
display(Markdown("**Per-class coverage** (share of samples the classifier gives each digit)\n\n" + "\n".join(rows)))

fig, ax = plt.subplots(figsize=(11, 3.8))
width = 0.2
test_frac = np.bincount(y_te.numpy(), minlength=10) / len(y_te)
ax.bar(np.arange(10) - 1.5 * width, test_frac, width, label="test digits (true labels)", color="grey")
for i, label in enumerate(MODELS):
    fr = np.mean([scores[label, seed]["class_fractions"] for seed in SEEDS], axis=0)
    ax.bar(np.arange(10) + (i - 0.5) * width, fr, width,
           label=f"{label} (mean of {len(SEEDS)} seeds)" if len(SEEDS) > 1 else f"{label} (seed {SEEDS[0]})")
ax.axhline(0.1, color="k", ls=":", lw=0.8)
ax.set(title="Class distribution of generated digits (classifier's labels)", xlabel="digit", ylabel="fraction",
       xticks=range(10))
ax.legend(ncol=4)
plt.show()

# %% [markdown]
# ### The bars this notebook set itself
#
# From the issue that asked for these models: the WGAN-GP's samples should be confidently classified (mean
# top probability at least 0.9), cover every class with at least 5% of the samples, and reach FD at most 40;
# the GAN and the WGAN should at least halve the FD of the earlier MLP models (1,096.8 and 418.3 then, on the
# old preprocessing and classifier — so this comparison is indicative only).

# %%
for seed in SEEDS:
    s = scores["WGAN-GP", seed]
    print(f"WGAN-GP seed {seed}: confidence {s['confidence']:.3f} (bar 0.9: {'met' if s['confidence'] >= 0.9 else 'NOT met'}), "
          f"smallest class {s['min_class']:.1%} (bar 5%: {'met' if s['min_class'] >= 0.05 else 'NOT met'}), "
          f"FD {s['fd']:.1f} (bar 40: {'met' if s['fd'] <= 40 else 'NOT met'})")
for label, old_fd in (("GAN", 1096.8), ("WGAN", 418.3)):
    for seed in SEEDS:
        fd = scores[label, seed]["fd"]
        print(f"{label} seed {seed}: FD {fd:.1f} vs half the MLP's {old_fd / 2:.1f}: {'met' if fd <= old_fd / 2 else 'NOT met'}")

# %% [markdown]
# ### The binary-pixel cue: GAN with and without instance noise
#
# Same seeds, same epochs; the control adds $\mathcal N(0,0.1^2)$ to every image the discriminator sees. The
# two runs of a seed share the generator's initial weights and the evaluation's latent draws, so their
# difference is paired; over two seeds the cell prints the mean difference and half the gap between the seeds.

# %%
pairs = [(label, seed) for label in CONTROL for seed in SEEDS if (label, seed) in generators]
for label, seed in [("GAN", seed) for seed in SEEDS] + pairs:
    s, h = scores[label, seed], records[label, seed]["history"]
    print(f"{label:22s} seed {seed}: FD {s['fd']:.1f}, confidence {s['confidence']:.3f}, class entropy "
          f"{s['class_entropy']:.3f}, min class {s['min_class']:.1%} | last-fifth D(x) {fifths(h['d_real'])[-1]:.3f}, "
          f"D(G(z)) {fifths(h['d_fake'])[-1]:.3f}, discriminator loss {fifths(h['loss_d'])[-1]:.3f}")
for label in CONTROL:
    diffs = {k: [scores[label, seed][k] - scores["GAN", seed][k] for seed in SEEDS if (label, seed) in scores]
             for k in ("fd", "confidence", "class_entropy")}
    n = len(diffs["fd"])
    if n:
        print(f"{label} - GAN, paired per seed ({n} seed{'s' if n > 1 else ''}): "
              + ", ".join(f"{k} {np.mean(v):+.3g}" + (f" (half-diff. {abs(v[0] - v[-1]) / 2:.2g}; per seed "
                                                      f"{', '.join(f'{d:+.3g}' for d in v)})" if n > 1 else "")
                          for k, v in diffs.items()))
    if n < len(SEEDS):
        name = CONTROL[label]
        print(f"No comparison for the other seeds: train them with\n  OMP_NUM_THREADS=1 python "
              f"scripts/train_hoda_gans.py --models {name} --seed <seed> --epochs {EPOCHS} --resume")
for label, seed in pairs[:1]:
    show_samples(label, seed)

# %% [markdown]
# ### Inside the two critics
#
# The training script measured each trained critic at the end (`metrics.critic` in the records): the share of
# the clipped critic's weights that sit at the bound $\pm c$, and the norm of each critic's gradient with respect
# to its input on 1,000 validation digits and 1,000 generated ones. A clipped critic is $K$-Lipschitz for some
# $K$ fixed by $c$ and the architecture, not 1, so its gradient norms say what $K$ clipping gave; the WGAN-GP's
# penalty asks for norm 1 between the two distributions.

# %%
for label in ("WGAN", "WGAN-GP"):
    for seed in SEEDS:
        c = (records[label, seed].get("metrics") or {}).get("critic")
        if c is None:
            print(f"{label} seed {seed}: no critic diagnostics (trained here or not finished; see scripts/train_hoda_gans.py)")
            continue
        clip = f"{c['weights_at_clip']:.1%} of weights at +-c; " if "weights_at_clip" in c else ""
        print(f"{label} seed {seed}: {clip}input-gradient norm on real digits median {c['grad_norm_real_median']:.3g} "
              f"(10-90%: {c['grad_norm_real_q10_q90'][0]:.3g}-{c['grad_norm_real_q10_q90'][1]:.3g}), on generated "
              f"{c['grad_norm_generated_median']:.3g}; E f(real) - E f(generated) = {c['score_real_minus_generated']:.3g}")

# %% [markdown]
# ## Discussion
#
# **How to read the numbers.** Every model was trained from two seeds (0 and 1) for the same 40 epochs; the tables
# print each seed, and the mean with half the difference between the seeds. Two seeds show whether a result
# repeats, not a confidence interval; below, a difference is called clear only when it is many times the gap
# between the two seeds of either model, and it holds in both seeds.
#
# **Realism.** On the test split, with 5,000 binarised samples each, the Fréchet distance in the classifier's
# feature space is 124 and 126 for the GAN, 175 and 172 for the WGAN-GP and 786 and 753 for the WGAN (mean
# $\pm$ half-difference 125 $\pm$ 0.84, 173 $\pm$ 1.4 and 770 $\pm$ 17), against a floor of 3.66 for 5,000 real
# training digits: all three are far from real digits. The ordering GAN, WGAN-GP, WGAN holds in both seeds, and
# the gap between the GAN and the WGAN-GP (about 48) is some 35 times the larger of their seeds' half-differences.
# The classifier's mean confidence orders them the same way (0.874, 0.832, 0.788 as seed means; real digits
# 0.992), as does the IS analogue (6.68, 6.16, 2.26; real 9.74). The pictures agree: the GAN's samples are mostly
# single strokes with the shapes of Persian digits, the WGAN-GP's a mix of recognisable digits and filled blobs
# or broken fragments, and the WGAN's speckled clusters of pixels that are not digits. Binarising at 0.5 helps the
# GAN a little (FD raw 127 and 128 against 124 and 126) and the WGAN-GP more (202 and 200 against 175 and 172) but
# hurts the WGAN (raw 592 and 589 against 786 and 753): its raw outputs are grey where the data are not, and its
# binarised grid is full of isolated pixels. The GAN and the WGAN-GP draw about the right amount of ink (0.117 and
# 0.115 as seed means against 0.114 in the data), the WGAN too much (0.131).
#
# **Mode coverage.** The GAN's and the WGAN-GP's class entropies (2.23 and 2.27) are close to the uniform
# $\log 10=2.303$; the GAN's smallest class is the 8 in both seeds (3.0% and 3.1%) and its largest the 5 (18.6%
# and 18.3%); the WGAN-GP's smallest is the 0 (6.2% and 6.6%) and its largest the 5 (14.3% and 14.9%). The WGAN
# has collapsed onto few classes in both seeds: 49.4% and 60.3% of its samples are labelled 5, while 1 and 2 get
# 0.1-0.2% each (entropy 1.31 and 1.22). That the 5 is the largest class of every model and seed, and the same
# digits are rare for each model in both seeds, says these preferences come from the data and the recipe, not
# from the seed.
#
# **Stability.** The GAN's discriminator wins the game from the first epoch to the last, in both seeds: per fifth
# of training its mean output on real digits stays at 0.89-0.93 (seed 0) and 0.90-0.94 (seed 1), on generated ones
# at 0.07-0.11 and 0.06-0.10, and its loss at 0.23-0.30, far below the $\log 4=1.386$ of a discriminator that
# cannot tell. The generator keeps improving anyway (the non-saturating loss still gives gradients; its loss
# drifts up in the later fifths, 3.06 to 3.44 and 3.25 to 3.69, while its FD falls), so "stable" here means no
# collapse and no oscillation of the FD, not an equilibrium. How much of the discriminator's easy win is the
# binary-pixel cue is the control's question (below). The WGAN is the unstable one in the sense that matters, and
# both seeds show it: the validation FD fell to its best, 480.6 at epoch 17 (seed 0) and 479.8 at epoch 21
# (seed 1), then rose to 788.8 and 731.9 at epoch 40, while the critic's estimate of the distance fell the whole
# time (per fifth 0.273 to 0.0529, and 0.278 to 0.0565). The clipped critic's number therefore did not track
# sample quality, as can happen with an estimate on a moving scale $K$: at the end 51.5% and 51.3% of its weights
# sit at $\pm c$, and its input-gradient norm is about 0.044 and 0.041 on real digits, so clipping gave it a
# Lipschitz constant of a few hundredths, not 1. For the WGAN-GP the estimate (per fifth 9.68 to 1.65, and 9.88 to
# 1.76) and the validation FD fell together after the first few epochs, and the penalty
# $\mathbb E(\|\nabla f\|-1)^2$ shrank from 0.141 and 0.146 in the first fifth to 0.0168 and 0.0172 in the last; its
# critic's input-gradient norm is 1.35 and 1.33 on real digits and 1.21 and 1.16 on generated ones, near the 1 the
# penalty asks for on the interpolates (the penalty is soft, so not exactly 1).
#
# **Convergence.** None of the three has converged after 40 epochs. The GAN's validation FD went 606, 236, 162,
# 136, 122 at epochs 1, 10, 20, 30, 40 for seed 0 and 532, 269, 175, 150, 130 for seed 1; the WGAN-GP's 1,066,
# 455, 270, 225, 177 and 796, 317, 353, 216, 165, best at the last epoch in both seeds: both models were still
# improving, the WGAN-GP by about 50 over the last ten epochs. Per CPU second the GAN's generator takes 26.5 and
# 26.0 steps, the WGAN's 8.9 and 8.8 and the WGAN-GP's 5.1 and 5.0 (five critic steps per generator step, and the
# penalty's second derivative). Over equal epochs the WGAN-GP's generator took a fifth of the GAN's steps, one
# plausible reason why it is behind the GAN at epoch 40 and still improving; these runs do not test it.
#
# **The binary-pixel cue.** With instance noise ($\mathcal N(0,0.1^2)$ on every image the discriminator sees) the
# GAN's discriminator wins less: in the last fifth its mean output on real digits is 0.814 and 0.824 (without noise
# 0.902 and 0.915), on generated ones 0.186 and 0.175 (0.097 and 0.084), and its loss 0.517 and 0.488 (0.261 and
# 0.231). And the generator gains on every score: test FD 85.6 and 86.5 against 124.3 and 126.0, a paired
# difference of $-39.1$ (per seed $-38.7$ and $-39.5$), confidence 0.891 and 0.895 against 0.873 and 0.876, the
# smallest class 7.6% and 7.3% against 3.0% and 3.1%. The effect is about a hundred times the gap between the seeds,
# and the validation curves of the two controls lie below both GAN curves from about epoch 10 on. So part of the
# discriminator's advantage came from what noise of this size hides, and hiding it made the generator better; the
# GAN with instance noise is the best model of the notebook. What the control cannot separate is *which* property
# of the noise did it: besides making real and generated pixels equally non-binary, instance noise smooths what the
# discriminator sees everywhere, which is known to help GAN training in general (Sønderby et al., 2017; Arjovsky and
# Bottou, 2017). It costs a little more per epoch (26 and 24 CPU s against 21 and 22).
#
# **GAN vs WGAN vs WGAN-GP.** In both seeds, on this data and at 40 epochs, the GAN is the most realistic (lowest
# FD, highest confidence), the WGAN-GP second with the most even class coverage, and the weight-clipped WGAN last,
# with a collapsed class histogram and an FD that grew during the second half of training. The ordering of the GAN
# and the WGAN-GP may change with more epochs (the WGAN-GP's FD was still falling), which these runs do not test.
#
# **The bars.** WGAN-GP: confidence 0.828 and 0.836 miss the bar of 0.9; the smallest class, 6.2% and 6.6%, meets
# the bar of 5%; FD 174.5 and 171.8 miss the bar of 40 by more than four times. At the last ten epochs' rate (about
# 50 per ten epochs, and slowing) the same recipe would need well over a hundred more epochs to approach 40, if it
# gets there at all; what was tried is this one DCGAN recipe for all three models at equal epochs, and nothing was
# tuned towards the bar. GAN: FD 124.3 and 126.0 meet the bar of half the MLP GAN's (548.4). WGAN: FD 786.4 and
# 752.8 miss the bar of half the MLP WGAN's (209.2), and its curves show why: in both seeds its FD reached about
# 480 around epoch 20 and then rose while the clipped critic's estimate kept falling, so the critic gave no signal
# to stop at the best epoch. (The old MLP numbers came from the old preprocessing and classifier, so these two
# comparisons are indicative only.) Two seeds per model, with their spread, are in the tables.
