"""HW3: estimating the means of an isotropic Gaussian mixture by maximum likelihood (direct or MCMC
samples), contrastive divergence, and noise-contrastive estimation (NCE).

Part I (ML / CD) is torch: the model term is sampled with `GaussianMixture.sample` or with the
project's MALA (`helpers.samplers.mala`). Part II (NCE) is numpy/scipy: a vectorized objective
written with log-sigmoid and its analytic gradient, minimised with `scipy.optimize.minimize`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats
from scipy.optimize import linear_sum_assignment, minimize
from scipy.special import expit, log_expit

from . import utils
from .distributions import GaussianMixture
from .samplers import mala
from .utils import progress

Tensor = torch.Tensor
METHODS = ("ml-direct", "ml-mcmc", "cd")


# ----------------------------------------------------------------------------- Part I: gradients

def grad_log_p_means(x: Tensor, means: Tensor, sigma: float = 1.0) -> Tensor:
    """Per-sample grad_{mu_i} log p(x; {mu}) = r_i(x) (x - mu_i) / sigma^2, shape (n, M, d)."""
    r = GaussianMixture(means, sigma).responsibilities(x)  # (n, M)
    return r[:, :, None] * (x[:, None, :] - means[None].to(x)) / sigma ** 2


def mean_grad_log_p_means(x: Tensor, means: Tensor, sigma: float = 1.0) -> Tensor:
    """<grad_{mu_i} log p(x)>_x averaged over the samples, shape (M, d)."""
    return grad_log_p_means(x, means, sigma).mean(0)


def contrastive_gradient(real: Tensor, synthetic: Tensor, means: Tensor, sigma: float = 1.0) -> Tensor:
    """The ML / CD ascent direction <grad log p>_real - <grad log p>_synthetic, shape (M, d)."""
    return mean_grad_log_p_means(real, means, sigma) - mean_grad_log_p_means(synthetic, means, sigma)


# ----------------------------------------------------------------------------- matching to the truth

def nearest_true(estimates, true_means) -> np.ndarray:
    """Index of the nearest true mean for each estimate, shape (M_est,)."""
    est, tru = np.asarray(estimates, float), np.asarray(true_means, float)
    if est.ndim != 2 or tru.ndim != 2 or est.shape[1] != tru.shape[1]:
        raise ValueError(f"estimates and true means must be (M, d) arrays with the same d, "
                         f"got {est.shape} and {tru.shape}")
    return ((est[:, None] - tru[None]) ** 2).sum(-1).argmin(1)


def match_nearest(estimates, true_means) -> tuple[float, bool]:
    """HW3 Task 12's rule: (MSE to the nearest true mean, failed).

    Each estimate is matched to its nearest true mean; the MSE is the mean over estimates of the
    squared Euclidean distance to it. If two estimates pick the same true mean the run failed
    (its MSE is returned as nan, so it cannot enter an average by mistake).
    """
    est, tru = np.asarray(estimates, float), np.asarray(true_means, float)
    idx = nearest_true(est, tru)
    if len(np.unique(idx)) < len(idx):
        return float("nan"), True
    return float(((est - tru[idx]) ** 2).sum(-1).mean()), False


def assignment_error(estimates, true_means) -> float:
    """RMS distance to the true means under the best one-to-one matching (label switching removed)."""
    est, tru = np.asarray(estimates, float), np.asarray(true_means, float)
    cost = ((est[:, None] - tru[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].mean()))


# ----------------------------------------------------------------------------- Part I: the loops

@dataclass
class MeansFit:
    """One run of ML / CD: the iterates, their wall-clock times and errors, and the final samples."""
    method: str
    means: Tensor  # the estimate: the average of the last `window` iterates, (M, d)
    history: Tensor  # every iterate, (iterations + 1, M, d); history[0] is the initial guess
    seconds: np.ndarray  # cumulative wall time after each iterate (0 for the initial guess)
    errors: np.ndarray  # assignment_error of each iterate to the true means (when given)
    samples: Tensor  # the last synthetic samples
    iterations: int
    converged: bool
    acceptance: list[float] = field(default_factory=list)  # MALA acceptance rate per iteration


def chains_init_gaussian(n: int, mean: float = 1.5, variance: float = 2.0, d: int = 2,
                         generator: torch.Generator | None = None, device=None) -> Tensor:
    """HW3 Task 4's chain starts x0 ~ N(mean * 1, variance * I), shape (n, d), on `device`."""
    return mean + math.sqrt(variance) * utils.randn(n, d, generator=generator, device=device)


def has_converged(history: list[Tensor], window: int, tol: float) -> bool:
    """Stationarity test: the mean of the last `window` iterates and the mean of the `window` before
    differ by less than `tol` in every coordinate (the drift has stopped; only noise is left)."""
    if len(history) < 2 * window + 1:
        return False
    last = torch.stack(history[-window:]).mean(0)
    before = torch.stack(history[-2 * window:-window]).mean(0)
    return bool((last - before).abs().max() < tol)


def synthetic_batch(method: str, real: Tensor, means: Tensor, sigma: float = 1.0, n_synthetic: int = 100,
                    chain_length: int | None = None, step_size: float = 0.005,
                    generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, float | None]:
    """One step's (real batch, synthetic samples, MALA acceptance or None) for `method` (see estimate_means).

    MALA uses the mixture's closed-form score (`GaussianMixture.score`), not autograd."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if chain_length is None:
        chain_length = {"ml-direct": 0, "ml-mcmc": 1000, "cd": 10}[method]
    model = GaussianMixture(means, sigma)
    if method == "ml-direct":
        return real, model.sample(n_synthetic, generator), None
    if method == "ml-mcmc":
        x0 = chains_init_gaussian(n_synthetic, d=means.shape[1], generator=generator, device=real.device)
        out = mala(x0, model.log_prob, step_size, chain_length, generator=generator, score=model.score)
        return real, out.samples, out.acceptance_rate
    idx = utils.randperm(len(real), generator=generator)[:n_synthetic]
    out = mala(real[idx], model.log_prob, step_size, chain_length, generator=generator, score=model.score)
    return real[idx], out.samples, out.acceptance_rate


def estimate_means(method: str, real: Tensor, init: Tensor, sigma: float = 1.0, n_synthetic: int = 100,
                   eta: float = 1.0, chain_length: int | None = None, step_size: float = 0.005,
                   max_iters: int = 1000, window: int = 50, tol: float = 0.1, true_means=None,
                   generator: torch.Generator | None = None, show_progress: bool = False) -> MeansFit:
    """Estimate the means by gradient ascent mu <- mu + eta (<g>_real - <g>_synthetic), g = grad_mu log p.

    method 'ml-direct': synthetic = n_synthetic exact samples of the current model (Task 3);
    'ml-mcmc': MALA chains of `chain_length` (default 1000) steps from N(1.5, 2 I) (Task 4);
    'cd': n_synthetic real samples drawn at random start MALA chains of `chain_length` (default 10)
    steps, and the real term averages over those same samples (Task 5). MALA's step size is
    step_size (sqrt(2 step_size) = 0.1 gives 0.005). Stops when `has_converged(window, tol)` or at
    max_iters; the estimate is the average of the last `window` iterates.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    real = torch.as_tensor(real, dtype=torch.get_default_dtype())
    mu = torch.as_tensor(init, dtype=real.dtype).clone()
    if real.dim() != 2 or mu.dim() != 2 or real.shape[1] != mu.shape[1]:
        raise ValueError(f"real must be (n, d) and init (M, d) with the same d; got {tuple(real.shape)}, "
                         f"{tuple(mu.shape)}")
    utils.check_finite(utils.check_tensor(real, "real", "estimate_means"), "real", "estimate_means")  # issue 32
    utils.check_finite(utils.check_tensor(mu, "init", "estimate_means"), "init", "estimate_means")
    max_iters = utils.check_count(max_iters, "max_iters", "estimate_means")
    window = utils.check_count(window, "window", "estimate_means", minimum=1)
    n_synthetic = utils.check_count(n_synthetic, "n_synthetic", "estimate_means", minimum=1)
    if chain_length is None:
        chain_length = {"ml-direct": 0, "ml-mcmc": 1000, "cd": 10}[method]
    history, seconds, acceptance = [mu.clone()], [0.0], []
    start = time.perf_counter()
    bar = progress(total=max_iters, desc=method) if show_progress else None  # updated by hand: the loop may break
    converged = False
    synthetic = real[:0]
    for _ in range(max_iters):
        batch, synthetic, acc = synthetic_batch(method, real, mu, sigma, n_synthetic, chain_length, step_size,
                                                generator)
        if acc is not None:
            acceptance.append(acc)
        mu = mu + eta * contrastive_gradient(batch, synthetic, mu, sigma)
        history.append(mu.clone())
        seconds.append(time.perf_counter() - start)
        if bar is not None:
            bar.update(1)
        if has_converged(history, window, tol):
            converged = True
            break
    if bar is not None:
        bar.close()
    hist = torch.stack(history)
    errors = (np.array([assignment_error(h, true_means) for h in hist]) if true_means is not None
              else np.full(len(hist), np.nan))
    return MeansFit(method, hist[-window:].mean(0), hist, np.array(seconds), errors, synthetic,
                    len(history) - 1, converged, acceptance)


def em_means(real: Tensor, init: Tensor, sigma: float = 1.0, iters: int = 500, tol: float = 1e-10) -> Tensor:
    """The exact maximum-likelihood means of `real` (weights and sigma fixed), by EM: a reference."""
    utils.check_finite(utils.check_tensor(real, "real", "em_means", min_dim=2), "real", "em_means")  # issue 32
    mu = torch.as_tensor(init, dtype=real.dtype).clone()
    for _ in range(iters):
        r = GaussianMixture(mu, sigma).responsibilities(real)
        new = (r.T @ real) / r.sum(0)[:, None]
        if (new - mu).abs().max() < tol:
            return new
        mu = new
    return mu


# ----------------------------------------------------------------------------- Part II: NCE

def log_partition(n_components: int, sigma: float, d: int = 2) -> float:
    """log Z of sum_i exp(-|x - mu_i|^2 / (2 sigma^2)) over R^d: Z = N (2 pi sigma^2)^(d/2)."""
    return math.log(n_components) + d / 2 * math.log(2 * math.pi * sigma ** 2)


def gaussian_log_pdf(u: np.ndarray, mean, sigma: float) -> np.ndarray:
    """log N(u; mean, sigma^2 I), shape (n,)."""
    d = u.shape[1]
    return -((u - np.asarray(mean)) ** 2).sum(1) / (2 * sigma ** 2) - d / 2 * math.log(2 * math.pi * sigma ** 2)


@dataclass
class NCEProblem:
    """The NCE objective for p_m(u) = (1/Z) sum_i exp(-|u - mu_i|^2 / (2 sigma^2)) against Gaussian noise.

    Parameters theta: the M means flattened (M*d,), followed by log Z when `learn_log_z`; otherwise
    log Z is fixed at `log_z`. The objective is the *mean* over the J data and J noise points of
    -[log h(x_j) + log(1 - h(y_j))] (the task's sum divided by J: the same argmax, and a
    J-independent scale for BFGS's gradient tolerance).
    """
    x: np.ndarray  # data (J, d)
    y: np.ndarray  # noise (J, d)
    n_components: int = 4
    sigma: float = 1.0
    noise_mean: tuple = (1.0, 1.0)
    noise_sigma: float = 2.0
    learn_log_z: bool = False
    log_z: float | None = None  # the fixed log Z when not learned (default: the exact one)

    def __post_init__(self):
        self.x, self.y = np.asarray(self.x, float), np.asarray(self.y, float)
        if self.x.ndim != 2 or self.y.ndim != 2 or self.x.shape[1] != self.y.shape[1]:
            raise ValueError(f"x and y must be (J, d) arrays with the same d, got {self.x.shape}, {self.y.shape}")
        self.d = self.x.shape[1]
        if self.log_z is None:
            self.log_z = log_partition(self.n_components, self.sigma, self.d)
        # data and noise stacked: one pass over 2J points; sign +1 for data (log h), -1 for noise (log(1-h))
        self.u = np.concatenate([self.x, self.y])
        self.sign = np.concatenate([np.ones(len(self.x)), -np.ones(len(self.y))])
        self.sq_u = (self.u ** 2).sum(1)
        self.log_pn = gaussian_log_pdf(self.u, self.noise_mean, self.noise_sigma)  # fixed: computed once

    @property
    def n_params(self) -> int:
        return self.n_components * self.d + int(self.learn_log_z)

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """theta -> (means (M, d), log Z)."""
        theta = np.asarray(theta, float)
        if theta.shape != (self.n_params,):
            raise ValueError(f"theta must have {self.n_params} entries (means flattened"
                             f"{' then log Z' if self.learn_log_z else ''}), got shape {theta.shape}")
        means = theta[: self.n_components * self.d].reshape(self.n_components, self.d)
        return means, (theta[-1] if self.learn_log_z else self.log_z)

    def log_ratio(self, means: np.ndarray, log_z: float) -> tuple[np.ndarray, np.ndarray]:
        """G(u) = log p_m(u) - log p_n(u) at the 2J stacked points, and the responsibilities r_i(u) (2J, M)."""
        sq = self.sq_u[:, None] - 2 * self.u @ means.T + (means ** 2).sum(1)[None]  # |u - mu_i|^2
        a = -sq / (2 * self.sigma ** 2)
        amax = a.max(1, keepdims=True)
        e = np.exp(a - amax)
        total = e.sum(1, keepdims=True)
        return (amax + np.log(total))[:, 0] - log_z - self.log_pn, e / total

    def objective(self, theta) -> float:
        """-(1/J) sum_j [log sigmoid(G(x_j)) + log sigmoid(-G(y_j))]; never overflows."""
        means, log_z = self.unpack(theta)
        g, _ = self.log_ratio(means, log_z)
        return float(-log_expit(self.sign * g).sum() / len(self.x))

    def objective_and_grad(self, theta) -> tuple[float, np.ndarray]:
        """The objective and its analytic gradient, for `minimize(..., jac=True)`.

        d/dtheta log sigmoid(s G) = s sigmoid(-s G) dG/dtheta (s = +1 data, -1 noise),
        dG/dmu_i = r_i(u) (u - mu_i) / sigma^2, dG/dlog Z = -1.
        """
        means, log_z = self.unpack(theta)
        g, r = self.log_ratio(means, log_z)
        sg = self.sign * g
        j = len(self.x)
        value = -log_expit(sg).sum() / j
        w = self.sign * expit(-sg)  # 1 - h(x) for data, -h(y) for noise
        wr = w[:, None] * r  # (2J, M)
        grad_means = (wr.T @ self.u - wr.sum(0)[:, None] * means) / self.sigma ** 2
        grad = -grad_means.ravel() / j
        if self.learn_log_z:
            grad = np.append(grad, w.sum() / j)
        return float(value), grad

    def gradient(self, theta) -> np.ndarray:
        return self.objective_and_grad(theta)[1]


@dataclass
class NCEFit:
    means: np.ndarray  # (M, d)
    log_z: float
    init_means: np.ndarray
    init_log_z: float
    success: bool  # scipy's flag
    n_evals: int
    result: object  # scipy's OptimizeResult

    @property
    def z(self) -> float:
        return math.exp(self.log_z)


def fit_nce(problem: NCEProblem, init_means, init_log_z: float | None = None, analytic: bool = True,
            gtol: float = 1e-6, maxiter: int = 1000) -> NCEFit:
    """Maximise the NCE objective with BFGS from the initial guess; `analytic=False` lets scipy
    approximate the gradient by finite differences (the benchmark's baseline)."""
    init_means = np.asarray(init_means, float)
    theta0 = init_means.ravel()
    if problem.learn_log_z:
        if init_log_z is None:
            raise ValueError("this problem learns log Z: pass init_log_z (e.g. log of a draw from U(0.1, 1))")
        theta0 = np.append(theta0, init_log_z)
    if analytic:
        res = minimize(problem.objective_and_grad, theta0, jac=True, method="BFGS",
                       options={"gtol": gtol, "maxiter": maxiter})
    else:
        res = minimize(problem.objective, theta0, method="BFGS", options={"gtol": gtol, "maxiter": maxiter})
    means, log_z = problem.unpack(res.x)
    return NCEFit(means, float(log_z), init_means, problem.log_z if init_log_z is None else init_log_z,
                  bool(res.success), int(res.nfev), res)


def nce_draw(n: int, rng: np.random.Generator, true_means, sigma: float = 1.0, noise_mean=(1.0, 1.0),
             noise_sigma: float = 2.0, init_box=(0.0, 3.0),
             init_z=(0.1, 1.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """One experiment's random inputs (Tasks 9/10): n data points of the mixture, n noise points,
    initial means ~ U(init_box^2) and the log of an initial Z ~ U(init_z), in that order."""
    true_means = np.asarray(true_means, float)
    m, d = true_means.shape
    x = true_means[rng.integers(0, m, n)] + sigma * rng.standard_normal((n, d))
    y = np.asarray(noise_mean) + noise_sigma * rng.standard_normal((n, d))
    init = rng.uniform(*init_box, size=(m, d))
    return x, y, init, math.log(rng.uniform(*init_z))


def nce_run(n: int, learn_log_z: bool, rng: np.random.Generator, true_means, sigma: float = 1.0,
            noise_mean=(1.0, 1.0), noise_sigma: float = 2.0, init_box=(0.0, 3.0), init_z=(0.1, 1.0),
            analytic: bool = True) -> tuple[NCEFit, NCEProblem]:
    """One NCE experiment (Tasks 9/10): `nce_draw`'s fresh data, noise and initial guess, then the BFGS fit
    (the initial Z is used only when log Z is learned)."""
    x, y, init, init_log_z = nce_draw(n, rng, true_means, sigma, noise_mean, noise_sigma, init_box, init_z)
    problem = NCEProblem(x, y, len(init), sigma, tuple(noise_mean), noise_sigma, learn_log_z)
    return fit_nce(problem, init, init_log_z if learn_log_z else None, analytic=analytic), problem


@dataclass
class NCEStudy:
    """Task 12's table for one variant: per J, the runs' MSEs (nan for failures), failure flags and Z errors.

    In a paired study (`nce_study`) run k of each J used the same data, noise and initial means in both
    variants, so the per-run arrays of the two studies are aligned."""
    sizes: list[int]
    mse_means: dict  # J -> array of per-run MSE (nan when failed)
    failed: dict  # J -> bool array
    z_sq_err: dict  # J -> array of (Z_hat - Z)^2 (nan when failed or Z not learned)
    seconds: float

    def summary(self) -> list[dict]:
        """Per J, over the successful runs: the MSE of the means and of Z, their standard errors
        (std of the per-run squared errors / sqrt(runs)), the median squared error of Z; and the failures."""
        rows = []
        for j in self.sizes:
            ok = ~self.failed[j]
            m, z = self.mse_means[j][ok], self.z_sq_err[j][ok]
            se = lambda v: float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
            mean = lambda v: float(np.mean(v)) if len(v) else float("nan")
            rows.append({"J": j, "mse_means": mean(m), "se_means": se(m), "mse_z": mean(z), "se_z": se(z),
                         "median_z": float(np.median(z)) if len(z) else float("nan"),
                         "failures": int(self.failed[j].sum()), "runs": len(ok)})
        return rows


def nce_study(sizes, runs: int, true_means, seed: int = 0, sigma: float = 1.0, noise_mean=(1.0, 1.0),
              noise_sigma: float = 2.0, init_box=(0.0, 3.0), init_z=(0.1, 1.0), analytic: bool = True,
              show_progress: bool = False) -> dict[bool, NCEStudy]:
    """Task 12, paired: for each J in sizes, `runs` experiments with fresh data, noise and initial guesses,
    each fitted twice on the same draws, with Z known and with log Z learned. Returns {learn_log_z: study}."""
    true_means = np.asarray(true_means, float)
    rng = np.random.default_rng(seed)
    true_z = math.exp(log_partition(len(true_means), sigma, true_means.shape[1]))
    mse = {v: {} for v in (False, True)}
    failed, zerr, seconds = {v: {} for v in (False, True)}, {v: {} for v in (False, True)}, {False: 0.0, True: 0.0}
    jobs = [(j, r) for j in sizes for r in range(runs)]
    it = progress(jobs, desc="NCE (Z known and log Z learned)") if show_progress else jobs
    for j, _ in it:
        x, y, init, init_log_z = nce_draw(j, rng, true_means, sigma, noise_mean, noise_sigma, init_box, init_z)
        for learn in (False, True):
            start = time.perf_counter()
            problem = NCEProblem(x, y, len(true_means), sigma, tuple(noise_mean), noise_sigma, learn)
            fit = fit_nce(problem, init, init_log_z if learn else None, analytic=analytic)
            seconds[learn] += time.perf_counter() - start
            e, f = match_nearest(fit.means, true_means)
            mse[learn].setdefault(j, []).append(e)
            failed[learn].setdefault(j, []).append(f)
            zerr[learn].setdefault(j, []).append((fit.z - true_z) ** 2 if (learn and not f) else float("nan"))
    as_arrays = lambda d: {j: np.array(v) for j, v in d.items()}
    return {v: NCEStudy(list(sizes), as_arrays(mse[v]), as_arrays(failed[v]), as_arrays(zerr[v]), seconds[v])
            for v in (False, True)}


def paired_mse_ratios(known: NCEStudy, learned: NCEStudy) -> list[dict]:
    """Per J: MSE(log Z learned) / MSE(Z known) over the runs where neither variant failed, with its
    paired standard error (`paired_ratio`; nan with fewer than 2 such runs), and how many runs that leaves."""
    rows = []
    for j in known.sizes:
        a, b = learned.mse_means[j], known.mse_means[j]
        if a.shape != b.shape:
            raise ValueError(f"the two studies are not paired: {len(a)} and {len(b)} runs at J = {j}")
        ok = ~(learned.failed[j] | known.failed[j])
        ratio, se = paired_ratio(a[ok], b[ok]) if ok.sum() >= 2 else (float("nan"), float("nan"))
        rows.append({"J": j, "ratio": ratio, "se": se, "runs_used": int(ok.sum()),
                     "runs": len(ok)})
    return rows


# ----------------------------------------------------------------------------- statistics of repeated runs

def paired_ratio(a, b) -> tuple[float, float]:
    """mean(a) / mean(b) over paired draws (a_k, b_k), and its delta-method standard error
    sd(a_k - R b_k) / (sqrt(n) mean(b)), which counts the pairs' correlation."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D arrays of paired values of the same length, got {a.shape}, {b.shape}")
    if len(a) < 2 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"need at least 2 finite pairs (drop failed runs first), got {len(a)} pairs")
    ratio = a.mean() / b.mean()
    return float(ratio), float(np.std(a - ratio * b, ddof=1) / math.sqrt(len(a)) / b.mean())


@dataclass
class HotellingResult:
    """One-sample Hotelling T^2 test of H0: E[x] = mean0 (x a p-vector, n draws)."""
    mean_diff: np.ndarray  # sample mean - mean0, (p,)
    t2: float  # n d' S^-1 d
    f: float  # (n - p) / (p (n - 1)) T^2 ~ F(p, n - p) under H0 (Gaussian draws)
    p_value: float
    mahalanobis: float  # sqrt(d' S^-1 d): the effect size in units of one draw's spread
    n: int
    p: int


def hotelling_t2(samples, mean0=0.0) -> HotellingResult:
    """One-sample Hotelling T^2 test that n draws of a p-vector (rows of `samples`, any trailing shape
    is flattened) have mean `mean0`, with its exact F-form p-value (scipy.stats.f)."""
    x = np.asarray(samples, float)
    if x.ndim < 1 or len(x) < 2:
        raise ValueError(f"samples must hold n >= 2 draws along axis 0, got shape {x.shape}")
    trailing = x.shape[1:]
    x = x.reshape(len(x), -1)
    n, p = x.shape
    if n <= p:
        raise ValueError(f"Hotelling's T^2 needs more draws than dimensions (n > p), got n = {n}, p = {p}: "
                         f"repeat the experiment more often")
    d = x.mean(0) - np.broadcast_to(np.asarray(mean0, float), trailing).ravel()
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    m2 = float(d @ np.linalg.solve(cov, d))
    t2 = n * m2
    f = (n - p) / (p * (n - 1)) * t2
    return HotellingResult(d, t2, f, float(stats.f.sf(f, p, n - p)), math.sqrt(m2), n, p)


# ----------------------------------------------------------------------------- score matching (Part I)

def score_matching_objective(x: Tensor, means: Tensor, sigma: float = 1.0) -> Tensor:
    """Hyvarinen's score-matching objective of the equal-weight mixture with known sigma on the points x,
    mean_x [ |grad_x log p|^2 / 2 + Laplacian_x log p ] (differentiable in `means`).

    With s_i = (mu_i - x) / sigma^2 and the responsibilities r_i: grad_x log p = sum_i r_i s_i and
    Laplacian_x log p = sum_i r_i |s_i|^2 - |sum_i r_i s_i|^2 - d / sigma^2, so the objective is
    mean_x [sum_i r_i |s_i|^2 - |sum_i r_i s_i|^2 / 2] - d / sigma^2: explicit, with no Z and no sampling."""
    x = torch.as_tensor(x)
    means = torch.as_tensor(means).to(x)
    if x.dim() != 2 or means.dim() != 2 or x.shape[1] != means.shape[1]:
        raise ValueError(f"x must be (n, d) and means (M, d) with the same d, got {tuple(x.shape)}, "
                         f"{tuple(means.shape)}")
    diff = means[None] - x[:, None, :]  # (n, M, d), in x's dtype (GaussianMixture would round to float32)
    r = torch.softmax(-(diff ** 2).sum(-1) / (2 * sigma ** 2), dim=1)  # responsibilities (equal weights)
    s = diff / sigma ** 2
    score = (r[:, :, None] * s).sum(1)  # (n, d)
    return (r * (s ** 2).sum(-1)).sum(1).mean() - 0.5 * (score ** 2).sum(1).mean() - x.shape[1] / sigma ** 2


def score_matching_means(x: Tensor, init: Tensor, sigma: float = 1.0, gtol: float = 1e-10) -> Tensor:
    """The score-matching estimate of the means: `score_matching_objective` minimised by BFGS from `init`
    (gradient by autograd, in float64); returned in x's dtype. CD with L Langevin steps of size eps from
    the data is, to first order in L * eps, gradient descent on this objective with step L * eps."""
    xd = torch.as_tensor(x, dtype=torch.float64)
    init = torch.as_tensor(init, dtype=torch.float64)
    shape = tuple(init.shape)

    def value_and_grad(theta):
        mu = torch.tensor(theta, dtype=torch.float64).reshape(shape).requires_grad_(True)
        value = score_matching_objective(xd, mu, sigma)
        (grad,) = torch.autograd.grad(value, mu)
        return value.item(), grad.numpy().ravel()

    res = minimize(value_and_grad, init.numpy().ravel(), jac=True, method="BFGS",
                   options={"gtol": gtol, "maxiter": 1000})
    return torch.as_tensor(res.x.reshape(shape), dtype=torch.as_tensor(x).dtype)


# ----------------------------------------------------------------------------- asymptotic variances (Part II)

@dataclass
class AsymptoticCovariance:
    """The sandwich A^-1 B A^-T of an estimator that maximises an average of J i.i.d. terms l(theta):
    sqrt(J) (theta_hat - theta) -> N(0, cov), with A = -E[Hessian of l] and B = Cov[grad l] at the truth.
    The means come first in theta (flattened row by row), then log Z when it is a parameter."""
    A: np.ndarray
    B: np.ndarray
    cov: np.ndarray
    n_means: int
    d: int

    @property
    def means_cov(self) -> np.ndarray:
        """The means' block of cov, (M*d, M*d)."""
        k = self.n_means * self.d
        return self.cov[:k, :k]

    @property
    def j_mse(self) -> float:
        """lim J * E[Task 12's MSE of the means] = trace of the means' block / M (the MSE averages the
        squared distance over the M estimates)."""
        return float(np.trace(self.means_cov) / self.n_means)

    @property
    def j_var_log_z(self) -> float:
        """lim J * Var(log Z_hat) (nan when log Z is not a parameter); J * MSE(Z_hat) -> Z^2 times this."""
        k = self.n_means * self.d
        return float(self.cov[k, k]) if self.cov.shape[0] > k else float("nan")


def sandwich(A, B) -> np.ndarray:
    """A^-1 B A^-T, symmetrised."""
    A, B = np.asarray(A, float), np.asarray(B, float)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or B.shape != A.shape:
        raise ValueError(f"A and B must be square matrices of the same shape, got {A.shape}, {B.shape}")
    a_inv = np.linalg.inv(A)
    cov = a_inv @ B @ a_inv.T
    return (cov + cov.T) / 2


def quadrature_grid(centres, scale: float, step: float = 0.1, width: float = 10.0) -> tuple[np.ndarray, float]:
    """A square grid (n, d) covering every centre +- width * scale, and the cell volume step^d: sums of
    f(u) p(u) * volume over it integrate smooth, fast-decaying f p to near machine precision. d <= 3."""
    centres = np.atleast_2d(np.asarray(centres, float))
    d = centres.shape[1]
    if d > 3:
        raise ValueError(f"a grid in d = {d} dimensions is too large; this rule is for d <= 3")
    lo, hi = centres.min() - width * scale, centres.max() + width * scale
    axis = np.arange(lo, hi + step / 2, step)
    grids = np.meshgrid(*([axis] * d), indexing="ij")
    return np.stack([g.ravel() for g in grids], 1), step ** d


def _weighted_cov(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    mean = w @ v
    return (w[:, None] * v).T @ v - np.outer(mean, mean)


def nce_asymptotic_covariance(true_means, sigma: float = 1.0, noise_mean=(1.0, 1.0), noise_sigma: float = 2.0,
                              learn_log_z: bool = False, step: float = 0.1) -> AsymptoticCovariance:
    """Sandwich covariance of the NCE estimator of Tasks 9/10 (J data and J noise points; the model is true).

    One term of the objective is l(theta; x, y) = log h(x) + log(1 - h(y)), h = sigmoid(G), x from the
    model, y from the noise; with g = grad_theta G (`NCEProblem`: r_i (u - mu_i) / sigma^2, and -1 for
    log Z) its gradient is (1 - h(x)) g(x) - h(y) g(y), so B = Cov_x[(1 - h) g] + Cov_y[h g]. At the truth
    the terms with the second derivatives of G cancel between data and noise (p_m (1 - h) = p_n h), which
    leaves A = E_x[h (1 - h) g g^T] + E_y[h (1 - h) g g^T]. Expectations by quadrature on a grid (d <= 3).
    """
    true_means = np.asarray(true_means, float)
    m, d = true_means.shape
    u, vol = quadrature_grid(np.vstack([true_means, np.asarray(noise_mean, float)[None]]),
                             max(sigma, noise_sigma), step)
    problem = NCEProblem(u, u, m, sigma, tuple(noise_mean), noise_sigma, learn_log_z)  # data = noise = grid
    log_z = log_partition(m, sigma, d)
    g_ratio, r = problem.log_ratio(true_means, log_z)
    h = expit(g_ratio[: len(u)])
    g = (r[: len(u), :, None] * (u[:, None, :] - true_means[None]) / sigma ** 2).reshape(len(u), -1)
    if learn_log_z:
        g = np.concatenate([g, -np.ones((len(u), 1))], 1)
    log_pn = gaussian_log_pdf(u, noise_mean, noise_sigma)
    wx, wy = np.exp(g_ratio[: len(u)] + log_pn) * vol, np.exp(log_pn) * vol  # p_m = exp(G) p_n
    A = (((wx + wy) * h * (1 - h))[:, None] * g).T @ g
    B = _weighted_cov(wx, (1 - h)[:, None] * g) + _weighted_cov(wy, h[:, None] * g)
    return AsymptoticCovariance(A, B, sandwich(A, B), m, d)


def ml_asymptotic_covariance(true_means, sigma: float = 1.0, step: float = 0.1) -> AsymptoticCovariance:
    """Sandwich covariance of the maximum-likelihood estimate of the means from J mixture samples.

    With s_i = (x - mu_i) / sigma^2 and the responsibilities r_i the score is (r_i s_i)_i and
    -d^2 log p / dmu_i dmu_k = delta_ik r_i (I / sigma^2 - s_i s_i^T) + r_i r_k s_i s_k^T: A is its
    expectation, B = E[score score^T]. For the true model A = B (the Fisher information) and the sandwich
    is the inverse Fisher information, the Cramer-Rao bound; both are computed, by quadrature (d <= 3)."""
    true_means = np.asarray(true_means, float)
    m, d = true_means.shape
    u, vol = quadrature_grid(true_means, sigma, step)
    mix = GaussianMixture(torch.as_tensor(true_means), sigma)
    ut = torch.as_tensor(u)
    w = np.exp(mix.log_prob(ut).numpy()) * vol
    r = mix.responsibilities(ut).numpy()  # (n, M)
    s = (u[:, None, :] - true_means[None]) / sigma ** 2  # (n, M, d)
    score = (r[:, :, None] * s).reshape(len(u), -1)  # (n, M*d)
    B = (w[:, None] * score).T @ score
    A = (w[:, None] * score).T @ score  # the r_i r_k s_i s_k^T part
    for i in range(m):
        own = (w * r[:, i])[:, None] * s[:, i]  # (n, d)
        blk = slice(i * d, (i + 1) * d)
        A[blk, blk] += w @ r[:, i] * np.eye(d) / sigma ** 2 - own.T @ s[:, i]
    return AsymptoticCovariance(A, B, sandwich(A, B), m, d)
