# %% [markdown]
# # 03 — Contrastive divergence and noise-contrastive estimation
#
# Homework 3. A mixture of four unit-variance Gaussians at the corners of a 3 x 3 square is the
# model; its four means are the unknowns.
#
# * **Part I** estimates the means by gradient ascent on the log-likelihood, where the "model" half
#   of the gradient is an average over synthetic samples: exact samples of the current model (ML with
#   direct sampling), long MALA chains from a fixed Gaussian (ML with MCMC), or ten MALA steps from
#   the data (contrastive divergence). We compare what the three converge to, how fast (in iterations
#   and in seconds), and how noisy they are.
# * **Part II** estimates the means by noise-contrastive estimation (NCE): logistic regression
#   between the data and Gaussian noise, first with the normalising constant $Z$ known, then with
#   $\log Z$ as one more parameter, and measures how the error falls with the number of samples $J$.
#
# The code lives in `helpers.estimation` (gradients, the three estimation loops, the NCE objective
# and its gradient, the Task 12 matching rule, the paired NCE study, and the two statistics used to
# compare methods: Hotelling's joint $T^2$ test and the paired ratio of two MSEs); sampling reuses
# `helpers.distributions.GaussianMixture` and the project's MALA, `helpers.samplers.mala`.
# Every comparison between methods below states its uncertainty (a joint test, standard errors over
# repeated runs, or a paired design); a single run is called an observation.

# %% setup

# %%
import math
import os
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
# # Part I — Contrastive divergence
#
# ## Task 1 — Direct sampling: the real samples
#
# The mixture $p(x;\{\mu_i\}) = \frac14\sum_{i=1}^4 \mathcal N(x;\mu_i, I)$ is sampled exactly by
# picking a component uniformly and adding standard normal noise: `GaussianMixture.sample` (the same
# sampler notebook 01 uses). $J = 1000$ draws are the **real samples** for all of Part I.

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
# ## Task 2 — Sampling with MCMC (MALA)
#
# MALA proposes a Langevin step $\tilde x = x + \varepsilon \nabla_x \log p(x) + \sqrt{2\varepsilon}\,n$,
# $n\sim\mathcal N(0,I)$, and accepts it with the Metropolis–Hastings probability, so the chain leaves
# $p$ exactly invariant. The task's $\sqrt{2\varepsilon} = 0.1$ means a step size $\varepsilon = 0.005$.
# `helpers.samplers.mala` takes the initial points (one chain per row, all chains advanced together)
# and the chain length $L$, and needs only $\log p$ up to a constant; its score comes from autograd
# unless a closed form is passed, as here: $\nabla_x\log p(x) = \sum_i r_i(x)(\mu_i - x)/\sigma^2$
# (`GaussianMixture.score`, with the responsibilities $r_i$ defined below).
#
# Here: 100 chains started from $\mathcal N(1.5, 2)$ — **our reading: mean $(1.5, 1.5)$ and
# covariance $2I$, i.e. variance 2 (standard deviation $\sqrt2$) per coordinate** — run for
# $L = 1000$ steps, exactly as Task 4 will use them.

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
# ## The gradient of $\log p$ with respect to a mean
#
# With $a_i(x) = -\tfrac12\|x-\mu_i\|^2$ and $p(x) = \frac{1}{4\cdot 2\pi}\sum_k e^{a_k(x)}$,
#
# $$\nabla_{\mu_i}\log p(x;\{\mu_k\}) = \frac{e^{a_i(x)}\,\nabla_{\mu_i}a_i(x)}{\sum_k e^{a_k(x)}}
#   = r_i(x)\,\frac{x-\mu_i}{\sigma^2},\qquad r_i(x) = \frac{e^{a_i(x)}}{\sum_k e^{a_k(x)}},$$
#
# the responsibility of component $i$ for $x$ times the pull of $x$ on $\mu_i$ ($\sigma = 1$ here).
# The update of Tasks 3–5 is $\tilde\mu_i \leftarrow \tilde\mu_i + \eta\big(\langle r_i(x)(x-\tilde\mu_i)\rangle_{x}
# - \langle r_i(\tilde x)(\tilde x-\tilde\mu_i)\rangle_{\tilde x}\big)$ with $\eta = 1$
# (`E.contrastive_gradient`; `tests/test_estimation.py` checks it against autograd).
#
# Two remarks used below. (i) The normalising constant $4\cdot2\pi$ does not depend on the means, so
# $\mathbb E_{x\sim p_\mu}[\nabla_\mu\log p(x)] = \nabla_\mu\!\int p_\mu = 0$: with exact model samples the
# synthetic term is pure noise of mean zero, and ML with direct sampling is stochastic gradient ascent
# on the average log-likelihood of the real samples. (ii) Its fixed point is the maximum-likelihood
# estimate (MLE) of the means for these 1000 points, which EM computes exactly (`E.em_means`); the
# distance of an estimate to that MLE separates an algorithm's own error from the statistical error
# of having only 1000 samples.
#
# ## Convergence criterion (Tasks 3–5)
#
# The iterates are noisy (the synthetic term changes every step), so "the update is zero" never
# happens. We stop when the iterates **stop drifting**: the average of the last $W$ iterates differs
# from the average of the $W$ before it by less than $\text{tol} = 0.1$ in every coordinate
# (`E.has_converged`). The reported estimate is the average of the last $W$ iterates (it averages out
# the step-to-step noise). $W = 50$ for the two ML methods and $W = 500$ for CD: one CD update moves the
# chains only $L = 10$ steps of size $\varepsilon = 0.005$, so its gradient is of order
# $L\varepsilon = 0.05$ times the ML one, and a window of 50 CD iterates cannot tell a slow crawl out of
# a bad initialisation from convergence. (This is a stopping rule only; the methods' *noise* is compared
# below on equal windows.) Each run also has a cap on iterations. All three start from the same initial guess
# $\tilde\mu_i \sim U([0,3]^2)$ and use the same 1000 real samples.

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
# ## Task 3 — ML with direct sampling
#
# Each step draws 100 exact samples of the current model (`GaussianMixture.sample` with the current
# means) and takes the step above with $\eta = 1$.

# %%
# NBVAL_IGNORE_OUTPUT
W, cap = SETTINGS["ml-direct"]
fits["ml-direct"] = E.estimate_means("ml-direct", real, init, n_synthetic=100, eta=1.0, window=W, tol=TOL,
                                     max_iters=cap, true_means=TRUE, generator=utils.generator(3),
                                     show_progress=True)

# %% [markdown]
# ## Task 4 — ML with MCMC
#
# Each step runs 100 fresh MALA chains of $L = 1000$ steps from $\mathcal N((1.5,1.5), 2I)$ on the
# current model and uses their final states as $\tilde x$. (We read the task's $\mathcal N(1.5, 2)$ as
# mean 1.5 in each coordinate and **variance** 2, i.e. standard deviation $\sqrt2 \approx 1.41$; with 1000
# steps of $\varepsilon = 0.005$ a chain diffuses about $\sqrt{2\cdot 0.005\cdot 1000} \approx 3$, the
# spacing of the means, so the other reading, standard deviation 2, should change little.) This is 1000
# score evaluations of the model per parameter update. `E.estimate_means` hands MALA the mixture's
# closed-form score, so no step pays for autograd; the next cell times one iteration's 1000 MALA steps
# both ways, on the initial model, from the same starts and noise.

# %%
# NBVAL_IGNORE_OUTPUT
model0 = GaussianMixture(init, SIGMA)  # the initial guess: the model of the first ML-MCMC iteration
x0 = E.chains_init_gaussian(N_CHAINS, generator=utils.generator(40))
cpu, ends = {"autograd": [], "closed form": []}, {}
for _ in range(3):  # interleaved repeats, timed in this process's CPU seconds (other jobs inflate wall time)
    for name, score in (("autograd", None), ("closed form", model0.score)):
        c0 = time.process_time()
        ends[name] = samplers.mala(x0, model0.log_prob, STEP, L_MCMC, generator=utils.generator(41), score=score).samples
        cpu[name].append(time.process_time() - c0)
t_ag, t_cf = np.median(cpu["autograd"]), np.median(cpu["closed form"])
print(f"{L_MCMC} MALA steps of {N_CHAINS} chains (one ML-MCMC iteration's sampling), CPU seconds, median of 3 "
      f"interleaved repeats: score by autograd {t_ag:.2f} s, closed-form score {t_cf:.2f} s: {t_ag / t_cf:.1f}x faster, "
      f"{t_ag - t_cf:.2f} s saved per iteration (all repeats: {np.round(cpu['autograd'], 2).tolist()} and "
      f"{np.round(cpu['closed form'], 2).tolist()}). Same seed, largest difference between the final states "
      f"{(ends['autograd'] - ends['closed form']).abs().max():.1e}")

# %%
# NBVAL_IGNORE_OUTPUT
W, cap = SETTINGS["ml-mcmc"]
fits["ml-mcmc"] = E.estimate_means("ml-mcmc", real, init, n_synthetic=100, eta=1.0, chain_length=L_MCMC,
                                   step_size=STEP, window=W, tol=TOL, max_iters=cap, true_means=TRUE,
                                   generator=utils.generator(4), show_progress=True)

# %% [markdown]
# ## Task 5 — Contrastive divergence
#
# Each step picks 100 of the real samples at random, runs $L = 10$ MALA steps from them on the current
# model, and contrasts the gradient averaged over those 100 real samples with the one averaged over
# where their chains ended.

# %%
# NBVAL_IGNORE_OUTPUT
W, cap = SETTINGS["cd"]
fits["cd"] = E.estimate_means("cd", real, init, n_synthetic=100, eta=1.0, chain_length=10, step_size=STEP,
                              window=W, tol=TOL, max_iters=cap, true_means=TRUE,
                              generator=utils.generator(5), show_progress=True)

# %% [markdown]
# ## Task 6 — Results and convergence
#
# Estimates (the average of each run's last $W$ iterates), matched to the true means, and each
# method's final synthetic samples.

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
# Convergence: the RMS distance of each iterate to the true means (best one-to-one matching), against
# the iteration and against wall-clock time. The dotted line is the MLE's own error: the floor that
# 1000 samples allow.

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
      f"{fits['ml-mcmc'].seconds[-1] / fits['cd'].seconds[-1]:.1f}x the total time; "
      f"load average (1, 5, 15 min) {tuple(round(v, 1) for v in os.getloadavg())} on {os.cpu_count()} cores")

# %% [markdown]
# ## Is CD's fixed point the MLE? Two joint tests
#
# At the MLE the exact log-likelihood gradient is zero, and so is the expected ML step with direct samples
# (remark (i)). CD's expected step there need not be. Each of the two experiments below gives $n$
# independent draws of an 8-vector (the four means' coordinates), and we test all 8 coordinates **jointly**
# with the one-sample Hotelling $T^2$ test (`E.hotelling_t2`): with $\bar d$ the mean draw minus the value
# under the null hypothesis and $S$ the draws' sample covariance,
#
# $$T^2 = n\,\bar d^\top S^{-1}\bar d,\qquad \frac{n-p}{p(n-1)}\,T^2 \sim F_{p,\,n-p}\quad\text{under } H_0,$$
#
# with $p = 8$ (exact for Gaussian draws; ours are averages, close to Gaussian). Looking at the largest of the
# 8 per-coordinate $z$-scores instead would be 8 tests at once: for independent coordinates with no effect,
# $P(\max_k |z_k| \ge 2.5) = 1 - (1 - 0.0124)^8 \approx 0.095$, since $P(|z| \ge 2.5) = 0.0124$. The effect
# size is $\sqrt{\bar d^\top S^{-1}\bar d}$ (the Mahalanobis distance of the mean from the null value, in
# units of one draw's spread) and, in the units of this notebook, the RMS distance per mean, $\|\bar d\|/2$.
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
# *(b) Where the iterates settle.* $R$ runs of each method started *at the MLE*, each with its own noise,
# $T$ iterations with the stopping rule switched off (`tol=0`); each run's estimate is the average of its
# last $W$ iterates, the same $W$ for both methods. The test is on the estimates minus the MLE: if the MLE
# were CD's fixed point, the runs' estimates would scatter around it. (Against the *true* means every method
# would be "biased" here, because all runs share one data set whose MLE is itself 0.118 from the truth; that
# comparison would need a fresh data set per run, and asks a different question, CD's consistency.) A second
# joint test checks the burn-in: the mean of each window's second half minus that of its first half should be
# zero if the runs had settled. The same runs measure the noise of the iterates on equal windows.

# %%
# NBVAL_IGNORE_OUTPUT
R_RUNS, T_RUN, W_RUN = scaled(20, 10), scaled(800, 40), scaled(500, 20)
g_rep = utils.generator(7)
reps = {m: [E.estimate_means(m, real, mle, SIGMA, n_synthetic=100, chain_length=10, step_size=STEP, window=W_RUN,
                             tol=0.0, max_iters=T_RUN, generator=g_rep)
            for _ in utils.progress(range(R_RUNS), desc=m)] for m in ("ml-direct", "cd")}

# %%
spread, sd_run = {}, {}
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
    print(f"    drift inside the window (second half's mean - first half's): norm {np.linalg.norm(res_drift.mean_diff):.4f}, "
          f"joint test against no drift p = {res_drift.p_value:.2g}")
    sd_run[m] = est.std(0, ddof=1).mean()
diff = spread["cd"].mean() - spread["ml-direct"].mean()
se = math.hypot(*(v.std(ddof=1) / math.sqrt(len(v)) for v in spread.values()))
print(f"iterate std, CD minus ML direct, equal windows of {W_RUN}: {diff:+.4f} +- {se:.4f} ({diff / se:.1f} s.e.); "
      f"sd of one run's estimate, CD / ML direct: {sd_run['cd'] / sd_run['ml-direct']:.1f}x")

# %% [markdown]
# **Discussion (Task 6).**
#
# *What they converge to.* All three end near the same point: RMS errors to the true means of 0.161
# (ML, direct), 0.145 (ML, MCMC) and 0.142 (CD), against 0.118 for the exact MLE of the same 1000 samples;
# their distances to that MLE are 0.048, 0.049 and 0.068 (one run each). Most of the error to the true
# means is the statistical error of having 1000 samples, which no algorithm removes. What is left differs in
# kind: for the two ML runs it is noise that an average over 50 iterates does not remove; for CD it is mostly
# a systematic displacement, which the two tests above measure (below).
#
# *Convergence in iterations.* The two ML variants follow almost the same curve: first within 0.3 of the
# truth at iterations 30 (direct) and 34 (MCMC), stopped by the criterion at 130 and 134. So 1000 MALA steps
# from $\mathcal N((1.5,1.5), 2I)$ give samples as useful as exact ones here (Task 2: acceptance 0.9999,
# final states spread 24/22/31/23 over the four quadrants). CD needs 328 iterations to get within 0.3, and
# the criterion stopped it at 1408. Its long plateau near the initial error is the time it takes to pull the
# two nearly coincident initial means, (1.209, 2.204) and (1.191, 2.263), apart and send one of them to
# (0, 0). The slowness comes from the gradient: the chains start at the data and move only 10 steps of
# $\varepsilon = 0.005$ (about $\sqrt{2\cdot 0.005\cdot 10}\approx 0.3$), so
# $\langle\nabla\log p\rangle_{x} - \langle\nabla\log p\rangle_{\tilde x}$ only measures how far the samples
# drift in those few steps, which is much smaller than the full ML gradient, far from the optimum too.
#
# *Cost per step and wall time* (one run each, on a machine shared with other jobs: load average about
# 9 on its 2 cores, so the seconds are inflated several times and are observations; the ratios between
# methods carry over better). One iteration took 1.51 ms with direct sampling (one exact draw of 100
# points), 6.61 ms for CD (10 MALA steps) and 556 ms for ML with MCMC (1000 MALA steps). ML with
# MCMC took 84 times CD's time per iteration, 10.3 times its time to first get within 0.3
# (20.5 s against 2.0 s) and 8.0 times its total time (74.5 s against 9.3 s):
# CD needs many more iterations (328 against 34 to reach 0.3), but each costs so much less that it wins in
# time. ML with direct sampling needed 0.2 s in all; it wins only because this model can be sampled
# exactly. For an energy-based model it cannot, and the choice is between long chains (ML with MCMC:
# accurate, expensive) and short ones (CD: cheap, more iterations, and a different fixed point, below).
# MALA uses the mixture's closed-form score: in Task 4's timing cell one iteration's 1000 MALA steps took
# 0.19 CPU seconds with the score by autograd and 0.13 s with the closed form (medians of 3 interleaved
# repeats: 1.4x faster, 0.06 s saved per iteration; one measurement on a loaded machine), with the
# same final states to 4.8e-07. So an iteration of ML with MCMC costs about 0.13 s of CPU for its sampling;
# the 556 ms of wall time above is mostly the load's doing. What remains is evaluating a four-component mixture on 100 points 1000 times:
# tensors so small that per-call overhead dominates.
#
# *Is CD's fixed point the MLE?* No: both joint tests find a difference, and it is small against the
# statistical error. (a) At the MLE the control's mean step is indistinguishable from zero (2000 steps,
# $T^2 = 9.1$, $F(8, 1992) = 1.14$, $p = 0.33$), as it must be; CD's is not ($T^2 = 29.7$, $F(8, 1992) = 3.69$,
# $p = 0.00027$), though it is tiny: 0.0017 in norm, a Mahalanobis distance of 0.122 of one step's spread
# (the control's 0.068 is the noise level of that measure). (b) Started at the MLE, the 20 CD runs settle away
# from it: their estimates minus the MLE average 0.1295 in norm, 0.0647 RMS per mean ($T^2 = 125.4$,
# $F(8, 12) = 9.90$, $p = 0.0003$), with no drift left inside the averaging window (its second half against its
# first: $p = 0.22$); the 20 ML runs with direct samples stay on it (0.0034 per mean,
# $p = 0.5$). So CD's fixed point lies about 0.065 per mean from the MLE, about half the MLE's own statistical
# error (0.118). It is not further from the truth: the CD runs' average estimate is 0.115 from the true means,
# the MLE 0.118. With one data set this shows that CD converges to a *different* estimate, not a worse one;
# whether CD is less accurate on average would need repeats over fresh data sets. The reason: near the
# optimum, a few small Langevin steps from the data change $\langle\nabla_\mu\log p\rangle$ by about
# $\varepsilon$ times a Stein-type operator applied to it, whose data average is zero for the *score-matching*
# estimate rather than for the MLE. CD with short Langevin chains approximates score matching (Hyvärinen,
# 2007): another consistent estimator, which on 1000 points differs from the MLE by an amount of the order of
# the statistical error. The difference would grow with a misspecified model, and CD cannot see modes of the
# model far from the data, because chains that start at the data and take 10 small steps never reach them.
#
# *Variance, on equal windows.* CD's single steps are smaller than ML's (RMS of one step at the MLE 0.0418,
# against 0.1160 for ML with direct samples), because both of CD's averages use the same 100 points, before
# and after their short chains, and much of the noise cancels. But CD's restoring force is weaker still (its
# gradient is of order $L\varepsilon$ times the ML one), so its iterates wander more, and more slowly. Over
# equal windows of 500 iterates (20 runs of each method from the MLE) the iterate std is 0.0787 ± 0.0013 for
# CD against 0.0718 ± 0.0004 for ML with direct samples (difference 0.0070 ± 0.0014, 5.0 s.e.); and since CD's
# iterates stay correlated far longer, the average of a 500-iterate window varies 5.0 times as much from run
# to run (0.0523 against 0.0104 per coordinate). A short window hides this: over the last 50 iterates of the
# single runs the std is 0.043 for CD against 0.064 and 0.061 for the two ML variants, because 50 CD iterates
# see only a short stretch of its slow wander. For ML with direct samples the synthetic term is all noise (its
# mean is zero, as derived above): in this normalised problem the 100 exact samples add variance and no signal.
#
# *Final samples.* The synthetic samples of both ML variants are samples of the fitted model, spread over
# the four clusters like the data. CD's final samples are 100 real points moved by 10 small steps: they look
# like the data whatever the model is, so they say nothing about how good the model is.

# %% [markdown]
# # Part II — Noise-contrastive estimation
#
# ## Task 7 — The value of $Z$
#
# $p_m(x) = \frac1Z\sum_{i=1}^N \exp\{-\|x-\mu_i\|^2/(2\sigma^2)\}$ integrates to one when
#
# $$Z = \sum_{i=1}^N \int_{\mathbb R^2} e^{-\|x-\mu_i\|^2/(2\sigma^2)}\,dx = N\,(2\pi\sigma^2)^{d/2}
#   = N\,2\pi\sigma^2 \quad (d = 2),$$
#
# each term being a Gaussian integral that does not depend on where $\mu_i$ is. With $N = 4$,
# $\sigma = 1$: $Z = 8\pi \approx 25.13$, $\log Z \approx 3.224$. Then $p_m$ is exactly the equal-weight
# mixture of Part I.

# %%
Z_TRUE = math.exp(E.log_partition(4, SIGMA))
print(f"Z = 8 pi = {Z_TRUE:.4f}, log Z = {math.log(Z_TRUE):.4f}")

# %% [markdown]
# ## Task 8 — Data
#
# $J = 1000$ samples of $p_m$ with the true means (the Task 1 sampler, a fresh seed).
#
# ## The NCE objective, written so it cannot overflow, and its gradient
#
# With $G(u) = \log p_m(u) - \log p_n(u)$ the classifier is $h(u) = \frac{p_m}{p_m+p_n} = \mathrm{sigmoid}(G(u))$
# and $1-h = \mathrm{sigmoid}(-G)$, so the (negated, divided by $J$) objective is
#
# $$\mathcal L(\theta) = -\frac1J\sum_{j=1}^J\Big[\log\mathrm{sigmoid}\,G(x_j) + \log\mathrm{sigmoid}(-G(y_j))\Big],$$
#
# evaluated with `scipy.special.log_expit` (stable for any $G$; $\log p_m$ itself with a
# log-sum-exp). Dividing by $J$ does not move the optimum and keeps BFGS's gradient tolerance meaningful
# for every $J$. Since $\frac{d}{dG}\log\mathrm{sigmoid}(\pm G) = \pm\,\mathrm{sigmoid}(\mp G)$,
# $\nabla_{\mu_i}G(u) = r_i(u)(u-\mu_i)/\sigma^2$ and $\partial G/\partial\log Z = -1$:
#
# $$\nabla_{\mu_i}\mathcal L = -\frac1{J\sigma^2}\Big[\sum_j (1-h(x_j))\,r_i(x_j)(x_j-\mu_i) - \sum_j h(y_j)\,r_i(y_j)(y_j-\mu_i)\Big],\qquad
#   \frac{\partial\mathcal L}{\partial\log Z} = \frac1J\Big[\sum_j (1-h(x_j)) - \sum_j h(y_j)\Big].$$
#
# `E.NCEProblem.objective_and_grad` computes both for all $2J$ points at once (one matrix product for
# the distances), and `scipy.optimize.minimize(method="BFGS", jac=True)` uses them. Task 10 learns
# $c = \log Z$ rather than $Z$: it keeps $Z>0$ without constraints and makes the problem better scaled;
# its initial value is $\log$ of a draw from $U([0.1, 1])$, as the task asks for $Z$. (The true $Z = 25.1$
# is far outside that interval; the optimiser has to travel $\log(25.1/0.55)\approx 3.8$ in $\log Z$.)

# %%
rng = np.random.default_rng(8)
J = 1000
x_nce = mix.sample(J, utils.generator(8)).numpy().astype(float)
NOISE_MEAN, NOISE_SIGMA = (1.0, 1.0), 2.0

# %% [markdown]
# ## Task 9 — NCE with $Z$ known
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
# ## Task 10 — NCE with $Z$ unknown
#
# Same data and noise; initial means from $U([0,3]^2)$ and $Z$ from $U([0.1,1])$; parameters: the means
# and $\log Z$.

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
# ## Task 11 — The two fits, visually

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
# ## Task 12 — Accuracy against $J$
#
# For $J = 100\times[1, 5, 10, 20, 30, 50]$, 50 runs each, every run with fresh data, fresh noise and a
# fresh initial guess (`E.nce_study`), for Task 9's and Task 10's variants: 600 BFGS fits. The design is
# **paired**: run $k$ fits both variants to the same data and noise from the same initial means (Task 10
# adds its initial $Z$), so the difference between the variants is not confounded with the draws.
#
# * **MSE of the means**: each estimate is matched to its *nearest* true mean and the run's error is
#   the mean over the four estimates of the squared Euclidean distance to it; the MSE averages that
#   over the runs.
# * **Failure rule, as stated**: if two estimates have the same nearest true mean, the run is a failure;
#   it is counted and left out of every average (of the means and of $Z$).
# * **MSE of $Z$** (Task 10 only): $(\hat Z - 8\pi)^2$ averaged over the successful runs.
#
# (`benchmarks/bench_nce.py` times these 600 fits with the analytic gradient beside BFGS with
# finite-difference gradients.)

# %%
# NBVAL_IGNORE_OUTPUT
SIZES = scaled([100 * k for k in (1, 5, 10, 20, 30, 50)], [100, 500, 1000])
RUNS = scaled(50, 3)
cpu0 = time.process_time()
studies = E.nce_study(SIZES, RUNS, TRUE, seed=12, noise_mean=NOISE_MEAN, noise_sigma=NOISE_SIGMA, show_progress=True)
print(f"{2 * len(SIZES) * RUNS} fits in {sum(s.seconds for s in studies.values()):.1f} s wall-clock, "
      f"{time.process_time() - cpu0:.1f} s of CPU time (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")

# %%
print("MSE +- its standard error over the successful runs; failures = failed runs / runs")
print(f"{'J':>5s} | {'MSE means, Z known':>20s} {'failures':>8s} | {'MSE means, Z learned':>20s} "
      f"{'failures':>8s} | {'MSE of Z':>15s} {'median':>7s} {'rel. RMSE Z':>11s}")
rows = {learn: s.summary() for learn, s in studies.items()}
for a, b in zip(rows[False], rows[True]):
    print(f"{a['J']:5d} | {a['mse_means']:10.5f} +- {a['se_means']:.5f} {a['failures']:4d}/{a['runs']:<3d} | "
          f"{b['mse_means']:10.5f} +- {b['se_means']:.5f} {b['failures']:4d}/{b['runs']:<3d} | "
          f"{b['mse_z']:7.4f} +- {b['se_z']:.4f} {b['median_z']:7.4f} {math.sqrt(b['mse_z']) / Z_TRUE:11.2%}")

# %%
def loglog_slope(js, values, ses):
    """Slope of log(value) against log(J) and its standard error, by least squares weighted with each
    point's standard error on the log scale (se / value)."""
    js, values, ses = (np.asarray(v, float) for v in (js, values, ses))
    ok = np.isfinite(values) & np.isfinite(ses) & (ses > 0)
    coef, cov = np.polyfit(np.log(js[ok]), np.log(values[ok]), 1, w=values[ok] / ses[ok], cov="unscaled")
    return float(coef[0]), float(np.sqrt(cov[0, 0]))

fig, axes = plotting.subplots(2, size=5.3)
slopes = {}
for learn, style in ((False, dict(c="tab:blue", marker="o")), (True, dict(c="tab:red", marker="s"))):
    r = rows[learn]
    js = [row["J"] for row in r]
    mse = np.array([row["mse_means"] for row in r])
    slopes[learn] = loglog_slope(js, mse, [row["se_means"] for row in r])
    label = f"{'log Z learned (Task 10)' if learn else 'Z known (Task 9)'}: slope {slopes[learn][0]:.2f}"
    axes[0].plot(js, mse, label=label, **style)
    for j, v, row in zip(js, mse, r):
        axes[0].annotate(f"{row['failures']}", (j, v), textcoords="offset points",
                         xytext=(4, 6 if learn else -12), color=style["c"], fontsize=8)
ref = rows[False][0]["mse_means"] * SIZES[0] / np.asarray(SIZES)
axes[0].plot(SIZES, ref, ls=":", c="k", label="$\\propto 1/J$")
axes[0].set(xscale="log", yscale="log", xlabel="J (data points = noise points)", ylabel="MSE of the means",
            title=f"Task 12: MSE of the means (numbers: failed runs of {RUNS})")
axes[0].legend(fontsize=8)
mse_z = np.array([row["mse_z"] for row in rows[True]])
se_z = np.array([row["se_z"] for row in rows[True]])
slopes["z"] = loglog_slope(SIZES, mse_z, se_z)
axes[1].plot(SIZES, mse_z, c="tab:red", marker="s", label=f"MSE of Z: slope {slopes['z'][0]:.2f}")
axes[1].plot(SIZES, mse_z[0] * SIZES[0] / np.asarray(SIZES), ls=":", c="k", label="$\\propto 1/J$")
for j, v, row in zip(SIZES, mse_z, rows[True]):
    axes[1].annotate(f"{row['failures']}", (j, v), textcoords="offset points", xytext=(4, 6), color="tab:red", fontsize=8)
axes[1].set(xscale="log", yscale="log", xlabel="J", ylabel="$(\\hat Z - 8\\pi)^2$, mean over successful runs",
            title="Task 12: MSE of Z (Task 10)")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()
print("slopes of log MSE against log J (+- s.e., weighted by each point's s.e.): "
      + ", ".join(f"{name} {slopes[k][0]:.2f} +- {slopes[k][1]:.2f}"
                  for k, name in ((False, "Z known"), (True, "log Z learned"), ("z", "Z itself"))))
paired12 = E.paired_mse_ratios(studies[False], studies[True])
print("paired MSE(log Z learned) / MSE(Z known) per J, +- s.e. (runs where neither failed):",
      ", ".join(f"{r['J']}: {r['ratio']:.3f} +- {r['se']:.3f}" for r in paired12))
big = [r["J"] for r in rows[True]].index(500) if 500 in SIZES else 0
print(f"slopes from J = {SIZES[big]} on: " + ", ".join(
    "{} {:.2f} +- {:.2f}".format(name, *loglog_slope(SIZES[big:], v[big:], e[big:])) for name, v, e in (
        ("Z known", [r["mse_means"] for r in rows[False]], [r["se_means"] for r in rows[False]]),
        ("log Z learned", [r["mse_means"] for r in rows[True]], [r["se_means"] for r in rows[True]]),
        ("Z itself", mse_z, se_z))))
print("failures, Z known:", [r["failures"] for r in rows[False]], "| log Z learned:", [r["failures"] for r in rows[True]])

# %% [markdown]
# ## Task 13 — The price of learning $Z$, measured on paired draws
#
# The price of learning $\log Z$ is the ratio of two MSEs. Measured on the same draws, both variants'
# errors move together from run to run (a run with an unlucky data set is bad for both), so the ratio is
# far more precise than two independent studies allow. With $a_k$ and $b_k$ the squared errors of run $k$
# with $\log Z$ learned and with $Z$ known, $\hat R = \bar a/\bar b$ and its delta-method standard error is
#
# $$\operatorname{se}(\hat R) = \frac{\operatorname{sd}(a_k - \hat R\,b_k)}{\sqrt n\;\bar b}\qquad(\texttt{E.paired\_ratio}),$$
#
# over the $n$ runs where neither variant failed. Task 12's 50 paired runs per $J$ (printed above) give
# $1.324 \pm 0.148$ at $J = 100$, $1.027 \pm 0.007$ at $J = 1000$ and $1.003 \pm 0.002$ at $J = 5000$: enough
# to see a cost of a few per cent at $J = 1000$, not to tell a cost of a few tenths of a per cent at $J = 5000$
# from none. The standard error falls as $1/\sqrt n$, so 200 runs halve it: the next cells repeat the paired
# design with 200 fresh runs (seed 14) at $J = 100$, 1000 and 5000 (1200 fits). Failures are compared on the
# same pairs: only runs where exactly one variant failed say which fails more often (an exact sign test on
# those discordant runs, `scipy.stats.binomtest`).

# %%
# NBVAL_IGNORE_OUTPUT
SIZES13, RUNS13 = scaled([100, 1000, 5000], [100, 1000]), scaled(200, 4)
studies13 = E.nce_study(SIZES13, RUNS13, TRUE, seed=14, noise_mean=NOISE_MEAN, noise_sigma=NOISE_SIGMA,
                        show_progress=True)
print(f"{2 * len(SIZES13) * RUNS13} fits in {sum(s.seconds for s in studies13.values()):.1f} s wall-clock")

# %%
paired13 = E.paired_mse_ratios(studies13[False], studies13[True])
print(f"{RUNS13} paired runs per J; the MSEs over the runs where neither variant failed")
for r in paired13:
    j = r["J"]
    fk, fl = studies13[False].failed[j], studies13[True].failed[j]
    ok = ~(fk | fl)
    only_k, only_l = int((fk & ~fl).sum()), int((fl & ~fk).sum())
    sign_p = stats.binomtest(only_k, only_k + only_l).pvalue if only_k + only_l else float("nan")
    print(f"J = {j:5d}: MSE Z known {studies13[False].mse_means[j][ok].mean():.5f}, log Z learned "
          f"{studies13[True].mse_means[j][ok].mean():.5f}; ratio {r['ratio']:.3f} +- {r['se']:.3f} "
          f"(cost {r['ratio'] - 1:+.1%}, {(r['ratio'] - 1) / r['se']:.1f} s.e.; {r['runs_used']} of {r['runs']} runs)")
    print(f"           failures: Z known only {only_k}, log Z learned only {only_l}, both {int((fk & fl).sum())}"
          f" (sign test p = {sign_p:.2g})")
se12 = {r["J"]: r["se"] for r in paired12}
print("s.e. of the ratio with 50 runs (Task 12) -> with", RUNS13, "runs:",
      ", ".join(f"J = {r['J']}: {se12.get(r['J'], float('nan')):.3f} -> {r['se']:.3f}" for r in paired13))

# %% [markdown]
# ## Task 13 — Discussion
#
# **How $J$ affects the accuracy.** Both estimators behave like consistent estimators whose error falls
# about as $1/J$: the slopes of $\log\text{MSE}$ against $\log J$ (least squares weighted by each point's
# standard error) are $-1.08 \pm 0.02$ ($Z$ known) and $-1.15 \pm 0.03$ ($\log Z$ learned), against the $-1$ of
# the dotted line. From $J = 100$ to $J = 5000$ the MSE of the means falls from 0.323 to 0.00474 with $Z$ known
# and from 0.416 to 0.00476 with $\log Z$ learned. The slopes are steeper than $-1$, and stay so from
# $J = 500$ on ($-1.13 \pm 0.04$ and $-1.15 \pm 0.04$): over this range the MSE still carries a term that falls
# faster than $1/J$ (at $J = 500$ it is 0.0596, more than ten times the 0.00474 of $J = 5000$): the $1/J$
# law is asymptotic. At $J = 100$ an MSE of 0.3–0.4 is a third of the
# components' own variance $\sigma^2 = 1$: far from asymptotic. Small $J$ is also where the failures
# (two estimates sharing a nearest true mean) are: at $J = 100$, 2 of 50 runs with $Z$ known and 4 of 50 with
# $\log Z$ learned in Task 12, and in Task 13's 200 paired runs 11 failed with $\log Z$ learned only, none with
# $Z$ known only and 2 with both (sign test $p = 0.00098$): at $J = 100$ learning $Z$ makes a failure more
# likely. No run failed at any $J \ge 500$. $Z$ itself is estimated better and better too: the MSE of $\hat Z$
# goes from 6.44 at $J = 100$ (a relative RMS error of 10.10%) to 0.0299 at $J = 5000$ (0.69%). Its slope,
# $-1.36 \pm 0.07$ overall and $-1.33 \pm 0.11$ from $J = 500$ on, is steeper than $1/J$ over this range: the
# error in $Z$ is still falling faster than its asymptotic rate. The $J = 100$ point is also inflated by a few
# poor fits (median squared error 2.84 against the mean 6.44).
#
# **The price of estimating $Z$.** Measured on paired draws, learning $\log Z$ costs accuracy in the means,
# and the cost shrinks as $J$ grows. With 200 paired runs the MSE ratio (log $Z$ learned / $Z$ known) is
# $1.275 \pm 0.048$ at $J = 100$ (+27.5%, 5.8 s.e.), $1.018 \pm 0.003$ at $J = 1000$ (+1.8%, 5.6 s.e.) and
# $1.006 \pm 0.001$ at $J = 5000$ (+0.6%, 4.1 s.e.); Task 12's 50 paired runs per $J$ agree (1.324 ± 0.148,
# 1.055 ± 0.013, 1.027 ± 0.007, 1.009 ± 0.005, 1.008 ± 0.003 and 1.003 ± 0.002 for $J = 100$ to 5000). So
# there is a cost at every $J$ we measured: large at $J = 100$ (where learning $Z$ also fails more often), a
# few per cent at $J = 500$–$1000$, under 1% from $J = 2000$ on. Two independent studies could not have shown
# this: the per-variant standard errors in Task 12's table are far larger than the differences between the
# variants (0.00474 ± 0.00028 against 0.00476 ± 0.00028 at $J = 5000$). The single fits of Tasks 9 and 10 on
# the same data and noise are one paired observation of the same kind: means with MSE 0.0227 and 0.0228, and
# $\hat Z = 24.876$ against $8\pi = 25.133$ ($-1.02\%$) from $Z_0 = 0.720$.
#
# Why the cost is small: fixing $Z$ at its true value is extra information, and NCE is maximum likelihood for
# the data-versus-noise labels, so a true constraint can only help; but the one extra parameter is only
# weakly coupled to the eight means: $\partial G/\partial\log Z = -1$ is the same at every point, while
# $\partial G/\partial\mu_i$ changes sign across each component, so the data pin down $\log Z$ almost
# independently of where the means are. The ratios approach 1 as $J$ grows, so most of the cost we measured is
# a small-sample effect. The practical point of Task 10 is that NCE does not need $Z$ at all: it estimates
# the normalising constant of an unnormalised model as a by-product, with a relative RMS error of 2.02% at
# $J = 1000$ and 1.33% at $J = 2000$, for a cost in the MSE of the means of $+1.8 \pm 0.3\%$ at $J = 1000$
# and $+0.6 \pm 0.1\%$ at $J = 5000$.

# %%
# NBVAL_IGNORE_OUTPUT
print(f"this kernel used {time.process_time():.0f} s of CPU time in all; load average (1, 5, 15 min): "
      f"{tuple(round(v, 1) for v in os.getloadavg())} on {os.cpu_count()} cores "
      f"(the notebook's wall time is in notebooks/timings.json)")
