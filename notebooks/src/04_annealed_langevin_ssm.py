# %% [markdown]
# # 04 — Annealed Langevin dynamics and (annealed) sliced score matching
#
# Homework 4 of the Technion course (score-based generative modelling), on a 2-D toy: a mixture of two
# unit-variance Gaussians at $\mu_1=(-5,-5)$ with weight $\pi=0.2$ and $\mu_2=(5,5)$ with weight $0.8$.
#
# The central object is the *score* $\nabla_{\mathbf{x}}\log p(\mathbf{x})$, the gradient of the log-density: a
# vector field that points uphill in probability. It does not involve the normalising constant of $p$, so a network
# can learn it, and a sampler can use it, without ever computing one.
#
# * **Part I** (Tasks 1-6): sample the mixture, write its log-density and score, sample it from the score alone
#   with Langevin dynamics, see the mode weights go wrong, and fix that with *annealed* Langevin dynamics;
#   compare the samplers through kernel density estimates.
# * **Part II** (Tasks 7-12): learn the score from samples with *sliced score matching*, sample with the learned
#   score, then learn one *noise-conditional* score network for ten noise levels with an annealed sliced
#   objective and run annealed Langevin with it.
#
# The headline number throughout is the fraction of samples in the weight-0.2 mode (the samples nearer to $\mu_1$
# than to $\mu_2$), which should be 0.2.

# %% setup

# %%
import inspect
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.neighbors import KernelDensity

from helpers import plotting as P
from helpers import samplers
from helpers import score_matching as sm
from helpers.distributions import GaussianMixture
from helpers import utils
from helpers.utils import scaled, seed_everything, timer

FIG_DIR = Path("figures")  # GIFs go to notebooks/figures/
LIM = (-8, 8)
N_CHAINS = scaled(1280, 256)  # n of Tasks 4, 5, 9 and 12
T_PLAIN = scaled(1000, 100)  # Langevin steps in Tasks 4 and 9
T_LEVEL = scaled(100, 20)  # steps per noise level in Tasks 5 and 12
SSM_STEPS = scaled(10_000, 200)  # training steps in Tasks 8 and 11
N_MC = scaled(100_000, 5_000)  # Monte Carlo samples behind each "objective at the true score"
N_SEEDS = scaled(10, 2)  # extra seeds for the spread of the mode fraction
SIGMAS_EXACT = np.exp(np.linspace(np.log(20.0), np.log(1.0), 10))  # Task 5: effective stds
SIGMAS_TRAIN = np.exp(np.linspace(np.log(10.0), np.log(0.1), 10))  # Task 11: added-noise stds
print("effective sigmas (Task 5):", np.round(SIGMAS_EXACT, 2))
print("training sigmas (Task 11):", np.round(SIGMAS_TRAIN, 3))


def uniform_init(n, seed):
    """n starting points drawn from U[-8, 8]^2 with their own generator."""
    g = utils.generator(seed)
    return utils.rand(n, 2, generator=g) * 16 - 8, g


def frac_small_mode(x):
    """Fraction of points nearest to mu_1 = (-5, -5), the weight-0.2 mode."""
    return sm.nearest_mode_fractions(x, mix.means)[0].item()


# %% [markdown]
# ## Part I — Annealed Langevin dynamics
#
# In Part I the mixture is known exactly. We sample it, write its log-density and score, and then pretend that
# only the score is available and sample with Langevin dynamics. That sampler gets the mode weights wrong, and
# *annealing*, Langevin over a sequence of noisier versions of $p$, puts them right.

# %% [markdown]
# ### Task 1 — Sampling the mixture
#
# How do we draw from $p$? Ancestral sampling: draw the component label $m\in\{1,2\}$ with $P(m=1)=\pi=0.2$, then
# $\mathbf{x}=\mu_m+\sigma\mathbf{z}$ with $\mathbf{z}\sim\mathcal N(0,I)$. `GaussianMixture.sample` does exactly
# that (a multinomial draw of labels, then the Gaussian noise), and `with_sigma(s)` gives the same mixture with
# component std `s`, which is how the homework's `sigma` argument is served.

# %%
mix = GaussianMixture([[-5.0, -5.0], [5.0, 5.0]], 1.0, [0.2, 0.8])
x_iid = mix.sample(1000, utils.generator(0))
ax = P.scatter(x_iid, title="Task 1: J = 1000 i.i.d. samples", lim=LIM)
plt.show()
print(f"fraction of the 1000 i.i.d. samples in the weight-0.2 mode: {frac_small_mode(x_iid):.3f}")

# %% [markdown]
# Of the 1,000 draws, 0.199 fall nearest to $\mu_1$, as they should. This fraction, 0.2 for exact samples, is the
# yardstick for every sampler below.

# %% [markdown]
# ### Task 2 — The log-density
#
# The task: write $\log p$ in closed form, implement it, and plot $p$ on a 100x100 grid over $[-8,8]^2$. With $d=2$,
# $$\log p(\mathbf{x}) = \log\Big(\pi\,\mathcal N(\mathbf{x};\mu_1,\sigma^2 I) + (1-\pi)\,\mathcal N(\mathbf{x};\mu_2,\sigma^2 I)\Big)
# = \operatorname{logsumexp}_{m}\Big(\log w_m - \frac{\lVert\mathbf{x}-\mu_m\rVert^2}{2\sigma^2}\Big) - \log(2\pi\sigma^2),$$
# with $w_1=\pi$, $w_2=1-\pi$. Written with log-sum-exp it never takes the log of an underflowed sum, so it is
# finite everywhere; a direct `log(p1 + p2)` is `-inf` in float32 far from both means, where both Gaussians
# underflow to zero (printed under Task 3 for two far points: $-\infty$ against $-426.8$ and $-1{,}000{,}026.8$).

# %%
fig, axes = P.subplots(2, size=4.2)
P.density_fn(lambda p: mix.log_prob(p).exp(), LIM, ax=axes[0], title="Task 2: $p(\\mathbf{x})$ on 100x100")
P.density_fn(mix.log_prob, LIM, ax=axes[1], title="$\\log p(\\mathbf{x})$", vmin=-60)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Task 3 — The score
#
# The task: write the score in closed form, implement it, and draw it on a 20x20 grid with a quiver plot.
# Differentiating the log-sum-exp,
# $$\nabla_{\mathbf{x}}\log p(\mathbf{x}) = \sum_m r_m(\mathbf{x})\,\frac{\mu_m-\mathbf{x}}{\sigma^2},\qquad
# r_m(\mathbf{x}) = \operatorname{softmax}_m\Big(\log w_m - \frac{\lVert\mathbf{x}-\mu_m\rVert^2}{2\sigma^2}\Big)
# = p(m\mid\mathbf{x}),$$
# a pull toward the means weighted by the *responsibilities* $r_m$, the probability that component $m$ produced
# $\mathbf{x}$. The responsibilities are a softmax of log-terms, so the score is exact and finite far from both modes
# too; the naive ratio $\nabla p/p$ is $0/0$ there (shown below).

# %%
far = torch.tensor([[-20.0, 20.0], [1000.0, -1000.0]])
naive = torch.func.jacrev(lambda v: torch.exp(mix.log_prob(v)).sum())(far) / torch.exp(mix.log_prob(far))[:, None]
print("far points:", far.tolist())
print("score (log-sum-exp form):", mix.score(far).tolist())
print("naive grad p / p in float32:", naive.tolist())
print("log p, log-sum-exp form:", mix.log_prob(far).tolist(), "| naive log(p1 + p2) in float32:",
      torch.exp(mix.log_prob(far)).log().tolist())

fig, axes = P.subplots(2, size=4.2)
P.quiver(mix.score, LIM, n=20, ax=axes[0], title="Task 3: score on a 20x20 grid (true lengths)")
P.quiver(mix.score, LIM, n=20, ax=axes[1], normalize=True, cmap="magma",
         title="same, unit arrows coloured by $\\log_{10}|s|$")
plt.tight_layout()
plt.show()

# %% [markdown]
# Both far points lie on the line $x_1+x_2=0$, equally far from the two means, so their responsibilities are just
# the weights and the score is $0.2(\mu_1-\mathbf{x})+0.8(\mu_2-\mathbf{x})=(3,3)-\mathbf{x}$: $(23,-17)$ at $(-20,20)$,
# as printed, and $(-997,1003)$ at $(1000,-1000)$ up to float32 rounding, where the naive ratio gives `nan`. In the
# plots the arrows grow linearly with the distance to the nearer mean (left), and every arrow points at that mean
# (right): the field turns around in a narrow band between the modes. That band is where the samplers below decide
# which mode a chain joins.

# %% [markdown]
# ### Task 4 — Langevin dynamics with the exact score
#
# Suppose we know only the score $\nabla\log p$, not $p$ itself. Langevin dynamics needs nothing more: it follows the
# score uphill and adds noise, and for small steps and long runs its samples follow $p$. The task asks for the
# relative weight of the two modes in its samples, and why it comes out as it does.
#
# $\mathbf{x}^{k+1}=\mathbf{x}^k+\epsilon\nabla\log p(\mathbf{x}^k)+\sqrt{2\epsilon}\,\mathbf{z}^k$ is
# `samplers.langevin(x0, score, step_size=eps, n_steps=T)` (noise $\sqrt{2\epsilon}$ by default).
# n = 1280 chains from $\mathcal U[-8,8]^2$, $\epsilon=0.05$, T = 1000.

# %%
x0, gen = uniform_init(N_CHAINS, seed=1)
with timer("Task 4 Langevin"):
    x_plain = samplers.langevin(x0, mix.score, step_size=0.05, n_steps=T_PLAIN, generator=gen)
start_side = (x0.sum(1) < 0).float()  # started on mu_1's side of the line x1 + x2 = 0
end_side = (torch.cdist(x_plain, mix.means).argmin(1) == 0).float()  # ended nearest to mu_1
print(f"fraction in the weight-0.2 mode after Langevin:   {frac_small_mode(x_plain):.3f}  (target 0.200)")
print(f"fraction of starting points with x1 + x2 < 0:     {start_side.mean().item():.3f}")
print(f"chains that ended in the other half than they began: {(start_side != end_side).float().mean().item():.4f}")

fig, axes = P.subplots(2, size=4.2)
P.scatter(x_iid, ax=axes[0], title="i.i.d. samples (Task 1)", lim=LIM)
P.scatter(x_plain, ax=axes[1], title=f"Task 4: Langevin, T={T_PLAIN}, eps=0.05", lim=LIM, color="C1")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Answer.** Langevin dynamics puts **0.498** of the samples in the weight-0.2 mode instead of 0.2 (one run of 1,280
# chains): the two modes come out equally heavy, although each looks like a well-formed Gaussian. That is the strange
# part. The split is inherited from the starting points: 0.506 of the uniform starts lie on $\mu_1$'s side of the line
# $x_1+x_2=0$, and only 0.0117 of the chains ended in the other half than the one they began in.
#
# The reason is that the score is *local*. Near either mode it is $\approx(\mu_m-\mathbf{x})/\sigma^2$, blind to the
# other mode's weight: $\pi$ enters only through the responsibilities, which switch from 0 to 1 in a thin band between
# the modes. To get the weights right, chains would have to cross between the modes, through a deep valley: at the
# midpoint $p$ is about $e^{-\lVert\mu_2\rVert^2/2\sigma^2}=e^{-50/2}=e^{-25}$ times its value at $\mu_2$. By Kramers'
# law the mean time to escape a well grows like $e^{\Delta\log p}$, with $\Delta\log p\approx25+\log0.2\approx23.4$
# even from the small mode: about $10^{10}$ units of Langevin time $k\epsilon$, against the $T\epsilon=50$ simulated.
# Each chain equilibrates inside the basin it started in. More steps do not help; a different start or a way over
# the barrier does.

# %% [markdown]
# ### Task 5 — Annealed Langevin dynamics with the exact scores
#
# Task 4 failed because no chain crosses the barrier between the modes. Annealed Langevin dynamics runs Langevin on a
# sequence of noisier versions of $p$, from a very noisy one (a single broad bump, easy to cross) down to the data
# itself, each level started where the previous one ended. The task: sample with it, show the samples after every
# level, and explain what the levels do.
#
# Adding $\mathcal N(0,\sigma_i^2 I)$ noise to the mixture gives the same mixture with component std
# $\tilde\sigma_i=\sqrt{\sigma^2+\sigma_i^2}$, so the exact noisy scores are `mix.with_sigma(s).score`. Levels:
# the ten effective stds $\tilde\sigma_i$ from 20 down to 1 given in the text, $\epsilon=0.05$, T = 100 per level.

# %% [markdown]
# **The step rule.** The algorithm's listing prints $\epsilon_i=\epsilon\,\tilde\sigma_i^2/\tilde\sigma^2$, which has
# lost an index (and its update line uses $\epsilon$ where $\epsilon_i$ is meant; the code uses $\epsilon_i$); the
# paragraph before it gives Song and Ermon's rule $\epsilon_i=\epsilon\,\sigma_i^2/\sigma_L^2$. As the
# task works with the effective stds, we use $\epsilon_i=\epsilon\,\tilde\sigma_i^2/\tilde\sigma_L^2$, which is what
# `samplers.annealed_langevin` implements. The last level ($\tilde\sigma_L=1$, the data itself) runs with
# $\epsilon$, earlier levels with steps up to $20^2=400$ times larger ($\epsilon_1=20$). The rule keeps
# $\epsilon_i/\tilde\sigma_i^2=0.05$ fixed: each step moves a chain the same 5 % of the way to its mode and adds noise
# of the same size relative to the level's width. A chain therefore forgets its position within a mode after about
# $1/0.05=20$ steps (the *relaxation time*) at every level, so 100 steps are five relaxation times, and even
# $\epsilon_1=20$ is stable.
#
# To read the per-level fractions, compare them with the share of each noisy density $q_{\tilde\sigma}$ that lies
# nearer to $\mu_1$: both means are $10/\sqrt2=7.07$ from the dividing line, so that share is
# $0.2\,\Phi(7.07/\tilde\sigma)+0.8\,(1-\Phi(7.07/\tilde\sigma))$, with $\Phi$ the standard normal CDF, which falls
# from 0.417 at $\tilde\sigma=20$ to 0.200 at $\tilde\sigma=1$ (the row "q's share" below).

# %%
def exact_noisy_score(x, s):
    """Score of the data convolved with noise: the same mixture with component std s."""
    return mix.with_sigma(s).score(x)


x0, gen = uniform_init(N_CHAINS, seed=1)
with timer("Task 5 annealed Langevin"):
    x_ann, levels_ann = samplers.annealed_langevin(x0, exact_noisy_score, SIGMAS_EXACT, step_size=0.05,
                                                   n_steps_each=T_LEVEL, generator=gen)
print("fraction in the weight-0.2 mode after each level:")
print("  sigma~:  ", "  ".join(f"{s:5.2f}" for s in SIGMAS_EXACT))
print("  fraction:", "  ".join(f"{frac_small_mode(l):5.3f}" for l in levels_ann[1:]))
side = torch.special.ndtr(10 / np.sqrt(2) / torch.tensor(SIGMAS_EXACT)).numpy()  # Phi(7.07 / sigma~)
print("  q's share:", " ".join(f"{0.2 * f + 0.8 * (1 - f):5.3f}" for f in side), " (mass of q nearer to mu_1)")
print(f"final fraction (annealed, exact scores): {frac_small_mode(x_ann):.3f}  (target 0.200)")

seed_fracs = []
for seed in range(2, 2 + N_SEEDS):
    x0s, gs = uniform_init(N_CHAINS, seed=seed)
    xs, _ = samplers.annealed_langevin(x0s, exact_noisy_score, SIGMAS_EXACT, 0.05, T_LEVEL, generator=gs)
    seed_fracs.append(frac_small_mode(xs))
print(f"over {N_SEEDS} more seeds: mean {np.mean(seed_fracs):.3f}, std {np.std(seed_fracs):.3f}, "
      f"range [{min(seed_fracs):.3f}, {max(seed_fracs):.3f}]; binomial std for n=1280: "
      f"{np.sqrt(0.2 * 0.8 / N_CHAINS):.3f}")
seed_fracs_long = []  # the same seeds and levels, four times as many steps per level
for seed in range(2, 2 + N_SEEDS):
    x0s, gs = uniform_init(N_CHAINS, seed=seed)
    xs, _ = samplers.annealed_langevin(x0s, exact_noisy_score, SIGMAS_EXACT, 0.05, 4 * T_LEVEL, generator=gs)
    seed_fracs_long.append(frac_small_mode(xs))
diff = np.array(seed_fracs_long) - np.array(seed_fracs)  # paired by seed
print(f"the same seeds with {4 * T_LEVEL} steps per level: mean {np.mean(seed_fracs_long):.3f}, std "
      f"{np.std(seed_fracs_long):.3f}; change against {T_LEVEL} steps, paired: {diff.mean():+.3f} +- "
      f"{diff.std(ddof=1) / np.sqrt(len(diff)):.3f} (s.e.)")


# %%
def level_grid(levels, sigmas, title, contour_sigma=None):
    """Samples after each annealing level over contours of the noisy density of that level."""
    fig, axes = P.subplots(len(sigmas), ncols=5, size=2.8, sharex=True, sharey=True)
    for ax, l, s in zip(axes, levels[1:], sigmas):
        pts, X, Y = P.grid_2d(LIM, n=80)
        q = mix.with_sigma(contour_sigma(s) if contour_sigma else s).log_prob(pts).exp().reshape(80, 80)
        ax.contour(X, Y, q.numpy(), levels=6, cmap="Greys", linewidths=0.7)
        P.scatter(l, ax=ax, s=1.5, lim=LIM, title=f"level sigma={s:.2f}: {frac_small_mode(l):.2f}")
        ax.set(xlabel="", ylabel="")
    fig.suptitle(title)
    plt.tight_layout()
    plt.show()


def level_gif(levels, sigmas, path, title):
    """A small GIF, one frame per level (the start first)."""
    frames = []
    for i, l in enumerate(levels):
        fig, ax = plt.subplots(figsize=(3.0, 3.0), dpi=70)
        label = "start U[-8,8]^2" if i == 0 else f"level {i}, sigma={sigmas[i - 1]:.2f}"
        P.scatter(l, ax=ax, s=1, lim=LIM, title=f"{title}\n{label}: frac {frac_small_mode(l):.2f}")
        ax.set(xlabel="", ylabel="")
        ax.title.set_fontsize(8)
        fig.tight_layout()
        frames.append(fig)
    return P.animate(frames, path, fps=1.5)


level_grid(levels_ann, SIGMAS_EXACT, "Task 5: annealed Langevin, exact scores (title: level, fraction in mode 1)")
level_gif(levels_ann, SIGMAS_EXACT, FIG_DIR / "04_annealed_exact.gif", "exact scores")

# %% [markdown]
# The animation of the levels is written to [figures/04_annealed_exact.gif](figures/04_annealed_exact.gif); the cell
# above shows it inline where the viewer plays GIFs (some show only an `Image object` line; then open the file).

# %% [markdown]
# **Answer.** Annealing recovers the weights: over 10 further seeds **0.220 $\pm$ 0.013** of the samples land in the
# weight-0.2 mode ($\pm$ std; one run's binomial noise is 0.011), against 0.498 without annealing. The run shown,
# 0.184, is the lowest of the eleven.
#
# The levels show how. At $\tilde\sigma_1=20$ the two components, $10\sqrt2=14.1$ apart, merge into one broad bump
# (equal Gaussians merge when their separation is below $2\tilde\sigma$), so every chain forgets where it started:
# after level 1 the fraction is 0.401, close to the bump's share nearer to $\mu_1$ (0.417). Then the bump splits.
# While the barrier is still low, chains cross it freely and divide in proportion to the components' mass, which is
# exactly what Task 4 lacked. Crossing slows from $\tilde\sigma\approx3.8$ and has stopped by 1.95 (fractions 0.200,
# 0.188, 0.184). The chains freeze while $q_{\tilde\sigma}$ still gives the small mode more than 0.2 (0.219 at
# $\tilde\sigma=3.79$, 0.203 at 2.71): chains of the big component that sit in its tail past the midline stay with
# $\mu_1$. Hence the seed mean of 0.22, a small bias of the method. More steps per level shrink it, because the
# chains keep crossing for longer while the barrier rises: with 400 instead of 100 on the same seeds the mean is
# 0.204, a paired change of $-0.016\pm0.003$ (standard error).

# %% [markdown]
# ### Task 6 — Kernel density estimates against the true density
#
# The mode fractions are one number; a density estimate shows the whole picture. The task: estimate the density of
# the samples of Tasks 4 and 5 and compare it with $p$ of Task 2, in 2-D and along the line $x_1=x_2$.
#
# A kernel density estimate (KDE) places a small Gaussian, here of std 0.5 (`sklearn.neighbors.KernelDensity(bandwidth=0.5)`),
# on every sample and averages them; we evaluate it on the 100x100 grid and along the diagonal. A KDE of 1280
# *i.i.d.* samples is drawn too: the kernel widens each unit-variance mode to variance $1+0.5^2=1.25$, so even perfect
# samples give peaks lower than $p$'s by the factor $1/1.25=0.8$; the i.i.d. KDE is the fair reference. The number
# printed is the $L^1$ distance $\int|\hat p-p|\,d\mathbf{x}$ on the grid (0 = identical, 2 = disjoint).

# %%
GRID, GX, GY = P.grid_2d(LIM, n=100)
CELL = (16 / 99) ** 2
DIAG_T = np.linspace(-8, 8, 200)
DIAG = torch.tensor(np.stack([DIAG_T, DIAG_T], 1), dtype=torch.float32)
p_grid = mix.log_prob(GRID).exp().numpy()
x_ref = mix.sample(N_CHAINS, utils.generator(5))


def kde(samples, pts):
    """KDE (Gaussian kernel, bandwidth 0.5) of samples, evaluated at pts."""
    est = KernelDensity(bandwidth=0.5).fit(samples.numpy())
    return np.exp(est.score_samples(pts.numpy()))


def l1_to_p(samples):
    return float(np.abs(kde(samples, GRID) - p_grid).sum() * CELL)


def kde_panels(named, title):
    """2-D KDE images beside p, and the densities along x1 = x2."""
    fig, axes = P.subplots(len(named) + 2, size=3.4)
    vmax = p_grid.max()
    P.density(p_grid, LIM, ax=axes[0], title="$p(\\mathbf{x})$ (Task 2)", vmin=0, vmax=vmax, colorbar=False)
    for ax, (name, s) in zip(axes[1:], named.items()):
        P.density(kde(s, GRID), LIM, ax=ax, title=f"KDE: {name}", vmin=0, vmax=vmax, colorbar=False)
    ax = axes[-1]
    ax.plot(DIAG_T, mix.log_prob(DIAG).exp().numpy(), "k", lw=2.5, label="p")
    for name, s in named.items():
        ax.plot(DIAG_T, kde(s, DIAG), label=name)
    ax.set(title="along $x_1 = x_2$", xlabel="$x_1 = x_2$", ylabel="density")
    ax.legend(fontsize=7)
    fig.suptitle(title)
    plt.tight_layout()
    plt.show()
    print(f"{'':28s} {'L1 to p':>8} {'at mu_1':>8} {'at mu_2':>8}")
    print(f"{'p itself':28s} {0:8.3f} " + " ".join(f"{v:8.4f}" for v in mix.log_prob(mix.means).exp().tolist()))
    for name, s in named.items():
        at = kde(s, mix.means)
        print(f"{'KDE ' + name:28s} {l1_to_p(s):8.3f} {at[0]:8.4f} {at[1]:8.4f}")


kde_panels({"i.i.d.": x_ref, "Langevin (T4)": x_plain, "annealed (T5)": x_ann},
           f"Task 6: KDE (bandwidth 0.5) of {N_CHAINS} samples vs the true density")

# %% [markdown]
# **Answer.** The KDEs tell the same story as the mode fractions, once the kernel's smoothing is allowed for. Even the
# i.i.d. samples are at $L^1$ distance 0.170 from $p$: that is the floor. **Plain Langevin** (Task 4) gives two peaks
# of equal height, 0.0629 at $\mu_1$ and 0.0639 at $\mu_2$, where the i.i.d. KDE gives 0.0241 and 0.1054: the small
# mode $0.0629/0.0241=2.6$ times too high, the big one at $0.0639/0.1054=0.61$ of its height, and $L^1=0.613$.
# **Annealed Langevin** (Task 5) matches the i.i.d. KDE at both peaks (0.0220 and 0.1049), with $L^1=0.210$, close to
# the floor (one run each). Along $x_1=x_2$ the annealed curve lies on the i.i.d. curve, while the Langevin curve
# shows the two equal peaks; between the modes every estimate is near zero, as is $p$.

# %% [markdown]
# ## Part II — Score matching
#
# In practice the score is not given: we have samples. Part II learns the score from samples with *sliced score
# matching*, samples with the learned score, and then learns one *noise-conditional* network for all ten noise
# levels, so that annealing works with learned scores too.

# %% [markdown]
# ### Task 7 — The sliced score matching objective
#
# We want a network $s_\theta(\mathbf{x})$ close to $\nabla\log p$ in the *Fisher divergence*
# $\tfrac12\mathbb E_p\lVert s_\theta-\nabla\log p\rVert^2$, which cannot be computed: it contains the unknown score.
# The task: implement the *sliced* objective, which avoids both the unknown score and the costly trace of a Jacobian.
#
# Expanding the square and integrating the cross term by parts (the boundary term vanishes when $p$ decays) gives,
# up to a constant independent of $\theta$, Hyvärinen's score matching objective (also called *implicit* score matching):
# $$\tfrac12\mathbb E_p\lVert s_\theta-\nabla\log p\rVert^2 = \mathbb E_p\big[\operatorname{tr}(\nabla_{\mathbf{x}} s_\theta(\mathbf{x}))+\tfrac12\lVert s_\theta(\mathbf{x})\rVert^2\big] + C .$$
# The trace needs $d$ backward passes, one per diagonal entry. For any random $\mathbf{v}$ with
# $\mathbb E[\mathbf{v}\mathbf{v}^\top]=I$ (here $\mathcal N(0,I)$),
# $\mathbb E_{\mathbf{v}}[\mathbf{v}^\top A\mathbf{v}] = \operatorname{tr}(A\,\mathbb E[\mathbf{v}\mathbf{v}^\top])=\operatorname{tr}A$,
# so the sliced objective $\mathbb E_p\mathbb E_{\mathbf{v}}[\mathbf{v}^\top\nabla s_\theta\,\mathbf{v}+\tfrac12\lVert s_\theta\rVert^2]$
# has the same expectation and costs one vector-Jacobian product: $\nabla_{\mathbf{x}}(\mathbf{v}\cdot s_\theta(\mathbf{x})) = (\nabla s_\theta)^\top\mathbf{v}$,
# whose dot product with $\mathbf{v}$ is $\mathbf{v}^\top\nabla s_\theta\,\mathbf{v}$. (The homework calls this forward-mode
# differentiation; `autograd.grad` computes it in one reverse-mode pass, with the same result.) `create_graph=True`
# keeps the product differentiable in $\theta$, so the loss can be back-propagated. The implementation (`nv` slices
# per sample are rows of a repeated batch):

# %%
print(inspect.getsource(sm.sliced_score_matching_terms))
print(inspect.getsource(sm.sliced_score_matching))

# %% [markdown]
# A check on a fixed, untrained network: the sliced loss averaged over many draws of $\mathbf{v}$ against the loss
# with the exact trace of the 2x2 Jacobian (`sm.exact_score_matching`).

# %%
seed_everything(0)
probe_net = sm.score_mlp()
probe_x = mix.sample(512, utils.generator(1))
g = utils.generator(2)
n_draws = scaled(25, 4)
sliced = torch.stack([sm.sliced_score_matching(probe_net, probe_x, nv=16, generator=g) for _ in range(n_draws)])
exact = sm.exact_score_matching(probe_net, probe_x)
print(f"exact-trace loss {exact.item():.4f} | sliced loss, mean of {n_draws} x 16 slices {sliced.mean().item():.4f}"
      f" +- {sliced.std().item() / n_draws ** 0.5:.4f} (standard error)")

# %% [markdown]
# The two agree to $0.8063-0.8058=0.0005$ (0.06 %), within a few standard errors of the slice average: the sliced
# loss is an unbiased estimate of the exact score matching loss, at the price of the extra variance that $\mathbf{v}$
# brings.

# %% [markdown]
# ### Task 8 — Training a score network with sliced score matching
#
# The given network (2 → 128 → 128 → 2 with Softplus, `sm.score_mlp()`), the given training function
# (`sm.train_sliced`: a fresh batch of 128 samples from the mixture every step, one slice, Adam with lr 1e-3,
# 10,000 steps, loss on the progress bar). The task: compare the learned field with the true score of Task 3. Is it
# uniformly accurate, and if not, where is it best, and why?
#
# The printed minimum of the loss follows from Task 7's integration by parts: with $s^*=\nabla\log p$,
# $J(s)=\mathbb E[\tfrac12\lVert s\rVert^2+\operatorname{tr}\nabla s]=\mathbb E[\tfrac12\lVert s\rVert^2-s\cdot s^*]
# =\tfrac12\mathbb E\lVert s-s^*\rVert^2-\tfrac12\mathbb E\lVert s^*\rVert^2$, minimised at $s=s^*$ with value
# $-\tfrac12\mathbb E\lVert s^*\rVert^2$.

# %%
seed_everything(0)
score_net = sm.score_mlp().to(device)
with timer("Task 8 training"):
    losses_ssm = sm.train_sliced(score_net, lambda n: mix.sample(n), batch_size=128, n_steps=SSM_STEPS, lr=1e-3)
score_net = score_net.cpu().eval()
learned = sm.as_score_fn(score_net)
x_big = mix.sample(2 * N_MC, utils.generator(3))
print(f"mean loss over steps 300-500: {np.mean(losses_ssm[300:500]):.3f}, over the last 500 steps: "
      f"{np.mean(losses_ssm[-500:]):.3f}; the objective at the true score "
      f"(its minimum, -E|s|^2 / 2 by the same integration by parts): {-0.5 * (mix.score(x_big) ** 2).sum(1).mean():.3f}")

fig, axes = P.subplots(2, size=4.2)
P.curves({"sliced SM loss": losses_ssm[:1000]}, ax=axes[0], title="Task 8: loss, first 1000 steps", xlabel="step")
P.curves({"sliced SM loss": losses_ssm}, ax=axes[1], title="whole run (running mean of 100)", xlabel="step",
         smooth=100)
plt.tight_layout()
plt.show()

# %%
true_grid = mix.score(GRID)
abs_err = (learned(GRID) - true_grid).norm(dim=1)
rel_err_grid = abs_err / true_grid.norm(dim=1).clamp_min(1.0)  # relative where |s| > 1, absolute near the modes
near1 = (GRID - mix.means[0]).norm(dim=1) < 2
near2 = (GRID - mix.means[1]).norm(dim=1) < 2
between = ~(near1 | near2) & (GRID.sum(1).abs() < 4)
corners = (GRID.sum(1).abs() >= 4) & ~(near1 | near2) & ((GRID[:, 0] - GRID[:, 1]).abs() > 8)
w = torch.as_tensor(p_grid)
print("median |s_theta - s| / max(|s|, 1) over grid points:")
for name, m in [("within 2 of mu_1 (weight 0.2)", near1), ("within 2 of mu_2 (weight 0.8)", near2),
                ("band |x1 + x2| < 4 between the modes", between),
                ("off-diagonal corners |x1 - x2| > 8", corners), ("whole square", torch.ones_like(near1))]:
    print(f"  {name:40s} {rel_err_grid[m].median():.3f}   (median |s| there {true_grid.norm(dim=1)[m].median():5.2f})")
print(f"  p-weighted mean over the square: {(rel_err_grid * w).sum() / w.sum():.3f}")

fig, axes = P.subplots(3, size=4.2)
P.quiver(learned, LIM, n=20, ax=axes[0], normalize=True, cmap="magma", title="learned score (unit arrows)")
P.quiver(mix.score, LIM, n=20, ax=axes[1], normalize=True, cmap="magma", title="true score (Task 3)")
P.density(np.log10(rel_err_grid.numpy()), LIM, ax=axes[2], cmap="coolwarm", vmin=-2, vmax=1,
          title="$\\log_{10}$ |error| / max(|s|, 1)")
axes[2].contour(GX, GY, p_grid.reshape(100, 100), levels=4, colors="k", linewidths=0.6)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Answer.** The loss falls fast: it already averages -0.969 over steps 300-500 and -0.982 over the last 500 of the
# 10,000 steps, close to its minimum **-1.001**, the objective at the true score. After the first few hundred steps
# it only fluctuates: training has converged.
#
# The estimate is **not** uniformly accurate (one trained network; medians over grid points of the error divided by
# $\max(|s|,1)$). It is best near the big mode: 0.107 within distance 2 of $\mu_2$, against 0.158 near $\mu_1$, which
# gets four times fewer training samples (near the modes $|s|$ is small, median 1.40, so there the measure is close
# to an absolute error). It is worst in the band between the modes (0.487), where the true score switches abruptly
# from pointing at $\mu_1$ to pointing at $\mu_2$ and where $p$ falls to about $e^{-25}$ of its value at $\mu_2$
# (Task 4): almost no training sample lands there. The loss is an expectation under $p$, so the network is
# constrained only where $p$ has mass and interpolates smoothly elsewhere, and the smooth interpolation misplaces the
# dividing line (Task 9 measures by how much). The off-diagonal corners, as far from the data, do better (0.146):
# there the true score is close to the linear pull $\mu_m-\mathbf{x}$ of the nearer mode, which a Softplus network
# extrapolates well from what it learned near that mode.

# %% [markdown]
# ### Task 9 — Langevin dynamics with the learned score
#
# Task 4 again (same starting points, same noise), the exact score replaced by the network. The task: compare the
# samples with those of the exact score, and their KDE with $p$ of Task 2.

# %%
x0, gen = uniform_init(N_CHAINS, seed=1)
with timer("Task 9 Langevin (learned score)"):
    x_plain_learned = samplers.langevin(x0, learned, step_size=0.05, n_steps=T_PLAIN, generator=gen)
print(f"fraction in the weight-0.2 mode: learned score {frac_small_mode(x_plain_learned):.3f} | "
      f"exact score (Task 4) {frac_small_mode(x_plain):.3f} | target 0.200")
end_side_learned = (torch.cdist(x_plain_learned, mix.means).argmin(1) == 0).float()  # the same starts as Task 4
print(f"chains that began with x1 + x2 < 0 and ended nearest to mu_2: learned score "
      f"{((start_side == 1) & (end_side_learned == 0)).float().mean().item():.4f}, exact score "
      f"{((start_side == 1) & (end_side == 0)).float().mean().item():.4f}; the other way: learned "
      f"{((start_side == 0) & (end_side_learned == 1)).float().mean().item():.4f}, exact "
      f"{((start_side == 0) & (end_side == 1)).float().mean().item():.4f}")
t_diag = torch.linspace(-4, 4, 801)
diag = torch.stack([t_diag, t_diag], 1)  # the points t (1, 1) between the modes
for name, fn in (("learned", learned), ("exact", mix.score)):
    along = fn(diag).sum(1)  # the score's component along (1, 1), times sqrt(2)
    zeros = t_diag[:-1][torch.diff(torch.sign(along)) != 0]
    print(f"{name} score: its component along the diagonal changes sign at t = "
          + ", ".join(f"{z:+.2f}" for z in zeros.tolist()) + " (points t (1, 1))")
fig, axes = P.subplots(2, size=4.2)
P.scatter(x_plain, ax=axes[0], title="Langevin, exact score (Task 4)", lim=LIM, color="C1")
P.scatter(x_plain_learned, ax=axes[1], title="Langevin, learned score (Task 9)", lim=LIM, color="C2")
plt.tight_layout()
plt.show()
kde_panels({"i.i.d.": x_ref, "exact score (T4)": x_plain, "learned score (T9)": x_plain_learned},
           "Task 9: KDE of Langevin samples, exact vs learned score")

# %% [markdown]
# **Answer.** With the learned score, Langevin puts **0.451** of the samples in the weight-0.2 mode, against 0.498
# with the exact score (one run each): the same failure as Task 4, for the same reason. The learned field has the same
# two basins of attraction, and chains rarely cross between them. The KDE shows it too: peaks of 0.0469 at $\mu_1$ and
# 0.0721 at $\mu_2$, where i.i.d. samples give 0.0241 and 0.1054.
#
# The difference from 0.498 comes from where the learned field puts the dividing line, exactly where Task 8 found it
# least accurate. Along the diagonal (the points $t(1,1)$) the learned score turns from $\mu_1$ to $\mu_2$ at
# $t=-0.37$, the exact one at $t=-0.08$; from the same starts, 5.9 % of the chains begin on $\mu_1$'s side of
# $x_1+x_2=0$ and end at $\mu_2$ with the learned score, against 1.0 % with the exact one. Those extra chains are why
# the learned score's KDE happens to be slightly closer to $p$ ($L^1$ 0.530 against 0.613). Inside each mode the
# learned and exact samples look alike: where the data is, the score is well learned. A learned score cannot fix a
# sampler that does not mix.

# %% [markdown]
# ### Task 10 — The annealed sliced score matching objective
#
# Annealing needs the score of every noise level. Rather than train ten networks, we train one that takes the noise
# level as an input, with the sliced objective averaged over the levels:
#
# $$\mathcal L(\theta;\{\sigma_i\}) = \frac1L\sum_{i=1}^L \lambda(\sigma_i)\,\ell(\theta;\sigma_i),\qquad \lambda(\sigma)=\sigma^2,$$
# where $\ell(\theta;\sigma_i)$ is the sliced objective of $s_\theta(\cdot,\sigma_i)$ on samples perturbed with
# $\mathcal N(0,\sigma_i^2 I)$. In a batch each sample carries its own level (`used_sigmas`, drawn uniformly), so
# the batch mean of $\sigma_j^2\,[\mathbf{v}^\top\nabla s_\theta(\tilde{\mathbf{x}}_j,\sigma_j)\mathbf{v}+\tfrac12\lVert s_\theta\rVert^2]$ is an unbiased
# estimate of $\mathcal L$. Why $\sigma^2$: the noisy score has magnitude $\sim 1/\tilde\sigma$, so
# $\ell(\theta;\sigma)\sim 1/\sigma^2$ while the noise dominates the data's own spread (Task 11 returns to this), and without the weight the smallest noise levels would dominate the gradient.
#
# The noise-conditional network (`sm.NoiseConditionalScoreNet`) takes $(\mathbf{x},\sigma)$ as a 3-vector into the
# same 128-128 Softplus MLP and divides the output by $\sigma$: $s_\theta(\mathbf{x},\sigma)=\mathrm{MLP}([\mathbf{x},\sigma])/\sigma$,
# so the network has to output an $O(1)$ quantity while $\sigma$ is at least the data's scale; below it $\sigma s$
# shrinks with $\sigma$, which Task 11 returns to.

# %%
print(inspect.getsource(sm.annealed_sliced_score_matching))
print(inspect.getsource(sm.NoiseConditionalScoreNet))

# %% [markdown]
# ### Task 11 — Training the noise-conditional score network
#
# The given training function (`sm.train_annealed_sliced`: batches of 256, a random level per sample, the
# perturbed sample $\mathbf{x}+\sigma_i\mathbf{z}$, the annealed loss, Adam lr 1e-3, 10,000 steps), with
# $\sigma_i$ = `exp(linspace(log 10, log 0.1, 10))`. The true score of level $i$ is that of the mixture with
# component std $\tilde\sigma_i=\sqrt{\sigma_i^2+\sigma^2}=\sqrt{\sigma_i^2+1}$. The task: compare the learned fields with
# the true ones at all ten levels and discuss the two extremes, $\sigma_1$ and $\sigma_L$.

# %%
seed_everything(0)
cond_net = sm.NoiseConditionalScoreNet().to(device)
with timer("Task 11 training"):
    losses_assm = sm.train_annealed_sliced(cond_net, lambda n: mix.sample(n), SIGMAS_TRAIN, batch_size=256,
                                           n_steps=SSM_STEPS, lr=1e-3)
cond_net = cond_net.cpu().eval()
cond_score = sm.as_score_fn(cond_net)
loss_min = np.mean([-0.5 * s ** 2 * (mix.with_sigma(float(np.sqrt(s ** 2 + 1))).score(
    mix.with_sigma(float(np.sqrt(s ** 2 + 1))).sample(N_MC, utils.generator(4))) ** 2).sum(1).mean()
                    for s in SIGMAS_TRAIN])
print(f"mean loss over the last 500 steps: {np.mean(losses_assm[-500:]):.3f}; "
      f"the objective at the true scores (its minimum): {loss_min:.3f}")
fig, axes = P.subplots(2, size=4.2)
P.curves({"annealed sliced SM loss": losses_assm[:1000]}, ax=axes[0], title="Task 11: loss, first 1000 steps",
         xlabel="step")
P.curves({"annealed sliced SM loss": losses_assm}, ax=axes[1], title="whole run (running mean of 100)",
         xlabel="step", smooth=100)
plt.tight_layout()
plt.show()


# %%
def eff(s):
    """Effective component std of the data (std 1) plus N(0, s^2) noise."""
    return float(np.sqrt(s ** 2 + 1.0))


print("relative error E|s_theta - s|^2 / E|s|^2 under each noisy distribution q_sigma (4096 samples):")
rel_err = []
for i, s in enumerate(SIGMAS_TRAIN):
    q = mix.with_sigma(eff(s))
    xq = q.sample(4096, utils.generator(i))
    true = q.score(xq)
    rel_err.append((((cond_score(xq, s) - true) ** 2).sum(1).mean() / (true ** 2).sum(1).mean()).item())
print("  sigma:   ", "  ".join(f"{s:6.3f}" for s in SIGMAS_TRAIN))
print("  sigma~:  ", "  ".join(f"{eff(s):6.3f}" for s in SIGMAS_TRAIN))
print("  rel.err: ", "  ".join(f"{e:6.3f}" for e in rel_err))
print("  its root:", "  ".join(f"{np.sqrt(e):6.3f}" for e in rel_err), " (relative RMS error)")
fig, ax = plt.subplots(figsize=(5, 3.4))
ax.loglog(SIGMAS_TRAIN, rel_err, "o-")
ax.axvline(1.0, color="k", ls=":", lw=1)  # the data's own component std
ax.set(xlabel="noise level sigma", ylabel="relative squared error of the learned score",
       title="Task 11: error of s_theta(x, sigma) at each level")
plt.show()

fig, axes = P.subplots(20, ncols=5, size=2.3)
for i, s in enumerate(SIGMAS_TRAIN):
    row = 2 * (i // 5)
    a_learn, a_true = axes[row * 5 + i % 5], axes[(row + 1) * 5 + i % 5]
    P.quiver(sm.log1p_scaled(sm.as_score_fn(cond_net, s)), LIM, n=20, ax=a_learn, color="C0")
    a_learn.set(title=f"learned, sigma={s:.2f}", xlabel="", ylabel="")
    P.quiver(sm.log1p_scaled(mix.with_sigma(eff(s)).score), LIM, n=20, ax=a_true, color="C3")
    a_true.set(title=f"true, sigma~={eff(s):.2f}", xlabel="", ylabel="")
fig.suptitle("Task 11: learned (blue) vs true (red) scores at the 10 levels; arrows: direction x log(1 + |s|)")
plt.tight_layout()
plt.show()

fig, axes = P.subplots(10, ncols=5, size=2.6)
for ax, s in zip(axes, SIGMAS_TRAIN):
    P.density_fn(lambda p: mix.with_sigma(eff(s)).log_prob(p).exp(), LIM, ax=ax, colorbar=False,
                 title=f"$p(x;\\tilde\\sigma={eff(s):.2f})$")
    ax.set(xlabel="", ylabel="")
fig.suptitle("the noisy densities the levels target")
plt.tight_layout()
plt.show()

# %% [markdown]
# The first figure gives the error at each level; the dotted line marks the data's own component std, 1. The 20
# quiver panels are too small to show errors of a few percent, and they draw arrow lengths as $\log(1+|s|)$, which
# hides errors in length; compare each blue (learned) panel with the red (true) one below it for the shape of the
# field: one broad bump at $\sigma=10$ and two basins at the small levels. The last figure shows the noisy densities
# $p(\mathbf{x};\tilde\sigma_i)$ that these fields belong to.

# %% [markdown]
# **Answer.** The loss settles near **-0.444**, close to its minimum -0.457 (the objective at the true scores). The
# error table (one trained network; relative *squared* error $\mathbb E|s_\theta-s|^2/\mathbb E|s|^2$) shows a field
# that is accurate at every large and medium level (0.008 to 0.022 from $\sigma=10$ down to 0.46) and degrades at the
# three smallest, up to **1.261** at $\sigma=0.1$.
#
# * $\sigma_1=10$ ($\tilde\sigma_1=10.05$): the noisy density is one broad bump around the weighted mean
#   $0.2\mu_1+0.8\mu_2=(3,3)$, and its score an almost linear field pointing there: an easy target, matched to 0.022.
# * $\sigma_L=0.1$ ($\tilde\sigma_L=1.005$): the target is practically the data score of Task 3, no harder than at
#   $\sigma=0.46$ (0.012), yet the error is 1.261. Two likely causes in the recipe, not tested separately here. The
#   weight $\lambda(\sigma)=\sigma^2$ assumes $\ell(\theta;\sigma)\propto1/\sigma^2$, true only while the noise dominates
#   the data's own std of 1; below it, the weight shrinks the smallest level's share of the gradient by
#   $\sigma^2=0.01$ against $\sigma=1$. And the output $\mathrm{MLP}/\sigma$ multiplies any error of the MLP by 10 at
#   $\sigma=0.1$.
#
# The small levels matter little for sampling. Their steps are small (Task 12's last level runs at
# $\epsilon_L=5\cdot10^{-4}$), so over 100 steps a wrong score of size $|s|\approx1$ moves a chain by about
# $\epsilon_L T|s|\approx0.05$, against a component width of 1. Task 12 confirms it: the share of chains in the small
# mode stops changing after $\sigma=1.29$.

# %% [markdown]
# ### Task 12 — Annealed Langevin dynamics with the learned scores
#
# Task 5's sampler with $s_\theta(\cdot,\sigma_i)$ at the ten training levels, n = 1280, $\epsilon=0.0005$,
# T = 100 per level, and Song and Ermon's step rule $\epsilon_i=\epsilon\,\sigma_i^2/\sigma_L^2$ on the *added* noise
# levels (here $\sigma_L=0.1$, so $\epsilon_1=0.0005\cdot100^2=5$ and the last level runs at $5\cdot10^{-4}$). Unlike
# Task 5's rule on the effective stds, this one does not keep $\epsilon_i/\tilde\sigma_i^2$ fixed: at the last level
# the relaxation time is $\tilde\sigma_L^2/\epsilon_L\approx1/(5\cdot10^{-4})=2000$ steps, of which the level runs
# 100. As a control, the same schedule with the *exact* scores of the same ten levels separates the network's error
# from the schedule's. The task: compare the mode weights with Task 9's and explain the effect of the many levels.

# %%
x0, gen = uniform_init(N_CHAINS, seed=1)
with timer("Task 12 annealed Langevin (learned scores)"):
    x_ann_learned, levels_learned = samplers.annealed_langevin(x0, cond_score, SIGMAS_TRAIN, step_size=0.0005,
                                                               n_steps_each=T_LEVEL, generator=gen)
x0, gen = uniform_init(N_CHAINS, seed=1)
x_ann_ctrl, _ = samplers.annealed_langevin(x0, lambda x, s: exact_noisy_score(x, eff(s)), SIGMAS_TRAIN,
                                           step_size=0.0005, n_steps_each=T_LEVEL, generator=gen)
print("fraction in the weight-0.2 mode after each level (learned scores):")
print("  sigma:   ", "  ".join(f"{s:5.2f}" for s in SIGMAS_TRAIN))
print("  fraction:", "  ".join(f"{frac_small_mode(l):5.3f}" for l in levels_learned[1:]))
print(f"final fraction, annealed with learned scores: {frac_small_mode(x_ann_learned):.3f} | same schedule, "
      f"exact scores: {frac_small_mode(x_ann_ctrl):.3f} | target 0.200")
for name, xs in [("learned", x_ann_learned), ("exact", x_ann_ctrl)]:
    k = torch.cdist(xs, mix.means).argmin(1)
    print(f"  per-mode sample std ({name} scores): mode 1 {xs[k == 0].std(0).mean():.2f}, "
          f"mode 2 {xs[k == 1].std(0).mean():.2f} (data: 1.00); per-mode sample mean: mode 1 "
          f"({xs[k == 0].mean(0)[0]:+.2f}, {xs[k == 0].mean(0)[1]:+.2f}), mode 2 ({xs[k == 1].mean(0)[0]:+.2f}, "
          f"{xs[k == 1].mean(0)[1]:+.2f}) (data: {tuple(mix.means[0].tolist())}, {tuple(mix.means[1].tolist())})")

seed_fracs_t12 = {}
for name, fn in [("learned", cond_score), ("exact", lambda x, s: exact_noisy_score(x, eff(s)))]:
    fr = seed_fracs_t12[name] = []
    for seed in range(2, 2 + N_SEEDS):
        x0s, gs = uniform_init(N_CHAINS, seed=seed)
        fr.append(frac_small_mode(samplers.annealed_langevin(x0s, fn, SIGMAS_TRAIN, 0.0005, T_LEVEL, generator=gs)[0]))
    print(f"over {N_SEEDS} more seeds ({name} scores): mean {np.mean(fr):.3f}, std {np.std(fr):.3f}, "
          f"range [{min(fr):.3f}, {max(fr):.3f}]")
se = np.sqrt(np.var(seed_fracs_t12["exact"], ddof=1) / N_SEEDS + np.var(seed_fracs, ddof=1) / N_SEEDS)
print(f"exact scores, this schedule minus Task 5's (the same start seeds, different schedules): "
      f"{np.mean(seed_fracs_t12['exact']) - np.mean(seed_fracs):+.3f} +- {se:.3f} (s.e.)")

# %%
level_grid(levels_learned, SIGMAS_TRAIN, "Task 12: annealed Langevin, learned scores (title: level, fraction)",
           contour_sigma=eff)
level_gif(levels_learned, SIGMAS_TRAIN, FIG_DIR / "04_annealed_learned.gif", "learned scores")

# %% [markdown]
# The animation of these levels is in [figures/04_annealed_learned.gif](figures/04_annealed_learned.gif).

# %%
kde_panels({"i.i.d.": x_ref, "annealed exact (T5)": x_ann, "annealed learned (T12)": x_ann_learned},
           "Task 12: KDE of annealed Langevin samples")

# %% [markdown]
# **Answer.** Annealed Langevin with the learned scores puts **0.194** of the samples in the weight-0.2 mode
# ($0.181\pm0.009$ over 10 more seeds, $\pm$ std), against **0.451** for plain Langevin with the learned score
# (Task 9). The mechanism is Task 5's: the broad levels let chains cross between the modes before the barrier rises
# (0.293 after $\sigma=10$); the fraction changes little after $\sigma=2.15$ (0.192) and not at all after 1.29 (0.194).
#
# The control, the *exact* scores on the same schedule, gives $0.229\pm0.013$ (10 seeds), no different from Task 5's
# schedule (a difference of $+0.009\pm0.006$, standard error). So the learned scores land nearer to 0.2, but not on
# merit: the network moves the seed mean by $0.181-0.229\approx-0.05$. Our hypothesis, not tested here, is that the
# network's errors at the levels where the modes split (relative squared errors of 0.013 to 0.016 from $\sigma=5.99$
# to 2.15, acting over many steps) push chains towards $\mu_2$, against the schedule's bias towards $\mu_1$: the
# agreement with 0.2 is partly a cancellation.

# %% [markdown]
# **Beyond the mode weights.** The per-mode std shows a second cancellation: 0.97 and 1.00 with the learned scores,
# against 1.08 and 1.09 with the exact scores on the same schedule (data: 1). The schedule alone leaves the modes too
# wide, because its last levels are too short to relax; the network narrows them. Width is not the whole shape: with
# the learned scores mode 1's mean sits at (-4.64, -5.06), 0.36 towards the midline in $x_1$, and the KDE reads 0.0935
# at $\mu_2$ against 0.1054 for i.i.d. samples, although mode 2's mean (4.99, 4.84) and std are close to the data's: a
# change of shape that mean and std do not capture (not examined further here).

# %% [markdown]
# **Why many levels.** They divide the work: large $\sigma$ smooths the target into one mode so chains mix globally, and small
# $\sigma$ refines the shape locally. With Task 5's rule the step keeps pace with each level's width and every level
# relaxes; with this schedule the last levels do not, which is what the exact scores' 1.08 and 1.09 show.

# %% [markdown]
# ## Summary — fraction of samples in the weight-0.2 mode (target 0.2)

# %%
summary = {  # this notebook's run, and the further seeds where they were run
    "Langevin, exact score (Task 4)": (frac_small_mode(x_plain), None),
    "annealed Langevin, exact scores (Task 5)": (frac_small_mode(x_ann), seed_fracs),
    "Langevin, learned score (Task 9)": (frac_small_mode(x_plain_learned), None),
    "annealed Langevin, learned scores (Task 12)": (frac_small_mode(x_ann_learned), seed_fracs_t12["learned"]),
}
print(f"{'sampler':45s} {'this run':>8} {'|f - 0.2|':>9} | {'all seeds: mean +- std':>22} {'|mean - 0.2|':>12}")
for k, (v, more) in summary.items():
    row = f"{k:45s} {v:8.3f} {abs(v - 0.2):9.3f} |"
    if more:
        runs = [v] + list(more)
        row += f" {np.mean(runs):9.3f} +- {np.std(runs):.3f} ({len(runs)}) {abs(np.mean(runs) - 0.2):12.3f}"
    print(row)

# %% [markdown]
# Without annealing, Langevin dynamics gives the two modes equal weight whether the score is exact (0.498) or
# learned (0.451): it cannot cross between well-separated modes, so the weights come from where the chains started.
# Annealing through broad noise levels fixes that: over eleven seeds **0.217 $\pm$ 0.016** with the exact scores
# (Task 5's schedule) and **0.182 $\pm$ 0.009** with the learned noise-conditional scores (Task 12's schedule), both
# within 0.02 of the target. Single runs can mislead here: this notebook's runs, 0.184 and 0.194, would make the
# learned scores look nearly three times closer to 0.2 (0.006 against 0.016); the seed means are a tie (0.017 against
# 0.018). The hundredths that remain come from chains freezing at a level where the modes still overlap and, for the
# learned scores, possibly from the network's errors at those levels.

# %% [markdown]
# ## About this run
#
# Profile `full` on a CPU, one thread (the set-up cell prints the device and the library versions); the whole
# notebook ran in 125 s (`notebooks/timings.json`, 2026-12-05, beside another job). No checkpoint is loaded: both score networks are trained
# in the notebook from seed 0 (Task 8 in 17 s, Task 11 in 27 s in that run; their cells print the times).
# `make verify NB=04` re-runs the notebook and checks that every printed line reproduces. The two GIFs of the
# annealing levels are written to `notebooks/figures/`. Everything is imported from `helpers`
# (`distributions.GaussianMixture`, `samplers.langevin`, `samplers.annealed_langevin`, `score_matching`); the test
# suite checks that the sliced loss averages to the exact-trace loss, as Task 7 does here.
