"""Score matching on 2-D toys: score networks, (annealed) sliced and denoising score matching losses,
their training loops, and two sample-vs-data distances (MMD, 2-D histogram total variation).

Conventions as in helpers.samplers: a score network maps points (B, d) to scores (B, d); losses return
a scalar averaged over the batch. The noise-conditional network takes (x, sigma) with sigma a float or
a (B, 1) tensor and returns net([x, sigma]) / sigma (Song and Ermon, 2019/2020).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from . import utils
from .utils import progress

Tensor = torch.Tensor


# ----------------------------------------------------------------------------- networks

def score_mlp(dim: int = 2, hidden: int = 128, n_hidden: int = 2, out_dim: int | None = None) -> nn.Sequential:
    """Linear-Softplus MLP with n_hidden hidden layers of width `hidden` (HW4: 2 hidden, ISTA HW3: 1)."""
    if n_hidden < 1:
        raise ValueError(f"n_hidden must be at least 1, got {n_hidden}")
    layers, width = [], dim
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden), nn.Softplus()]
        width = hidden
    layers.append(nn.Linear(width, dim if out_dim is None else out_dim))
    return nn.Sequential(*layers)


class NoiseConditionalScoreNet(nn.Module):
    """s_theta(x, sigma) = MLP([x, sigma]) / sigma: one network for every noise level."""

    def __init__(self, dim: int = 2, hidden: int = 128, n_hidden: int = 2):
        super().__init__()
        self.dim = dim
        self.net = score_mlp(dim + 1, hidden, n_hidden, out_dim=dim)  # input (x, sigma)

    def forward(self, x: Tensor, sigma) -> Tensor:
        sigma = _sigma_column(sigma, x)
        return self.net(torch.cat([x, sigma], dim=1)) / sigma


def _sigma_column(sigma, x: Tensor) -> Tensor:
    """sigma as a (B, 1) tensor on x's device (a float, a 0-d, (B,) or (B, 1) tensor)."""
    s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if s.dim() == 0:
        s = s.expand(x.shape[0])
    s = s.reshape(-1, 1)
    if s.shape[0] != x.shape[0]:
        raise ValueError(f"sigma has {s.shape[0]} entries for a batch of {x.shape[0]}; pass a float or one per row")
    if (s <= 0).any():
        raise ValueError("sigma must be positive")
    return s


# ----------------------------------------------------------------------------- losses

def _check_batch(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise ValueError(f"{name} expects a (B, d) tensor of points, got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")


def sliced_score_matching_terms(score_fn: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> Tensor:
    """Per-row v^T (grad_x s(x)) v + 1/2 |s(x)|^2, shape (B,); v^T J v by one vector-Jacobian product.

    The graph is kept (create_graph=True) so the result can be back-propagated to the parameters.
    """
    x = x.detach().requires_grad_(True)
    s = score_fn(x)
    (jtv,) = torch.autograd.grad((s * v).sum(), x, create_graph=True)  # rows: v^T J (= (J^T v)^T)
    return (jtv * v).sum(1) + 0.5 * (s ** 2).sum(1)


def sliced_score_matching(score_net: Callable[[Tensor], Tensor], samples: Tensor, nv: int = 1,
                          generator: torch.Generator | None = None) -> Tensor:
    """Sliced score matching E_x E_v [v^T grad s(x) v + 1/2 |s(x)|^2], v ~ N(0, I), nv slices per sample."""
    _check_batch(samples, "sliced_score_matching")
    x = samples.repeat(nv, 1)
    v = utils.randn_like(x, generator)
    return sliced_score_matching_terms(score_net, x, v).mean()


def exact_score_matching(score_net: Callable[[Tensor], Tensor], samples: Tensor) -> Tensor:
    """Implicit score matching E_x [tr(grad s(x)) + 1/2 |s(x)|^2] with the trace from d backward passes."""
    _check_batch(samples, "exact_score_matching")
    x = samples.detach().requires_grad_(True)
    s = score_net(x)
    trace = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for i in range(x.shape[1]):
        (g,) = torch.autograd.grad(s[:, i].sum(), x, create_graph=True)
        trace = trace + g[:, i]
    return (trace + 0.5 * (s ** 2).sum(1)).mean()


def annealed_sliced_score_matching(cond_score_net: Callable[[Tensor, Tensor], Tensor], perturbed_samples: Tensor,
                                   used_sigmas: Tensor, nv: int = 1, generator: torch.Generator | None = None
                                   ) -> Tensor:
    """(1/B) sum_j lambda(sigma_j) l_j with lambda(sigma) = sigma^2 and l_j the sliced SM terms of
    s(., sigma_j) at the perturbed sample j; sampling sigma_j uniformly from the L levels makes this the
    text's (1/L) sum_i lambda(sigma_i) l(theta; sigma_i) in expectation."""
    _check_batch(perturbed_samples, "annealed_sliced_score_matching")
    sig = _sigma_column(used_sigmas, perturbed_samples).repeat(nv, 1)
    x = perturbed_samples.repeat(nv, 1)
    v = utils.randn_like(x, generator)
    terms = sliced_score_matching_terms(lambda z: cond_score_net(z, sig), x, v)
    return (sig.squeeze(1) ** 2 * terms).mean()


def denoising_score_matching(score_net: Callable[[Tensor], Tensor], samples: Tensor, sigma: float = 0.01,
                             generator: torch.Generator | None = None) -> Tensor:
    """DSM: E |s(x~) + (x~ - x) / sigma^2|^2 with x~ = x + sigma z (squared norm per sample, batch mean)."""
    _check_batch(samples, "denoising_score_matching")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    z = utils.randn_like(samples, generator)
    perturbed = samples + sigma * z
    target = -(perturbed - samples) / sigma ** 2
    return ((score_net(perturbed) - target) ** 2).sum(1).mean()


# ----------------------------------------------------------------------------- training loops

def _check_training(where: str, n_steps, lr, batch_size, nv) -> None:
    """The trainers' counts and learning rate, checked at the entry point (issue 32)."""
    utils.check_count(n_steps, "n_steps", where)
    utils.check_number(lr, "lr", where)
    utils.check_count(batch_size, "batch_size", where, minimum=1)
    utils.check_count(nv, "nv", where, minimum=1)


def _checked_sample(x, where: str, name: str = "sample(batch_size)") -> Tensor:
    """A training batch: a non-empty (B, d) float tensor with finite values (a NaN would train silently to NaN)."""
    utils.check_tensor(x, name, where)
    _check_batch(x, where)
    return utils.check_finite(x, name, where)


def _train(model: nn.Module, loss_fn: Callable[[int], Tensor], n_steps: int, optimizer: torch.optim.Optimizer,
           desc: str, show_progress: bool, scheduler=None) -> list[float]:
    """Generic loop: loss_fn(step) -> scalar loss; optimizer (and scheduler) step; returns the per-step losses."""
    losses = []
    steps = progress(range(n_steps), desc=desc) if show_progress else range(n_steps)
    for step in steps:
        loss = loss_fn(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
        if show_progress and step % 50 == 0:
            steps.set_postfix(loss=f"{loss.item():.4g}", refresh=False)
    return losses


def train_sliced(score_net: nn.Module, sample: Callable[[int], Tensor], batch_size: int = 128,
                 n_steps: int = 10_000, lr: float = 1e-3, nv: int = 1, seed: int = 0, device=None,
                 show_progress: bool = True) -> list[float]:
    """HW4 Task 8: fresh samples `sample(batch_size)` each step, sliced SM loss, Adam(lr)."""
    _check_training("train_sliced", n_steps, lr, batch_size, nv)
    device = device or next(score_net.parameters()).device
    g = utils.generator(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(score_net.parameters(), lr=lr)
    return _train(score_net, lambda _: sliced_score_matching(
        score_net, _checked_sample(sample(batch_size), "train_sliced").to(device), nv, g),
                  n_steps, opt, "sliced SM", show_progress)


def train_annealed_sliced(cond_score_net: nn.Module, sample: Callable[[int], Tensor], sigmas: Sequence[float],
                          batch_size: int = 256, n_steps: int = 10_000, lr: float = 1e-3, nv: int = 1,
                          seed: int = 0, device=None, show_progress: bool = True) -> list[float]:
    """HW4 Task 11: each sample gets a random level sigma_i, is perturbed by sigma_i z, annealed sliced SM."""
    _check_training("train_annealed_sliced", n_steps, lr, batch_size, nv)
    if len(sigmas) == 0 or not all(math.isfinite(float(s)) and float(s) > 0 for s in sigmas):
        raise ValueError(f"train_annealed_sliced: sigmas must be a non-empty sequence of positive, finite noise "
                         f"levels, got {list(sigmas)}")
    device = device or next(cond_score_net.parameters()).device
    g = utils.generator(seed)
    torch.manual_seed(seed)
    sig = torch.as_tensor(list(sigmas), dtype=torch.float32)
    opt = torch.optim.Adam(cond_score_net.parameters(), lr=lr)

    def loss(_):
        x = _checked_sample(sample(batch_size), "train_annealed_sliced")
        used = sig[utils.randint(0, len(sig), (batch_size,), generator=g)].view(-1, 1).to(x.device)
        perturbed = x + utils.randn_like(x, g) * used
        return annealed_sliced_score_matching(cond_score_net, perturbed.to(device), used.to(device), nv, g)

    return _train(cond_score_net, loss, n_steps, opt, "annealed sliced SM", show_progress)


def train_dsm(score_net: nn.Module, data: Tensor, sigma: float = 0.01, n_steps: int = 10_000, lr: float = 1e-4,
              weight_decay: float = 0.01, batch_size: int | None = None, cosine: bool = False, seed: int = 0,
              show_progress: bool = True) -> list[float]:
    """ISTA HW3: DSM with Adam and weight decay; every step sees all of `data` with fresh noise (as given),
    or a random minibatch of `batch_size` points when set; `cosine` decays the learning rate to 0."""
    _check_training("train_dsm", n_steps, lr, 1 if batch_size is None else batch_size, 1)
    _checked_sample(data, "train_dsm", "data")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"train_dsm: sigma must be a positive, finite noise level, got {sigma!r}")
    g = utils.generator(seed)
    opt = torch.optim.Adam(score_net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps) if cosine else None

    def loss(_):
        x = data
        if batch_size is not None:
            x = data[utils.randint(0, data.shape[0], (batch_size,), generator=g, device=data.device)]
        return denoising_score_matching(score_net, x, sigma, g)

    return _train(score_net, loss, n_steps, opt, f"DSM sigma={sigma:g}", show_progress, sched)


def as_score_fn(model: nn.Module, sigma: float | None = None) -> Callable[..., Tensor]:
    """A gradient-free score function x -> s(x) (or (x, sigma) -> s(x, sigma) when the model is conditional
    and sigma is None), for the samplers."""
    if isinstance(model, NoiseConditionalScoreNet):
        if sigma is None:
            def cond(x, s):
                with torch.no_grad():
                    return model(x, float(s))
            return cond

        def fixed(x):
            with torch.no_grad():
                return model(x, float(sigma))
        return fixed

    def plain(x):
        with torch.no_grad():
            return model(x)
    return plain


def log1p_scaled(score_fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """For display: the field's unit direction times log(1 + |s|) (keeps far-away arrows from dominating)."""
    def field(x: Tensor) -> Tensor:
        s = score_fn(x)
        n = s.norm(dim=1, keepdim=True)
        return s / (n + 1e-9) * torch.log1p(n)
    return field


# ----------------------------------------------------------------------------- evaluation

def nearest_mode_fractions(x: Tensor, means: Tensor) -> Tensor:
    """Fraction of the points closest to each mean, shape (M,)."""
    means = torch.as_tensor(means, dtype=x.dtype, device=x.device)
    k = torch.cdist(x, means).argmin(1)
    return torch.bincount(k, minlength=means.shape[0]).to(x.dtype) / x.shape[0]


def mmd2(x: Tensor, y: Tensor, bandwidths: Sequence[float] = (0.05, 0.1, 0.2, 0.5)) -> float:
    """Unbiased squared MMD between samples x (n, d) and y (m, d), Gaussian kernels summed over bandwidths."""
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError("mmd2 needs at least 2 points in each sample")

    def k(a, b):
        d2 = torch.cdist(a, b) ** 2
        return sum(torch.exp(-d2 / (2 * h ** 2)) for h in bandwidths)

    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
                 + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1)) - 2 * kxy.mean())


def histogram_tv(x: Tensor, y: Tensor, bins: int = 30, lim: tuple[float, float] = (-1.5, 2.0)) -> float:
    """Total-variation distance between the 2-D histograms of x and y on [lim]^2 (outside points count as
    one extra cell), in [0, 1]."""
    def hist(a):
        a = torch.as_tensor(a, dtype=torch.float64)
        inside = ((a >= lim[0]) & (a < lim[1])).all(1)
        idx = ((a[inside] - lim[0]) / (lim[1] - lim[0]) * bins).long().clamp(0, bins - 1)
        h = torch.bincount(idx[:, 0] * bins + idx[:, 1], minlength=bins * bins).double()
        return torch.cat([h, (~inside).sum().double().view(1)]) / a.shape[0]

    return float(0.5 * (hist(x) - hist(y)).abs().sum())


def langevin_stationary_cov(cov: Tensor, tau: float) -> Tensor:
    """Stationary covariance of x <- x + (tau/2) score(x) + sqrt(tau) z for a Gaussian N(m, cov):
    per eigen-direction with precision l, 1 / (l (1 - tau l / 4)) (not cov: the discretisation bias)."""
    evals, evecs = torch.linalg.eigh(torch.as_tensor(cov, dtype=torch.float64))
    lam = 1 / evals
    if (tau * lam >= 4).any():
        raise ValueError(f"tau={tau} is unstable for this covariance (needs tau < 4 * min eigenvalue)")
    return evecs @ torch.diag(1 / (lam * (1 - tau * lam / 4))) @ evecs.T


def langevin_cov_after(cov: Tensor, init_cov: Tensor, tau: float, n_steps: int) -> Tensor:
    """Exact covariance after n_steps of x <- x + (tau/2) score(x) + sqrt(tau) z on N(0, cov) from N(0, init_cov)."""
    cov = torch.as_tensor(cov, dtype=torch.float64)
    a = torch.eye(cov.shape[0], dtype=torch.float64) - tau / 2 * torch.linalg.inv(cov)
    c = torch.as_tensor(init_cov, dtype=torch.float64)
    for _ in range(n_steps):
        c = a @ c @ a.T + tau * torch.eye(cov.shape[0], dtype=torch.float64)
    return c
