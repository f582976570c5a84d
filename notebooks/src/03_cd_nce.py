# %% [markdown]
# # 03 — Contrastive divergence and noise-contrastive estimation
#
# Homework 3. The model is a mixture of four unit-variance Gaussians at the corners of a 3 x 3 square, and
# its four means are the unknowns. Both parts learn them from samples, in two ways that avoid the one hard
# thing about energy-based models. Such a model is a density $p(x) = e^{-E(x)}/Z$ given by an energy $E$
# (a formula or a network) that is easy to evaluate, while the normalising constant $Z = \int e^{-E(x)}\,dx$
# is not; the two methods never need $Z$.
#
# * **Part I** does gradient ascent on the log-likelihood (maximum likelihood, ML), where the "model" half of
#   the gradient is an average over synthetic samples: exact samples of the current model (ML with direct
#   sampling), long chains of the Markov-chain sampler MALA started from a fixed Gaussian (ML with MCMC,
#   Markov chain Monte Carlo), or ten MALA steps started at the data (contrastive divergence, CD). We compare
#   what the three converge to, how fast, and how noisy they are.
# * **Part II** turns estimation into classification: noise-contrastive estimation (NCE) is logistic
#   regression between the data and Gaussian noise, first with the normalising constant $Z$ known, then
#   with $\log Z$ as one more parameter, and we measure how the error falls with the number of samples $J$.

# %% setup

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import stats

from helpers import data, estimation as E, plotting, samplers, scaled, utils
from helpers.distributions import GaussianMixture

# The problems here are a few hundred 2-D points: on a GPU every tiny kernel would pay launch
# latency, so Part I runs on the CPU whatever `device` is (the functions follow their inputs' device).
SIGMA, SPACING = 1.0, 3.0
mix = data.gaussian_grid_mixture(sigma=SIGMA, spacing=SPACING)  # means (0,0), (0,3), (3,0), (3,3)
TRUE = mix.means.numpy().astype(float)
COLORS = {"ml-direct": "tab:blue", "ml-mcmc": "tab:orange", "cd": "tab:green"}
NAMES = {"ml-direct": "ML, direct sampling", "ml-mcmc": "ML, MCMC (L=1000)", "cd": "CD (L=10)"}
print("true means:", TRUE.tolist())

# %% [markdown]
# ## Part I — Contrastive divergence
#
# We pretend not to know the four means $\mu_i$ of
# $p(x;\{\mu_i\}) = \frac14\sum_{i=1}^4 \mathcal N(x;\mu_i, I)$ and estimate them from 1000 samples by
# gradient ascent on their average log-likelihood. Why that gradient needs samples of the model is clearest
# for an energy-based model $p_\theta = e^{-E_\theta}/Z_\theta$: differentiating $Z_\theta = \int e^{-E_\theta}$
# gives $\nabla_\theta\log Z_\theta = -\mathbb E_{\tilde x\sim p_\theta}[\nabla_\theta E_\theta(\tilde x)]$, so
#
# $$\nabla_\theta\,\langle\log p_\theta(x)\rangle_{x} = -\langle\nabla_\theta E_\theta(x)\rangle_{x}
#   + \mathbb E_{\tilde x\sim p_\theta}\big[\nabla_\theta E_\theta(\tilde x)\big],$$
#
# a data term and a model term. The homework writes both terms with $\nabla_\theta\log p$ instead of
# $-\nabla_\theta E$; their $\nabla_\theta\log Z$ parts are equal and cancel, so it is the same step. The three
# methods of Tasks 3–5 differ only in where the model term's samples $\tilde x$ come from, which is the whole
# difficulty of training energy-based models.

# %% [markdown]
# ### Task 1 — Direct sampling: the real samples
#
# The mixture is sampled exactly by picking a component uniformly and adding standard normal noise
# (`GaussianMixture.sample`, the sampler of notebook 01). $J = 1000$ draws are the **real samples** for all
# of Part I.

# %%
gen = utils.generator(0)
J_REAL = 1000
real = mix.sample(J_REAL, gen)
fig, ax = plt.subplots(figsize=(4.8, 4.5))
plotting.scatter(real, ax=ax, title=f"Task 1: {J_REAL} real samples", s=4, label="real samples")
ax.scatter(*TRUE.T, marker="x", c="k", s=80, label="true means")
ax.legend(loc="upper left")
plt.show()
print("sample mean", real.mean(0).numpy().round(3), "(the mixture's mean is (1.5, 1.5))")

# %% [markdown]
# ### Task 2 — Sampling with MCMC (MALA)
#
# The task: implement MALA (the Metropolis-adjusted Langevin algorithm), which runs chains of length $L$ from
# given initial points, with $\sqrt{2\varepsilon} = 0.1$, i.e. $\varepsilon = 0.005$, and standard normal noise.
#
# When a model can only be evaluated up to a constant, we sample it with a Markov chain. MALA proposes a
# Langevin step $\tilde x = x + \varepsilon\, s(x) + \sqrt{2\varepsilon}\,n$, $n\sim\mathcal N(0,I)$, along the
# **score** $s(x) = \nabla_x \log p(x)$, and accepts it with the Metropolis–Hastings probability
# $\min\{1,\ p(\tilde x)\,q(x\mid\tilde x)\,/\,[p(x)\,q(\tilde x\mid x)]\}$, where $q$ is the Gaussian density of
# the proposal; otherwise the chain stays at $x$. This leaves $p$ exactly invariant, and since $p$ enters only
# through a ratio and through $s$, $\log p$ up to a constant is enough. For the mixture the score is explicit,
# $s(x) = \sum_i r_i(x)(\mu_i - x)/\sigma^2$ with the responsibilities $r_i$ defined below
# (`GaussianMixture.score`), so MALA needs no autograd.
#
# Here 100 chains start from $\mathcal N(1.5, 2)$ and run $L = 1000$ steps, as Task 4 will use them. We read
# $\mathcal N(1.5, 2)$ as mean $(1.5, 1.5)$ and covariance $2I$ (standard deviation $\sqrt2$ per coordinate). It
# could also mean standard deviation 2, but 1000 steps carry a chain farther than either start's spread (next
# cell), so the reading should matter little.

# %%
STEP = 0.1 ** 2 / 2  # sqrt(2 eps) = 0.1
L_MCMC = scaled(1000, 200)
N_CHAINS = 100
x0 = E.chains_init_gaussian(N_CHAINS, mean=1.5, variance=2.0, generator=gen)
out = samplers.mala(x0, mix.log_prob, STEP, L_MCMC, every=10, generator=gen, score=mix.score)
traj = torch.stack(out.trajectory)  # (L/10 + 1, chains, 2)
fig, axes = plotting.subplots(2, size=4.3)
plotting.scatter(real, ax=axes[0], s=3, alpha=0.2, c="grey", label="real samples")
plotting.scatter(out.samples, ax=axes[0], s=10, alpha=0.9, c="tab:red", label=f"MALA after L={L_MCMC}")
axes[0].set_title(f"Task 2: {N_CHAINS} MALA chains, final states")
axes[0].legend(loc="upper left")
plotting.trajectories(traj, ax=axes[1], max_paths=6, title="six chains' paths (every 10th step)")
axes[1].scatter(*TRUE.T, marker="x", c="k", s=80)
plt.tight_layout()
plt.show()
quadrant = (out.samples > 1.5).long() @ torch.tensor([2, 1])
print(f"acceptance rate {out.acceptance_rate:.4f}; chains per quadrant (ideal 25 each): "
      f"{torch.bincount(quadrant, minlength=4).tolist()}; mean of the final states {out.samples.mean(0).numpy().round(2)}")

# %% [markdown]
# With a step this small almost every proposal is accepted (rate 0.9999), and after 1000 steps the 100
# chains have spread over all four components (24, 22, 31 and 23 per quadrant, against 25 each for exact
# samples): a chain diffuses about $\sqrt{2\varepsilon L} = \sqrt{2\cdot 0.005\cdot 1000} = \sqrt{10} \approx 3.2$,
# about the spacing 3 of the means.

# %% [markdown]
# ### The gradient of $\log p$ with respect to a mean
#
# With $a_i(x) = -\tfrac12\|x-\mu_i\|^2$ and $p(x) = \frac{1}{4\cdot 2\pi}\sum_k e^{a_k(x)}$,
#
# $$\nabla_{\mu_i}\log p(x;\{\mu_k\}) = \frac{e^{a_i(x)}\,\nabla_{\mu_i}a_i(x)}{\sum_k e^{a_k(x)}}
#   = r_i(x)\,\frac{x-\mu_i}{\sigma^2},\qquad r_i(x) = \frac{e^{a_i(x)}}{\sum_k e^{a_k(x)}},$$
#
# the responsibility of component $i$ for $x$ times the pull of $x$ on $\mu_i$ ($\sigma = 1$ here).
# Tasks 3–5 all take the step $\tilde\mu_i \leftarrow \tilde\mu_i + \eta\big(\langle r_i(x)(x-\tilde\mu_i)\rangle_{x} -
# \langle r_i(\tilde x)(\tilde x-\tilde\mu_i)\rangle_{\tilde x}\big)$ with $\eta = 1$
# (`E.contrastive_gradient`).
#
# Two remarks used below. (i) The normalising constant $4\cdot2\pi$ does not depend on the means, so
# $\mathbb E_{x\sim p_\mu}[\nabla_\mu\log p(x)] = \nabla_\mu\!\int p_\mu = 0$: with exact model samples the
# synthetic term is noise of mean zero, and ML with direct sampling is stochastic gradient ascent on the
# average log-likelihood of the real samples. (ii) Its fixed point is the maximum-likelihood estimate (MLE)
# of the means for these 1000 points. EM (expectation–maximisation: alternately compute the responsibilities
# $r_i$ and move each mean to the $r_i$-weighted average of the points) converges to it here (`E.em_means`,
# from these starts; in general EM finds a local maximum of the likelihood). The distance of an
# estimate to that MLE separates an algorithm's own error from the statistical error of having 1000 samples.

# %% [markdown]
# ### When to stop (Tasks 3–5)
#
# The iterates are noisy (the synthetic term changes every step), so the update is never zero. We stop
# when they **stop drifting**: the average of the last $W$ iterates differs from the average of the $W$
# before by less than $\text{tol} = 0.1$ in every coordinate (`E.has_converged`), and report the average
# of the last $W$ iterates. $W = 50$ for the two ML methods and $W = 500$ for CD: one CD update moves its
# chains only $L = 10$ steps of $\varepsilon = 0.005$, so its expected step is about $L\varepsilon = 0.05$
# times the ML one, and 50 CD iterates cannot tell a slow crawl from convergence. (The section on CD and score
# matching below shows that the expected CD step is $-L\varepsilon\,\nabla J_{\rm SM}$. For one Gaussian
# component of unit variance, $J_{\rm SM}=\tfrac12\mathbb E|x-\mu|^2-d$ has the same gradient in $\mu$ as the
# negative log-likelihood, $\mu-\bar x$; for well-separated components the same holds per component, so the two
# steps differ by the factor $L\varepsilon$.) Each run also has a cap on iterations and stops before it when the rule is met. All
# three start from the same guess $\tilde\mu_i \sim U([0,3]^2)$ and use the same 1000
# real samples.

# %%
init = 3 * utils.rand(4, 2, generator=utils.generator(1))
mle = E.em_means(real, init)
print("initial guess:", init.double().numpy().round(3).tolist())
print("MLE of the 1000 real samples (EM):", mle.double().numpy().round(3).tolist(),
      f"| its RMS error to the true means {E.assignment_error(mle, TRUE):.3f}")
TOL = 0.1
SETTINGS = {  # method -> (window W, max iterations)
    "ml-direct": (50, scaled(2000, 150)),
    "ml-mcmc": (50, scaled(300, 6)),
    "cd": (500, scaled(5000, 300)),
}
fits = {}

# %% [markdown]
# ### Task 3 — ML with direct sampling
#
# Each step draws 100 exact samples of the current model (`GaussianMixture.sample` with the current means)
# and takes the step above with $\eta = 1$. This is the ideal that the other two approximate.

# %%
# NBVAL_IGNORE_OUTPUT
W, cap = SETTINGS["ml-direct"]
fits["ml-direct"] = E.estimate_means("ml-direct", real, init, n_synthetic=100, eta=1.0, window=W, tol=TOL,
                                     max_iters=cap, true_means=TRUE, generator=utils.generator(3),
                                     show_progress=True)

# %% [markdown]
# ### Task 4 — ML with MCMC
#
# Each step runs 100 fresh MALA chains of $L = 1000$ steps from $\mathcal N((1.5,1.5), 2I)$ on the current
# model and uses their final states as $\tilde x$: 1000 score evaluations per parameter update. The first cell
# below times MALA's score two ways, by autograd and by the mixture's closed form: the closed form is faster
# and the final states agree to rounding, so the runs use it.

# %%
# NBVAL_IGNORE_OUTPUT
model0 = GaussianMixture(init, SIGMA)  # the initial guess: the model of the first ML-MCMC iteration
x0 = E.chains_init_gaussian(N_CHAINS, generator=utils.generator(40))
cpu, ends = {"autograd": [], "closed form": []}, {}
for _ in range(3):  # interleaved repeats, in this process's CPU seconds
    for name, score in (("autograd", None), ("closed form", model0.score)):
        c0 = time.process_time()
        ends[name] = samplers.mala(x0, model0.log_prob, STEP, L_MCMC, generator=utils.generator(41), score=score).samples
        cpu[name].append(time.process_time() - c0)
t_ag, t_cf = np.median(cpu["autograd"]), np.median(cpu["closed form"])
print(f"{L_MCMC} MALA steps of {N_CHAINS} chains, CPU time (median of 3): score by autograd {t_ag:.2f} s, "
      f"closed form {t_cf:.2f} s ({t_ag / t_cf:.1f}x); final states agree to "
      f"{(ends['autograd'] - ends['closed form']).abs().max():.1e}")

# %%
# NBVAL_IGNORE_OUTPUT
W, cap = SETTINGS["ml-mcmc"]
fits["ml-mcmc"] = E.estimate_means("ml-mcmc", real, init, n_synthetic=100, eta=1.0, chain_length=L_MCMC,
                                   step_size=STEP, window=W, tol=TOL, max_iters=cap, true_means=TRUE,
                                   generator=utils.generator(4), show_progress=True)

# %% [markdown]
# ### Task 5 — Contrastive divergence
#
# Each step picks 100 of the real samples at random, runs $L = 10$ MALA steps from them on the current
# model, and contrasts the gradient averaged over those 100 real samples with the one averaged over where
# their chains ended. The chains never need to mix: they only measure in which direction the model would
# move the data.

# %%
# NBVAL_IGNORE_OUTPUT
W, cap = SETTINGS["cd"]
fits["cd"] = E.estimate_means("cd", real, init, n_synthetic=100, eta=1.0, chain_length=10, step_size=STEP,
                              window=W, tol=TOL, max_iters=cap, true_means=TRUE,
                              generator=utils.generator(5), show_progress=True)

# %% [markdown]
# ### Task 6 — Results and convergence
#
# The task asks for the estimated means, the final synthetic samples of each method, and how the three
# differ in convergence. First the estimates (the average of each run's last $W$ iterates, matched to the
# true means) with each method's path and final synthetic samples.

# %%
fig, axes = plotting.subplots(3, size=4.4, sharex=True, sharey=True)
for ax, (m, f) in zip(axes, fits.items()):
    ax.scatter(*real.T, s=3, alpha=0.15, c="grey", label="real samples")
    ax.scatter(*f.samples.T, s=10, alpha=0.8, c=COLORS[m], label="final synthetic samples")
    h = f.history.numpy()
    for i in range(4):
        ax.plot(h[:, i, 0], h[:, i, 1], c="k", lw=0.6, alpha=0.5)
    ax.scatter(*init.T, marker="o", facecolors="none", edgecolors="k", s=50, label="initial guess")
    ax.scatter(*TRUE.T, marker="x", c="k", s=80, label="true means")
    ax.scatter(*f.means.T, marker="*", c="red", s=150, label="estimate")
    ax.set(title=f"{NAMES[m]}: {f.iterations} iterations", xlabel="$x_1$", ylabel="$x_2$")
    ax.set_aspect("equal")
axes[0].legend(loc="lower left", fontsize=7)
plt.tight_layout()
plt.show()

order = lambda est: np.asarray(est, float)[np.argsort(E.nearest_true(est, TRUE))]  # list estimates in the true means' order
print(f"{'method':22s} {'estimate (ordered like the true means)':58s} RMS err  to MLE")
for m, f in fits.items():
    est = f.means.numpy()
    print(f"{NAMES[m]:22s} {str(order(est).round(2).tolist()):58s} {E.assignment_error(est, TRUE):.3f}   "
          f"{E.assignment_error(est, mle):.3f}")
print(f"{'MLE (EM)':22s} {str(order(mle.numpy()).round(2).tolist()):58s} {E.assignment_error(mle, TRUE):.3f}   0")

# %% [markdown]
# Convergence: the RMS distance of each iterate to the true means (best one-to-one matching), against the
# iteration and against time. The dotted line is the error of the MLE of these 1000 samples: the error
# the two ML methods' averages should approach (CD's approaches that of another estimate, as the section after
# Task 6 shows), not a hard floor, since single iterates fluctuate around their own
# average and can dip below it.

# %%
fig, axes = plotting.subplots(2, size=5.2)
floor = E.assignment_error(mle, TRUE)
for m, f in fits.items():
    it = np.arange(len(f.errors))
    axes[0].plot(it[1:], f.errors[1:], c=COLORS[m], lw=1, label=NAMES[m])  # log axes: from iteration 1
    axes[1].plot(f.seconds[1:], f.errors[1:], c=COLORS[m], lw=1, label=NAMES[m])
for ax, xl in zip(axes, ["iteration", "wall-clock time (s)"]):
    ax.axhline(floor, ls=":", c="k", label="MLE of the 1000 samples")
    ax.set(xscale="log", yscale="log", xlabel=xl, ylabel="RMS error to the true means",
           title=f"Task 6: error against {xl.split(' (')[0]}")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

W_EQ = 50  # one window for all three (the ML runs stop after about 130 iterations)
first_hit = {m: int(np.argmax(f.errors < 0.3)) if (f.errors < 0.3).any() else -1 for m, f in fits.items()}
print(f"{'method':22s} {'iters':>6s} {'conv.':>6s} {'MALA steps/iter':>16s} {'accept':>7s} "
      f"{f'iterate std, last {W_EQ}':>21s} {'first err<0.3: iter':>20s}")
for m, f in fits.items():
    std = f.history[-W_EQ:].std(0).mean().item()  # spread of the iterates over the same window for all
    steps = {"ml-direct": 0, "ml-mcmc": L_MCMC, "cd": 10}[m]
    acc = f"{np.mean(f.acceptance):.4f}" if f.acceptance else "-"
    print(f"{NAMES[m]:22s} {f.iterations:6d} {str(f.converged):>6s} {steps:16d} {acc:>7s} {std:21.3f} {first_hit[m]:20d}")

# %%
# NBVAL_IGNORE_OUTPUT
print(f"{'method':22s} {'time s':>7s} {'ms/iter':>8s} {'s to first err<0.3':>19s}   (one run each)")
for m, f in fits.items():
    hit = first_hit[m]
    print(f"{NAMES[m]:22s} {f.seconds[-1]:7.1f} {1000 * f.seconds[-1] / f.iterations:8.2f} "
          f"{f.seconds[hit] if hit >= 0 else float('nan'):19.1f}")
per_iter = {m: f.seconds[-1] / f.iterations for m, f in fits.items()}
to_hit = {m: f.seconds[first_hit[m]] if first_hit[m] >= 0 else float("nan") for m, f in fits.items()}
print(f"ML-MCMC / CD: {per_iter['ml-mcmc'] / per_iter['cd']:.0f}x the time per iteration, "
      f"{to_hit['ml-mcmc'] / to_hit['cd']:.1f}x the time to first get within 0.3, "
      f"{fits['ml-mcmc'].seconds[-1] / fits['cd'].seconds[-1]:.1f}x the total time")

# %% [markdown]
# **Answer (Task 6).** All three methods end near the same point: 0.161 (ML, direct), 0.145 (ML, MCMC) and
# 0.142 (CD) from the true means, but only 0.048, 0.049 and 0.068 from the exact MLE of the same 1000 samples,
# which is itself 0.118 from the truth. Most of the error is the statistical error of having 1000 samples, not
# the algorithms' (one run each).
#
# They differ in how they get there. The two ML variants follow almost the same curve (within 0.3 of the
# truth at iterations 30 and 34): 1000 MALA steps give samples as useful as exact ones. CD needs 328
# iterations, because its expected step is only about $L\varepsilon = 0.05$ times the ML one ("When to stop");
# $30/328 \approx 0.09$ is of that order for single noisy runs. In time the order flips: an ML-MCMC iteration
# costs 78 times as much as a CD one (1000 MALA steps against 10), so CD got within 0.3 8.8 times sooner
# (single timings, which vary from run to run). Direct sampling is fastest only because this model can be
# sampled exactly; an energy-based model cannot.
#
# The final samples of the ML variants are samples of the fitted model. CD's are real points moved by 10 small
# steps: they look like the data whatever the model is, so they say nothing about its quality. Where exactly
# CD converges, and how noisy its iterates are, the next sections answer.

# %% [markdown]
# ### Task 6, continued — Is CD's fixed point the MLE? Two joint tests
#
# At the MLE the exact log-likelihood gradient is zero, and so is the expected ML step with direct samples
# (remark (i)). CD's expected step there need not be. Each experiment below gives $n$ independent draws of
# an 8-vector (the four means' coordinates), and we test all 8 coordinates **jointly** with the one-sample
# Hotelling $T^2$ test (`E.hotelling_t2`): with $\bar d$ the mean draw minus its value under the null
# hypothesis $H_0$ and $S$ the draws' sample covariance,
#
# $$T^2 = n\,\bar d^\top S^{-1}\bar d,\qquad \frac{n-p}{p(n-1)}\,T^2 \sim F_{p,\,n-p}\quad\text{under } H_0,$$
#
# with $p = 8$ (exact for Gaussian draws; ours are averages, close to Gaussian). Testing the 8 coordinates
# one by one would be 8 tests at once, and the largest of 8 chance deviations is often large. The effect size
# is the Mahalanobis distance $\sqrt{\bar d^\top S^{-1}\bar d}$ (in units of one draw's spread), and in this
# notebook's units the RMS distance per mean, $\|\bar d\|/2 = \sqrt{\|\bar d\|^2/4}$.
#
# *(a) The expected step at the MLE.* $n$ stochastic steps of each method evaluated *at the MLE*, without
# updating. ML with direct samples is the control: its expected step is exactly zero.

# %%
N_AT_MLE = scaled(2000, 100)
g_bias = utils.generator(6)
steps_at_mle = {m: torch.stack([E.contrastive_gradient(*E.synthetic_batch(m, real, mle, SIGMA, 100, 10, STEP,
                                                                         g_bias)[:2], mle)
                                for _ in range(N_AT_MLE)]).double().numpy() for m in ("ml-direct", "cd")}
for m, s in steps_at_mle.items():
    res = E.hotelling_t2(s)
    print(f"{NAMES[m]:22s} {res.n} steps at the MLE: |mean step| {np.linalg.norm(res.mean_diff):.4f}, "
          f"T^2 = {res.t2:.1f}, F({res.p}, {res.n - res.p}) = {res.f:.2f}, p = {res.p_value:.2g}, "
          f"Mahalanobis {res.mahalanobis:.3f}; RMS of one step {np.sqrt((s ** 2).sum((1, 2)).mean()):.4f}")

# %% [markdown]
# *(b) Where the iterates settle.* $R = 20$ runs of each method started *at the MLE*, each with its own
# noise, 800 iterations with the stopping rule switched off (`tol=0`); each run's estimate is the average of
# its last 500 iterates. If the MLE were CD's fixed point, the runs' estimates would scatter around it. (All
# runs share one data set, so this asks where CD settles on these data, not whether CD is consistent.) A
# second joint test looks for drift left after the first $800 - 500 = 300$ iterations, the burn-in that the
# estimate leaves out while a run moves to where it settles: each run's mean over the second half of its
# window minus that over the first half. The same runs measure the iterates' noise on equal windows.

# %%
# NBVAL_IGNORE_OUTPUT
R_RUNS, T_RUN, W_RUN = scaled(20, 10), scaled(800, 40), scaled(500, 20)
g_rep = utils.generator(7)
reps = {m: [E.estimate_means(m, real, mle, SIGMA, n_synthetic=100, chain_length=10, step_size=STEP, window=W_RUN,
                             tol=0.0, max_iters=T_RUN, generator=g_rep)
            for _ in utils.progress(range(R_RUNS), desc=m)] for m in ("ml-direct", "cd")}

# %%
spread, sd_run, drifts, ests = {}, {}, {}, {}
for m, runs in reps.items():
    est = np.stack([f.means.double().numpy() for f in runs])
    res = E.hotelling_t2(est, mle.double().numpy())
    spread[m] = np.array([f.history[-W_RUN:].std(0).mean().item() for f in runs])
    print(f"{NAMES[m]:22s} {res.n} runs of {T_RUN} iterations, estimate = mean of the last {W_RUN}:")
    print(f"    estimate - MLE, averaged over the runs: norm {np.linalg.norm(res.mean_diff):.4f} (RMS per mean "
          f"{np.linalg.norm(res.mean_diff) / 2:.4f}); T^2 = {res.t2:.1f}, F({res.p}, {res.n - res.p}) = {res.f:.2f}, "
          f"p = {res.p_value:.2g}, Mahalanobis {res.mahalanobis:.2f}")
    print(f"    the runs' average estimate is {E.assignment_error(est.mean(0), TRUE):.3f} from the true means "
          f"(MLE {floor:.3f}); sd of one run's estimate {est.std(0, ddof=1).mean():.4f} per coordinate")
    print(f"    iterate std over the last {W_RUN} iterates: {spread[m].mean():.4f} +- "
          f"{spread[m].std(ddof=1) / math.sqrt(len(runs)):.4f} (mean +- s.e. over the runs)")
    drift = np.stack([f.history[-W_RUN // 2:].double().numpy().mean(0)
                      - f.history[-W_RUN:-W_RUN // 2].double().numpy().mean(0) for f in runs])
    res_drift = E.hotelling_t2(drift)  # is the burn-in of T_RUN - W_RUN iterations enough?
    noise_norm = math.sqrt(np.trace(np.cov(drift.reshape(len(runs), -1), rowvar=False)) / len(runs))
    print(f"    drift inside the window (second half's mean - first half's): norm {np.linalg.norm(res_drift.mean_diff):.4f}, "
          f"joint test against no drift p = {res_drift.p_value:.2g}; norm expected from noise alone {noise_norm:.4f}")
    sd_run[m], drifts[m], ests[m] = est.std(0, ddof=1).mean(), drift, est
diff = spread["cd"].mean() - spread["ml-direct"].mean()
se = math.hypot(*(v.std(ddof=1) / math.sqrt(len(v)) for v in spread.values()))
print(f"iterate std, CD minus ML direct, equal windows of {W_RUN}: {diff:+.4f} +- {se:.4f} ({diff / se:.1f} s.e.); "
      f"sd of one run's estimate, CD / ML direct: {sd_run['cd'] / sd_run['ml-direct']:.1f}x")

# %% [markdown]
# Both tests find that CD settles away from the MLE, and (b) says by how much. The drift test deserves care:
# it does **not** show that the CD runs had stopped moving. Its non-rejection ($p = 0.22$) only says that the
# estimated drift, of norm 0.065, is compatible with noise (0.050 is expected from noise alone). With 20 runs
# and 8 coordinates ($F(8, 12)$) the test has little power, and a drift of that size would be half the
# displacement of 0.13 that it is meant to validate. The next section tests the one direction that matters,
# with more power, and predicts from the model how long CD takes to settle.

# %% [markdown]
# ### CD as approximate score matching
#
# Why would CD settle elsewhere? The chain's **generator** $\mathcal A$ is the rate at which the chain
# changes expectations, $\mathcal A f(x) = \lim_{t\to0}(\mathbb E[f(x_t)] - f(x_0))/t$ for a chain started at
# $x_0 = x$; for Langevin dynamics $\mathcal A f = \nabla_x\log p\cdot\nabla_x f + \Delta_x f$, where
# $\Delta_x = \sum_k \partial^2/\partial x_k^2$ is the Laplacian. One MALA step is an Euler step of the Langevin
# diffusion $dX=\nabla_x\log p\,dt+\sqrt2\,dW$ ($W$ a Brownian motion) with $dt=\varepsilon$, and at CD's
# acceptance of 0.9998 its rejections can be ignored, so $L$ steps from a data point $x$ move any smooth $f$
# on average by $\mathbb E[f(\tilde x)] - f(x) \approx L\varepsilon\,\mathcal A f(x)$. The expected CD step is
# $\eta\langle f(x) - \mathbb E f(\tilde x)\rangle_x$ with $f = \nabla_\mu\log p$, hence about
# $-\eta L\varepsilon\langle\mathcal A\nabla_\mu\log p\rangle_x$, and the chain rule gives
# $\nabla_\mu\big(\tfrac12\|\nabla_x\log p\|^2 + \Delta_x\log p\big) = \mathcal A\,\nabla_\mu\log p$. So the
# expected CD step is $-\eta L\varepsilon\,\nabla_\mu J_{\rm SM}(\mu)$, where
#
# $$J_{\rm SM}(\mu) = \Big\langle \tfrac12\|\nabla_x\log p(x)\|^2 + \Delta_x\log p(x)\Big\rangle_{x}.$$

# %% [markdown]
# $J_{\rm SM}$ is Hyvärinen's **score-matching** objective on the data (A. Hyvärinen, "Estimation of
# non-normalized statistical models by score matching", JMLR 6, 2005): score matching fits the model's score
# $s = \nabla_x\log p$ by minimising $\mathbb E[\|s\|^2/2 + \operatorname{tr}\nabla_x s]$, which needs no
# normalising constant. (The subscript SM is not Part II's sample count $J$.) To first order in
# $L\varepsilon = 0.05$, CD is gradient descent on $J_{\rm SM}$ with step $L\varepsilon$ (A. Hyvärinen,
# "Connections between score matching, contrastive divergence, and pseudolikelihood for continuous-valued
# variables", IEEE Trans. Neural Networks 18, 2007): its fixed point is the score-matching estimate, not the MLE.
#
# For the mixture with known $\sigma$ the objective is explicit (no $Z$, no sampling): with
# $s_i = (\mu_i - x)/\sigma^2$ and responsibilities $r_i(x)$, the score is $s=\sum_i r_i s_i$, and since
# $\nabla_x r_i = r_i(s_i - s)$, $\Delta_x\log p = \sum_i r_i\|s_i\|^2-\|s\|^2-d/\sigma^2$ ($d=2$, the dimension), so
# $J_{\rm SM} = \big\langle \sum_i r_i\|s_i\|^2 - \tfrac12\|\sum_i r_i s_i\|^2\big\rangle_x - d/\sigma^2$
# (`E.score_matching_objective`). Two predictions follow: the CD runs of (b) should scatter around the
# score-matching estimate, and they relax towards it at a rate $L\varepsilon\lambda$ per iteration, $\lambda$
# an eigenvalue of the Hessian of $J_{\rm SM}$.

# %%
sm = E.score_matching_means(real, mle)
real64 = real.double()
hess_sm = torch.autograd.functional.hessian(lambda m: E.score_matching_objective(real64, m.view(4, 2)),
                                            sm.double().flatten())
tau = 1 / (10 * STEP * torch.linalg.eigvalsh(hess_sm).min().item())  # CD's slowest relaxation, in iterations
rms_per_mean = lambda a, b: np.linalg.norm(np.asarray(a, float) - np.asarray(b, float)) / 2
sm_np, mle_np, cd_avg = sm.double().numpy(), mle.double().numpy(), ests["cd"].mean(0)
res_sm = E.hotelling_t2(ests["cd"], sm_np)
print("score-matching estimate (ordered like the true means):", order(sm_np).round(3).tolist(),
      f"| RMS error to the true means {E.assignment_error(sm_np, TRUE):.3f}")
cd_noise = math.sqrt(np.trace(np.cov(ests["cd"].reshape(len(ests["cd"]), -1), rowvar=False)) / len(ests["cd"])) / 2
print(f"RMS distance per mean: score matching to MLE {rms_per_mean(sm_np, mle_np):.4f}; CD runs' average to "
      f"the MLE {rms_per_mean(cd_avg, mle_np):.4f}, to score matching {rms_per_mean(cd_avg, sm_np):.4f} "
      f"(noise level of that average: {cd_noise:.4f} per mean)")
print(f"CD runs against the score-matching estimate: T^2 = {res_sm.t2:.1f}, F({res_sm.p}, {res_sm.n - res_sm.p}) = "
      f"{res_sm.f:.2f}, p = {res_sm.p_value:.2g}, Mahalanobis {res_sm.mahalanobis:.2f}")
u = (sm_np - mle_np).ravel() / np.linalg.norm(sm_np - mle_np)  # set by the two estimates alone, not by the runs
along = drifts["cd"].reshape(len(drifts["cd"]), -1) @ u
print(f"CD drift along the direction MLE -> score matching: {along.mean():+.4f} +- "
      f"{along.std(ddof=1) / math.sqrt(len(along)):.4f} (mean +- s.e. over {len(along)} runs), against a "
      f"displacement of {np.linalg.norm(sm_np - mle_np):.4f} along it")
left = math.exp(-(T_RUN - W_RUN) / tau)  # of the starting offset, at the window's start, in the slowest direction
bias = np.linalg.norm(sm_np - mle_np) * tau / W_RUN * (left - math.exp(-T_RUN / tau))  # offset averaged over the window
print(f"slowest relaxation of CD, 1 / (L eps lambda_min): {tau:.0f} iterations; after the {T_RUN - W_RUN}-iteration "
      f"burn-in {left:.3f} of the starting offset is left, so the window's average is at most {bias:.4f} short")

# %% [markdown]
# **Answer: where CD converges.** Not to the MLE but to the score-matching estimate. CD's expected step at the
# MLE is small but not zero (norm 0.0017, $p = 0.00027$ over 2000 steps); ML's, 0.0026, is not significant
# because ML's single steps are about three times noisier (RMS 0.1160 against 0.0418; Mahalanobis 0.068 against
# CD's 0.122). Twenty CD runs started at the MLE settle 0.065 per mean away from it ($p = 0.0003$), while the
# control runs stay (0.003 per mean). The score-matching estimate lies 0.066 per mean from the MLE, and the CD
# runs' average only 0.014 from it, less than that average's own noise of 0.017 (joint test $p = 0.77$). Nor
# were the runs still moving away from the MLE: their drift towards the score-matching estimate is
# $-0.026 \pm 0.015$ (± s.e., 20 runs), against a whole displacement of 0.131 (the 8-vector's length, twice
# 0.066), and the linearised dynamics relax in about 131 iterations, leaving the window's average at most
# 0.003 short.
#
# The difference is no loss on these data: the CD runs' average is 0.115 from the true means, the MLE 0.118,
# and score matching, like ML, is consistent (it finds the true parameters as the data grow). It would matter
# for a misspecified model, and CD cannot see modes far from the data, which its 10 small steps never reach.

# %% [markdown]
# **Answer: how noisy are CD's iterates compared with ML's?** CD's single steps are smaller than ML's (RMS
# 0.0418 against 0.1160 at the MLE), because both of CD's averages use the same 100 points and much of the
# noise cancels. But its restoring force (the expected step back towards the fixed point per unit of
# distance from it, $L\varepsilon$ times the curvature of $J_{\rm SM}$ for CD, about $L\varepsilon=0.05$ times ML's, see
# "When to stop") shrinks more than its noise does, so its iterates wander more and more slowly: over equal windows of 500 iterates their
# standard deviation is 0.0787 for CD against 0.0718 for ML with direct samples (difference 0.0070 ± 0.0014,
# mean ± s.e. over 20 runs), and because CD's iterates stay correlated far longer, the average of a window
# varies 5.0 times as much from run to run. A short window hides this: over the last 50 iterates of the
# single runs of Tasks 3–5 the spread is 0.043 for CD against about 0.06 for ML.

# %% [markdown]
# ## Part II — Noise-contrastive estimation
#
# NCE learns an unnormalised model by classification: a logistic regression that tells the data from samples
# of a known noise density $p_n$, with the model's log-density inside the classifier,
# $h(u) = p_m(u)/(p_m(u) + p_n(u))$. With as many noise points as data points, the best possible classifier is
# $p_d/(p_d + p_n)$, $p_d$ being the density of the data, so fitting $h$ pushes $p_m$ towards $p_d$ itself,
# normalisation included. That is why NCE can learn $Z$ as a parameter, which maximum likelihood cannot: there a
# free $Z$ would shrink towards 0 and make the likelihood infinite. Part II uses NCE on the same mixture, first
# with the normalising constant known, then with $\log Z$ learned as one more parameter.

# %% [markdown]
# ### Task 7 — The value of $Z$
#
# The task asks for the constant that makes $p_m(x) = \frac1Z\sum_{i=1}^N \exp\{-\|x-\mu_i\|^2/(2\sigma^2)\}$
# a density. Each term is a Gaussian integral that does not depend on where $\mu_i$ is:
#
# $$Z = \sum_{i=1}^N \int_{\mathbb R^2} e^{-\|x-\mu_i\|^2/(2\sigma^2)}\,dx = N\,(2\pi\sigma^2)^{d/2}
#   = N\,2\pi\sigma^2 \quad (d = 2).$$
#
# With $N = 4$, $\sigma = 1$: $Z = 8\pi \approx 25.13$, and $p_m$ is exactly the equal-weight mixture of Part I.

# %%
Z_TRUE = math.exp(E.log_partition(4, SIGMA))
print(f"Z = 8 pi = {Z_TRUE:.4f}, log Z = {math.log(Z_TRUE):.4f}")

# %% [markdown]
# ### Task 8 — Data
#
# $J = 1000$ samples of $p_m$ with the true means (the Task 1 sampler, a fresh seed).

# %%
rng = np.random.default_rng(8)
J = 1000
x_nce = mix.sample(J, utils.generator(8)).numpy().astype(float)
NOISE_MEAN, NOISE_SIGMA = (1.0, 1.0), 2.0

# %% [markdown]
# ### The NCE objective and its gradient
#
# With $G(u) = \log p_m(u) - \log p_n(u)$ the classifier is $h(u) = \frac{p_m}{p_m+p_n} = \mathrm{sigmoid}(G(u))$
# and $1-h = \mathrm{sigmoid}(-G)$, so the task's objective, negated and divided by $J$, is
#
# $$\mathcal L(\theta) = -\frac1J\sum_{j=1}^J\Big[\log\mathrm{sigmoid}\,G(x_j) + \log\mathrm{sigmoid}(-G(y_j))\Big],$$
#
# evaluated with `scipy.special.log_expit`, which cannot overflow ($\log p_m$ itself with a log-sum-exp).
# Dividing by $J$ does not move the optimum and keeps BFGS's gradient tolerance meaningful for every $J$.
# Since $\frac{d}{dG}\log\mathrm{sigmoid}(\pm G) = \pm\,\mathrm{sigmoid}(\mp G)$,
# $\nabla_{\mu_i}G(u) = r_i(u)(u-\mu_i)/\sigma^2$ and $\partial G/\partial\log Z = -1$:
#
# $$\nabla_{\mu_i}\mathcal L = -\frac1{J\sigma^2}\Big[\sum_j (1-h(x_j))\,r_i(x_j)(x_j-\mu_i) - \sum_j h(y_j)\,r_i(y_j)(y_j-\mu_i)\Big],\qquad
#   \frac{\partial\mathcal L}{\partial\log Z} = \frac1J\Big[\sum_j (1-h(x_j)) - \sum_j h(y_j)\Big].$$
#
# `E.NCEProblem.objective_and_grad` computes both for all $2J$ points at once, and
# `scipy.optimize.minimize(method="BFGS", jac=True)` uses them (BFGS is a quasi-Newton method: it builds up an
# estimate of the curvature from successive gradients). Task 10 learns $c = \log Z$ rather than $Z$,
# which keeps $Z>0$ without constraints; its initial value is the log of a draw from $U([0.1, 1])$, as the
# task asks for $Z$. (The true $Z = 25.1$ is far outside that interval: the optimiser has to travel about
# $\log(25.1/0.55)\approx 3.8$ in $\log Z$, 0.55 being the interval's midpoint.)

# %% [markdown]
# ### Task 9 — NCE with $Z$ known
#
# Noise: $J = 1000$ draws of $\mathcal N((1,1), 2^2 I)$; initial means from $U([0,3]^2)$; $\log Z$ fixed at
# $\log 8\pi$.

# %%
y_nce = np.asarray(NOISE_MEAN) + NOISE_SIGMA * rng.standard_normal((J, 2))
prob9 = E.NCEProblem(x_nce, y_nce, 4, SIGMA, NOISE_MEAN, NOISE_SIGMA, learn_log_z=False)
init9 = rng.uniform(0, 3, (4, 2))
fit9 = E.fit_nce(prob9, init9)
mse9, failed9 = E.match_nearest(fit9.means, TRUE)
print(f"BFGS: success={fit9.success}, {fit9.n_evals} evaluations, objective {fit9.result.fun:.4f}")
print("estimated means (ordered like the true ones):", order(fit9.means).round(3).tolist())
print(f"MSE to the nearest true means {mse9:.4f}; failed: {failed9}")

# %% [markdown]
# ### Task 10 — NCE with $Z$ unknown
#
# Same data and noise; initial means from $U([0,3]^2)$ and $Z$ from $U([0.1,1])$; the parameters are the
# means and $\log Z$.

# %%
init10 = rng.uniform(0, 3, (4, 2))
z0 = rng.uniform(0.1, 1.0)
prob10 = E.NCEProblem(x_nce, y_nce, 4, SIGMA, NOISE_MEAN, NOISE_SIGMA, learn_log_z=True)
fit10 = E.fit_nce(prob10, init10, math.log(z0))
mse10, failed10 = E.match_nearest(fit10.means, TRUE)
print(f"BFGS: success={fit10.success}, {fit10.n_evals} evaluations, objective {fit10.result.fun:.4f}")
print("estimated means (ordered like the true ones):", order(fit10.means).round(3).tolist())
print(f"MSE to the nearest true means {mse10:.4f}; failed: {failed10}")
print(f"Z: initial {z0:.3f} -> estimate {fit10.z:.3f} (true {Z_TRUE:.3f}, relative error {fit10.z / Z_TRUE - 1:+.2%})")

# %% [markdown]
# ### Task 11 — The two fits, visually
#
# Each figure shows the data ("model samples"), the noise, the initial guess, and where BFGS took it.

# %%
for task, fit, extra in ((9, fit9, "Z known"), (10, fit10, f"log Z learned: Z = {fit10.z:.2f} (true {Z_TRUE:.2f})")):
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.scatter(*y_nce.T, s=4, alpha=0.3, c="tab:purple", label="noise samples $y_j$")
    ax.scatter(*x_nce.T, s=4, alpha=0.4, c="tab:blue", label="model (data) samples $x_j$")
    for a, b in zip(fit.init_means, fit.means):
        ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", color="k", lw=1))
    ax.scatter(*fit.init_means.T, marker="o", facecolors="white", edgecolors="k", s=70, zorder=3, label="initial guess")
    ax.scatter(*TRUE.T, marker="x", c="k", s=90, zorder=3, label="true means")
    ax.scatter(*fit.means.T, marker="*", c="red", s=180, zorder=4, label="NCE estimate")
    ax.set(title=f"Task 11: NCE, Task {task} ({extra})", xlabel="$x_1$", ylabel="$x_2$",
           xlim=(-6, 8), ylim=(-6, 8))
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    plt.show()

# %% [markdown]
# Both fits find all four means from a poor start (MSE 0.0227 with $Z$ known, 0.0228 with $\log Z$
# learned, one draw), and Task 10 recovers the constant it was never told: $\hat Z = 24.876$ against
# $8\pi = 25.133$ ($-1.02\%$), starting from $Z_0 = 0.720$.

# %% [markdown]
# ### Task 12 — Accuracy against $J$
#
# The task repeats Tasks 9 and 10 for $J = 100\times[1, 5, 10, 20, 30, 50]$, 50 times each with fresh data,
# noise and initial guesses, and reports the MSE of the estimates and the failures. We run it **paired**
# (`E.nce_study`): run $k$ fits both variants to the same data and noise from the same initial means (Task 10
# adds its initial $Z$), so the difference between the variants is not confounded with the draws.
#
# * **MSE of the means**: each estimate is matched to its *nearest* true mean; a run's error is the mean over
#   the four estimates of the squared distance to it, and the MSE averages that over the runs.
# * **Failures**, as the task defines them: two estimates with the same nearest true mean. Failed runs are
#   counted and left out of every average.
# * **MSE of $Z$** (Task 10 only): $(\hat Z - 8\pi)^2$ averaged over the successful runs.

# %% [markdown]
# #### What to expect: the asymptotic variance
#
# NCE maximises an average of $J$ i.i.d. terms
# $\ell(\theta; x_j, y_j) = \log h(x_j) + \log(1-h(y_j))$. Expanding its gradient to first order around the
# true $\theta^*$ gives the **sandwich formula**, the large-$J$ covariance of any estimator that maximises such
# an average:
#
# $$\sqrt J\,(\hat\theta - \theta^*) \to \mathcal N\big(0,\ A^{-1}BA^{-\top}\big),\qquad
#   A = -\mathbb E\,\nabla^2_\theta\ell,\quad B = \operatorname{Cov}\,\nabla_\theta\ell .$$
#
# With $g = \nabla_\theta G$: $\nabla_\theta\ell = (1-h(x))\,g(x) - h(y)\,g(y)$, so
# $B = \operatorname{Cov}_x[(1-h)g] + \operatorname{Cov}_y[hg]$. Differentiating again,
# $-\nabla^2_\theta\ell = h(1-h)gg^\top|_x + h(1-h)gg^\top|_y - (1-h(x))\nabla^2G(x) + h(y)\nabla^2G(y)$, and at
# the truth the two $\nabla^2 G$ terms cancel in expectation, because $x\sim p_m$, $y\sim p_n$ and
# $p_m(1-h) = p_m p_n/(p_m+p_n) = p_n h$. That leaves
# $A = \mathbb E_x[h(1-h)gg^\top] + \mathbb E_y[h(1-h)gg^\top]$.

# %% [markdown]
# What this predicts. A run's MSE is the sum of the 8 coordinates' squared errors divided by the 4 means, so
# $J\cdot\text{MSE}$ of the means tends to the trace of the means' block of $A^{-1}BA^{-\top}$ divided by 4: a
# constant, so the MSE falls exactly as $1/J$ for large $J$. For $\hat Z$ a first-order expansion (the **delta
# method**, $\hat Z - Z \approx Z\,(\log\hat Z - \log Z)$) gives
# $J\cdot\text{MSE}(\hat Z) \to Z^2\,\operatorname{Var}_\infty(\log\hat Z)$, where $\operatorname{Var}_\infty(\log\hat Z)$
# is the $\log Z$ diagonal entry of $A^{-1}BA^{-\top}$. As a yardstick, maximum likelihood on the same $J$ data
# points has $A = B = \mathcal I$, the Fisher information, so its sandwich is $\mathcal I^{-1}$, the
# **Cramér–Rao bound**: the smallest asymptotic covariance a regular estimator can have.
# `E.nce_asymptotic_covariance` and `E.ml_asymptotic_covariance` compute these by quadrature on a grid.

# %%
asym = {"NCE, Z known": E.nce_asymptotic_covariance(TRUE, SIGMA, NOISE_MEAN, NOISE_SIGMA, learn_log_z=False),
        "NCE, log Z learned": E.nce_asymptotic_covariance(TRUE, SIGMA, NOISE_MEAN, NOISE_SIGMA, learn_log_z=True),
        "ML (Cramer-Rao bound)": E.ml_asymptotic_covariance(TRUE, SIGMA)}
LIMIT = {False: asym["NCE, Z known"].j_mse, True: asym["NCE, log Z learned"].j_mse}
LIMIT_Z = Z_TRUE ** 2 * asym["NCE, log Z learned"].j_var_log_z
RATIO_LIMIT = LIMIT[True] / LIMIT[False]
print(f"{'estimator':24s} {'lim J*MSE means':>16s} {'lim J*MSE of Z':>15s}")
for name, a in asym.items():
    z = f"{Z_TRUE ** 2 * a.j_var_log_z:15.1f}" if a.cov.shape[0] > 8 else f"{'-':>15s}"
    print(f"{name:24s} {a.j_mse:16.2f} {z}")
print(f"asymptotic price of learning log Z: MSE ratio {RATIO_LIMIT:.4f} (+{RATIO_LIMIT - 1:.2%})")

# %%
# NBVAL_IGNORE_OUTPUT
SIZES = scaled([100 * k for k in (1, 5, 10, 20, 30, 50)], [100, 500, 1000])
RUNS = scaled(50, 3)
studies = E.nce_study(SIZES, RUNS, TRUE, seed=12, noise_mean=NOISE_MEAN, noise_sigma=NOISE_SIGMA, show_progress=True)

# %%
print("MSE +- its standard error over the successful runs; failures = failed runs / runs")
print(f"{'J':>5s} | {'MSE means, Z known':>20s} {'failures':>8s} | {'MSE means, Z learned':>20s} "
      f"{'failures':>8s} | {'MSE of Z':>15s} {'median':>7s} {'rel. RMSE Z':>11s}")
rows = {learn: s.summary() for learn, s in studies.items()}
for a, b in zip(rows[False], rows[True]):
    print(f"{a['J']:5d} | {a['mse_means']:10.5f} +- {a['se_means']:.5f} {a['failures']:4d}/{a['runs']:<3d} | "
          f"{b['mse_means']:10.5f} +- {b['se_means']:.5f} {b['failures']:4d}/{b['runs']:<3d} | "
          f"{b['mse_z']:7.4f} +- {b['se_z']:.4f} {b['median_z']:7.4f} {math.sqrt(b['mse_z']) / Z_TRUE:11.2%}")

# %% [markdown]
# In the table, each MSE is followed by its standard error. The last three columns are about $\hat Z$ with
# $\log Z$ learned: "MSE of Z" is the mean of $(\hat Z - 8\pi)^2$ over the successful runs (± s.e.), "median"
# is the median of the same squared errors (below the mean, since a few runs miss by much more), and
# "rel. RMSE Z" is $\sqrt{\text{MSE of }Z}/8\pi$, the typical relative error of $\hat Z$.
#
# The figure shows the same numbers three ways: the MSE of the means on log-log axes with the asymptotic
# $\text{limit}/J$ lines; $J\cdot\text{MSE}$, which is flat where the MSE falls as $1/J$, with the sandwich
# limits as horizontal lines (error bars: ± one standard error); and the same for $\hat Z$.

# %%
def loglog_slope(js, values, ses):
    """Slope of log(value) against log(J) and its standard error, by least squares weighted with each
    point's standard error on the log scale (se / value)."""
    js, values, ses = (np.asarray(v, float) for v in (js, values, ses))
    ok = np.isfinite(values) & np.isfinite(ses) & (ses > 0)
    coef, cov = np.polyfit(np.log(js[ok]), np.log(values[ok]), 1, w=values[ok] / ses[ok], cov="unscaled")
    return float(coef[0]), float(np.sqrt(cov[0, 0]))

js = np.asarray(SIZES, float)
fig, axes = plotting.subplots(3, size=4.6)
slopes = {}
for learn, style in ((False, dict(c="tab:blue", marker="o")), (True, dict(c="tab:red", marker="s"))):
    r = rows[learn]
    mse = np.array([row["mse_means"] for row in r])
    se_m = np.array([row["se_means"] for row in r])
    slopes[learn] = loglog_slope(js, mse, se_m)
    name = "log Z learned" if learn else "Z known"
    axes[0].plot(js, mse, ls="none", label=f"{name}: slope {slopes[learn][0]:.2f}", **style)
    axes[0].plot(js, LIMIT[learn] / js, c=style["c"], ls="--", lw=1)
    for j, v, row in zip(js, mse, r):
        axes[0].annotate(f"{row['failures']}", (j, v), textcoords="offset points",
                         xytext=(4, 6 if learn else -12), color=style["c"], fontsize=8)
    axes[1].errorbar(js * (1.04 if learn else 1), js * mse, yerr=js * se_m, ls="none", capsize=3, label=name, **style)
    axes[1].axhline(LIMIT[learn], c=style["c"], ls="--", lw=1)
axes[1].axhline(asym["ML (Cramer-Rao bound)"].j_mse, c="k", ls=":", lw=1, label="ML (Cramer-Rao)")
axes[0].set(xscale="log", yscale="log", xlabel="J (data points = noise points)", ylabel="MSE of the means",
            title=f"Task 12: MSE (numbers: failures of {RUNS})")
axes[1].set(xscale="log", xlabel="J", ylabel="J x MSE of the means", ylim=(0, None),
            title="J x MSE; dashed: sandwich limits")
mse_z = np.array([row["mse_z"] for row in rows[True]])
se_z = np.array([row["se_z"] for row in rows[True]])
slopes["z"] = loglog_slope(js, mse_z, se_z)
axes[2].errorbar(js, js * mse_z, yerr=js * se_z, c="tab:red", marker="s", ls="none", capsize=3,
                 label=f"log Z learned (MSE slope {slopes['z'][0]:.2f})")
axes[2].axhline(LIMIT_Z, c="tab:red", ls="--", lw=1, label="sandwich limit")
axes[2].set(xscale="log", xlabel="J", ylabel="$J\\,(\\hat Z - 8\\pi)^2$, mean over successful runs", ylim=(0, None),
            title="J x MSE of Z")
for ax in axes:
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
print("slopes of log MSE against log J (+- s.e., weighted by each point's s.e.): "
      + ", ".join(f"{name} {slopes[k][0]:.2f} +- {slopes[k][1]:.2f}"
                  for k, name in ((False, "Z known"), (True, "log Z learned"), ("z", "Z itself"))))
print(f"{'J':>5s} {'J*MSE, Z known':>16s} {'J*MSE, log Z learned':>21s} {'J*MSE of Z':>14s}")
for k, j in enumerate(SIZES):
    print(f"{j:5d} {j * rows[False][k]['mse_means']:8.1f} +- {j * rows[False][k]['se_means']:4.1f} "
          f"{j * rows[True][k]['mse_means']:13.1f} +- {j * rows[True][k]['se_means']:4.1f} "
          f"{j * mse_z[k]:7.0f} +- {j * se_z[k]:3.0f}")
print(f"{'limit':>5s} {LIMIT[False]:8.1f}{'':8s} {LIMIT[True]:13.1f}{'':8s} {LIMIT_Z:7.0f}")
paired12 = E.paired_mse_ratios(studies[False], studies[True])
print("paired MSE(log Z learned) / MSE(Z known) per J, +- s.e. (runs where neither failed):",
      ", ".join(f"{r['J']}: {r['ratio']:.3f} +- {r['se']:.3f}" for r in paired12))

# %% [markdown]
# ### Task 13 — How $J$ and learning $Z$ affect the accuracy
#
# The task asks how the number of samples $J$ affects the accuracy, and what adding $Z$ as an unknown
# costs. The cost is the ratio of two MSEs, and on paired draws it is far more precise than two independent
# studies allow, because both variants' errors move together from run to run. With $a_k$ and $b_k$ the
# squared errors of run $k$ with $\log Z$ learned and with $Z$ known, $\hat R = \bar a/\bar b$, and its
# delta-method standard error is
#
# $$\operatorname{se}(\hat R) = \frac{\operatorname{sd}(a_k - \hat R\,b_k)}{\sqrt n\;\bar b}\qquad(\texttt{E.paired\_ratio}),$$
#
# over the $n$ runs where neither variant failed. Task 12's 50 runs per $J$ cannot tell a cost of a few
# tenths of a per cent from none ($1.003 \pm 0.002$ at $J = 5000$), and the standard error falls as
# $1/\sqrt n$, so we repeat the paired design with 200 fresh runs (seed 14) at $J = 100$, 1000 and 5000.
# Failures are compared on the same pairs: only runs where exactly one variant failed say which fails more
# often. If neither did, each such run would be either variant's failure with probability 1/2, which gives an
# exact sign test (`scipy.stats.binomtest`). The figure plots the cost, the ratio minus 1 in per cent, from both
# studies against the sandwich limit.

# %%
# NBVAL_IGNORE_OUTPUT
SIZES13, RUNS13 = scaled([100, 1000, 5000], [100, 1000]), scaled(200, 4)
studies13 = E.nce_study(SIZES13, RUNS13, TRUE, seed=14, noise_mean=NOISE_MEAN, noise_sigma=NOISE_SIGMA,
                        show_progress=True)

# %%
paired13 = E.paired_mse_ratios(studies13[False], studies13[True])
print(f"{RUNS13} paired runs per J, over the runs where neither variant failed (+- s.e.)")
print(f"{'J':>5s} {'J*MSE, Z known':>15s} {'J*MSE, log Z learned':>21s} {'ratio':>15s} {'failures: known only, learned only, both':>42s}")
for r in paired13:
    j = r["J"]
    fk, fl = studies13[False].failed[j], studies13[True].failed[j]
    ok = ~(fk | fl)
    jm = {v: j * studies13[v].mse_means[j][ok] for v in (False, True)}
    sem = lambda v: v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    only_k, only_l = int((fk & ~fl).sum()), int((fl & ~fk).sum())
    sign_p = stats.binomtest(only_k, only_k + only_l).pvalue if only_k + only_l else float("nan")
    print(f"{j:5d} {jm[False].mean():7.1f} +- {sem(jm[False]):4.1f} {jm[True].mean():13.1f} +- {sem(jm[True]):4.1f} "
          f"{r['ratio']:7.3f} +- {r['se']:.3f}   {only_k:3d}, {only_l:3d}, {int((fk & fl).sum()):3d} (sign test p = {sign_p:.2g})")
print(f"{'limit':>5s} {LIMIT[False]:7.1f}{'':8s} {LIMIT[True]:13.1f}{'':8s} {RATIO_LIMIT:7.4f}")

fig, ax = plt.subplots(figsize=(5.5, 4))
for pr, style, label in ((paired12, dict(c="grey", marker="o", alpha=0.6), f"Task 12 ({RUNS} runs per J)"),
                         (paired13, dict(c="tab:red", marker="s"), f"Task 13 ({RUNS13} runs per J)")):
    rr = [r for r in pr if r["ratio"] > 1]  # log axis: costs above zero
    ax.errorbar([r["J"] for r in rr], [100 * (r["ratio"] - 1) for r in rr], yerr=[100 * r["se"] for r in rr],
                ls="none", capsize=3, label=label, **style)
ax.axhline(100 * (RATIO_LIMIT - 1), c="k", ls="--", lw=1, label=f"sandwich limit: +{RATIO_LIMIT - 1:.2%}")
ax.set(xscale="log", yscale="log", xlabel="J", ylabel="cost of learning log Z: MSE ratio - 1 (%)",
       title="Task 13: the price of learning log Z (paired, +- s.e.)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Answer: the effect of $J$.** More samples help as the theory predicts: for large $J$ the MSE of the means
# falls as $1/J$. With $Z$ known it goes from 0.323 at $J = 100$ to 0.00474 at $J = 5000$ (Task 12). The
# sharper check is $J\cdot\text{MSE}$, which should level off at the sandwich limit 26.5: with 200 paired runs
# it is 26.2 ± 0.9 at $J = 1000$ and 26.1 ± 1.0 at $J = 5000$ (mean ± s.e.). Task 12's fitted slope,
# $-1.08 \pm 0.02$, is steeper than $-1$ for two reasons. Small $J$ pays extra: at $J = 100$,
# $J\cdot\text{MSE}$ is 33.9 ± 1.9 with $Z$ known and 43.2 ± 2.8 with $\log Z$ learned (200 runs), and all the
# failures occur there (2 and 4 of 50 in Task 12). And the 50-run points scatter: 31.7 ± 2.2 at $J = 1000$,
# where 200 runs give 26.2, lifts the middle of the fit.
#
# The limit is about twice ML's Cramér–Rao bound ($26.47/13.16 \approx 2.0$): with one noise point per data
# point and this noise, NCE extracts about half the information the likelihood would; how much it loses
# depends on the noise. $\hat Z$ improves faster than $1/J$ over this range (slope $-1.36 \pm 0.07$):
# $J\cdot\text{MSE}(\hat Z)$ falls from 644 ± 166 at $J = 100$ to 150 ± 23 at $J = 5000$, near its limit of 166.

# %% [markdown]
# **Answer: the price of learning $Z$.** Learning $\log Z$ costs accuracy in the means: much at small $J$, a
# little for good. On 200 paired runs the MSE ratio (log $Z$ learned / $Z$ known) is $1.275 \pm 0.048$ at
# $J = 100$, $1.018 \pm 0.003$ at $J = 1000$ and $1.006 \pm 0.001$ at $J = 5000$. It tends not to 1 (at
# $J = 5000$ it is six standard errors above 1) but to the sandwich value 1.0046: one more parameter estimated
# from the same data costs about 0.5% however large $J$ is. The cost is small because $\log Z$ is only weakly
# coupled to the means ($\partial G/\partial\log Z = -1$ everywhere, while $\partial G/\partial\mu_i$ changes
# sign across each component). At $J = 100$ learning $Z$ also fails more often: in all 11 runs where exactly one
# variant failed, it was the one with $\log Z$ learned (sign test $p = 2\cdot 2^{-11} = 0.00098$).
#
# Resolving the 0.5% needs the paired design: Task 12's separate MSEs at $J = 5000$, 0.00474 ± 0.00028 and
# 0.00476 ± 0.00028, differ by far less than their standard errors, and even its paired ratio over 50 runs,
# $1.003 \pm 0.002$, cannot tell 0.5% from nothing. What the 0.5% buys is $Z$ itself, a by-product of NCE
# (2.02% relative RMS error at $J = 1000$).

# %% [markdown]
# ## About this run
#
# Profile `full` on a CPU, one thread (the set-up cell prints the device and the library versions); the whole
# notebook ran in 139 s (`notebooks/timings.json`, 2026-12-04) beside other jobs (15-minute
# load average 2.4 on 2 cores), so the seconds in Task 4's and Task 6's timing tables depend on the load; their
# ratios carry over only roughly (an ML-MCMC iteration has cost 72 to 80 CD iterations in different runs, 78 in this one). No checkpoint is loaded: every estimate is computed in the notebook from fixed seeds.
# `benchmarks/bench_nce.py` times Task 12's fits with the analytic gradient beside finite differences, and
# `make verify NB=03` re-runs the notebook and checks that every printed line reproduces.
#
# The code lives in `helpers.estimation` (gradients, the estimation loops, the NCE objective, the asymptotic
# variances, the statistics used to compare methods); sampling reuses `helpers.distributions.GaussianMixture`
# and the project's MALA, `helpers.samplers.mala`. `tests/test_estimation.py` checks `E.contrastive_gradient`
# against autograd, and `tests/test_sandwich.py` checks `E.score_matching_objective` against autograd and the
# sandwich covariances against Monte Carlo (per-pair gradients, the objective's Hessian, repeated fits).
# The first code cell of Task 4 checks that MALA with the closed-form score gives the same chains as with
# autograd, and times both.
