"""Langevin dynamics, MALA and annealed Langevin: the one implementation every notebook uses.

Conventions: a *score* is a function x -> grad_x log p(x) with the shape of x; a *log_prob* is
x -> log p(x) up to a constant, one value per sample (shape (B,)). Samples are batched along dim 0
and may have any trailing shape (points (B, 2), images (B, C, H, W)).

The Langevin update used everywhere is

    x <- x + step_size * score(x) + noise_scale * z,   z ~ N(0, I),

with noise_scale = sqrt(2 * step_size) by default (the unadjusted Langevin algorithm). The
assignments' variants are special cases: HW2 writes eps and sqrt(2 eps); Homework 5 writes
x <- x - (eps^2 / 2) grad E(x) + eps * eta, i.e. step_size = eps^2 / 2 and noise_scale = eps;
JEM's SGLD decouples the two (step 1, noise 0.01).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from .utils import progress, rand_like, randn_like

Tensor = torch.Tensor
Schedule = float | Callable[[int], float]


def _value(s: Schedule, t: int) -> float:
    return float(s(t)) if callable(s) else float(s)


def _flat_sum(v: Tensor) -> Tensor:
    """Sum over all but the batch dimension: (B, ...) -> (B,)."""
    return v.reshape(v.shape[0], -1).sum(1)


def score_from_log_prob(log_prob: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """grad_x log p(x) by autograd; gradients reach x only (freeze the model's parameters for speed)."""
    def score(x: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(log_prob(x).sum(), x)
        return g
    return score


def score_from_energy(energy: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """-grad_x E(x) by autograd, for an energy-based model p(x) proportional to exp(-E(x))."""
    return score_from_log_prob(lambda x: -energy(x))


def log_prob_and_score(log_prob: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """log p(x) (B,) and grad_x log p(x) from one forward and one backward pass."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        lp = log_prob(x)
        (g,) = torch.autograd.grad(lp.sum(), x)
    return lp.detach(), g


def langevin_step(x: Tensor, score: Callable[[Tensor], Tensor], step_size: float,
                  noise_scale: float | None = None, generator: torch.Generator | None = None) -> Tensor:
    """One Langevin update x + step_size * score(x) + noise_scale * z (noise_scale = sqrt(2 step_size))."""
    if noise_scale is None:
        noise_scale = math.sqrt(2.0 * step_size)
    z = randn_like(x, generator)  # drawn on the generator's device, then moved to x's
    return x + step_size * score(x) + noise_scale * z


def langevin(x0: Tensor, score: Callable[[Tensor], Tensor], step_size: Schedule, n_steps: int,
             noise_scale: Schedule | None = None, every: int | None = None,
             clamp: tuple[float, float] | None = None, generator: torch.Generator | None = None,
             show_progress: bool = False, desc: str = "Langevin") -> Tensor | tuple[Tensor, list[Tensor]]:
    """Run `n_steps` Langevin updates from x0; step size and noise may be schedules t -> value.

    Returns the final samples, or (final, trajectory) when `every` is set: the trajectory holds
    x0 and the samples after every `every`-th step (detached CPU copies).
    `clamp` keeps samples in a box (e.g. pixels in [0, 1]) after each step.
    """
    x = x0.detach().clone()
    traj = [x.cpu().clone()] if every else None
    steps = range(n_steps)
    if show_progress:
        steps = progress(steps, desc=desc)
    for t in steps:
        eps = _value(step_size, t)
        noise = None if noise_scale is None else _value(noise_scale, t)
        x = langevin_step(x, score, eps, noise, generator).detach()
        if clamp is not None:
            x = x.clamp(*clamp)
        if every and (t + 1) % every == 0:
            traj.append(x.cpu().clone())
    return (x, traj) if every else x


@dataclass
class MALAResult:
    samples: Tensor  # (B, ...) final states
    acceptance_rate: float  # accepted proposals / all proposals, over chains and steps
    trajectory: list[Tensor] = field(default_factory=list)  # x0 and every `every`-th state
    accept_history: list[float] = field(default_factory=list)  # acceptance rate of each step


def mala_log_accept_terms(x: Tensor, y: Tensor, lp_x: Tensor, lp_y: Tensor, s_x: Tensor, s_y: Tensor,
                          step_size: float) -> dict[str, Tensor]:
    """The terms of MALA's log alpha = delta_log_p + log_q_backward - log_q_forward, each (B,).

    delta_log_p = log p(y) - log p(x); log_q_forward = log q(y|x) and log_q_backward = log q(x|y) without
    the Gaussian normaliser (it cancels): q(y|x) = N(y; x + step_size * s(x), 2 step_size I).
    """
    log_q_forward = -_flat_sum((y - x - step_size * s_x) ** 2) / (4 * step_size)
    log_q_backward = -_flat_sum((x - y - step_size * s_y) ** 2) / (4 * step_size)
    delta = lp_y - lp_x
    return {"delta_log_p": delta, "log_q_forward": log_q_forward, "log_q_backward": log_q_backward,
            "log_alpha": delta + log_q_backward - log_q_forward}


def mala_log_accept_ratio(x: Tensor, y: Tensor, lp_x: Tensor, lp_y: Tensor, s_x: Tensor, s_y: Tensor,
                          step_size: float) -> Tensor:
    """log of the Metropolis-Hastings ratio p(y) q(x|y) / (p(x) q(y|x)) for the Langevin proposal (its terms above)."""
    return mala_log_accept_terms(x, y, lp_x, lp_y, s_x, s_y, step_size)["log_alpha"]


def mala(x0: Tensor, log_prob: Callable[[Tensor], Tensor], step_size: float, n_steps: int,
         every: int | None = None, generator: torch.Generator | None = None,
         show_progress: bool = False, desc: str = "MALA",
         score: Callable[[Tensor], Tensor] | None = None) -> MALAResult:
    """Metropolis-adjusted Langevin: Langevin proposals accepted with the MH test, in log space.

    `log_prob` may be unnormalised (e.g. -E(x)): Z cancels in the ratio. The score comes from
    autograd (one forward and one backward pass per step), or from `score` when a closed form is
    known; the log-density and score of the current state are carried along either way.
    """
    def evaluate(v: Tensor) -> tuple[Tensor, Tensor]:
        if score is None:
            return log_prob_and_score(log_prob, v)
        with torch.no_grad():
            return log_prob(v), score(v)

    x = x0.detach().clone()
    lp_x, s_x = evaluate(x)
    traj = [x.cpu().clone()] if every else []
    history = []
    noise = math.sqrt(2.0 * step_size)
    steps = range(n_steps)
    if show_progress:
        steps = progress(steps, desc=desc)
    for t in steps:
        z = randn_like(x, generator)
        y = x + step_size * s_x + noise * z
        lp_y, s_y = evaluate(y)
        log_alpha = mala_log_accept_ratio(x, y, lp_x, lp_y, s_x, s_y, step_size)
        u = rand_like(log_alpha, generator)
        accept = torch.log(u) < log_alpha  # (B,)
        shape = (-1,) + (1,) * (x.dim() - 1)
        x = torch.where(accept.view(shape), y, x)
        s_x = torch.where(accept.view(shape), s_y, s_x)
        lp_x = torch.where(accept, lp_y, lp_x)
        history.append(accept.float().mean().item())
        if every and (t + 1) % every == 0:
            traj.append(x.cpu().clone())
    rate = sum(history) / max(len(history), 1)
    return MALAResult(x, rate, traj, history)


def annealed_langevin(x0: Tensor, score: Callable[[Tensor, float], Tensor], sigmas: Sequence[float],
                      step_size: float, n_steps_each: int, generator: torch.Generator | None = None,
                      show_progress: bool = False) -> tuple[Tensor, list[Tensor]]:
    """Annealed Langevin (Song and Ermon, 2019): for each sigma_i, n_steps_each Langevin steps on
    score(x, sigma_i) with step size step_size * sigma_i^2 / sigma_L^2.

    Returns the final samples and the samples after each level (CPU copies), x0 first.
    """
    sigmas = [float(s) for s in sigmas]
    x = x0.detach().clone()
    levels = [x.cpu().clone()]
    it = progress(sigmas, desc="annealed Langevin") if show_progress else sigmas
    for sigma in it:
        eps = step_size * sigma ** 2 / sigmas[-1] ** 2
        x = langevin(x, lambda v: score(v, sigma), eps, n_steps_each, generator=generator)
        levels.append(x.cpu().clone())
    return x, levels


def mala_proposal_terms(x: Tensor, log_prob: Callable[[Tensor], Tensor], step_size: float,
                        generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """One Langevin proposal y from each chain of x and the terms of its log alpha (mala_log_accept_terms), plus y."""
    lp_x, s_x = log_prob_and_score(log_prob, x)
    y = x + step_size * s_x + math.sqrt(2.0 * step_size) * randn_like(x, generator)
    lp_y, s_y = log_prob_and_score(log_prob, y)
    return {**mala_log_accept_terms(x, y, lp_x, lp_y, s_x, s_y, step_size), "proposal": y.detach()}
