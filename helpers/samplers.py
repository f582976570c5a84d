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

Bad input is refused at the entry point with a ValueError / TypeError that names the argument: a start
that is not a floating tensor, is empty or holds NaN/inf; a step size that is not positive; a negative
number of steps (0 returns the start); a score whose shape differs from x's (no silent broadcasting);
a log_prob that does not return one value per chain. `show_progress` is True (a bar), False (none) or
None, the default: a transient bar once the loop has run a couple of seconds (utils.progress_after).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from . import utils
from .utils import rand_like, randn_like

Tensor = torch.Tensor
Schedule = float | Callable[[int], float]


def _value(s: Schedule, t: int) -> float:
    return float(s(t)) if callable(s) else float(s)


def _step_value(s: Schedule, t: int, name: str, where: str, allow_zero: bool = False) -> float:
    """The schedule's value at step t, checked: finite and positive (or >= 0 with allow_zero)."""
    v = _value(s, t)
    if not (v > 0 or (allow_zero and v == 0)) or not math.isfinite(v):
        at = f" at step {t}" if callable(s) else ""
        raise ValueError(f"{where}: {name} must be {'>= 0' if allow_zero else 'positive'} and finite, got {v}{at}"
                         + ("" if allow_zero else "; a Langevin step moves by step_size * score, so it must be > 0"))
    return v


def _check_start(x0, where: str, name: str = "x0") -> Tensor:
    """The chains' start: a non-empty floating tensor (batch first) with finite values."""
    utils.check_tensor(x0, name, where)
    return utils.check_finite(x0, name, where)


def _check_schedule(s: Schedule, name: str, where: str, allow_zero: bool = False) -> None:
    if not callable(s):  # a schedule is checked at each step (_step_value)
        utils.check_number(s, name, where, allow_zero=allow_zero)


def _check_score_shape(g: Tensor, x: Tensor, where: str, what: str = "score") -> Tensor:
    """A score must have x's shape: (B, 1) or (B,) would broadcast silently into a wrong update."""
    if not isinstance(g, Tensor) or g.shape != x.shape:
        got = tuple(g.shape) if isinstance(g, Tensor) else type(g).__name__
        raise ValueError(f"{where}: the {what} returned shape {got} for x of shape {tuple(x.shape)}; a score is "
                         f"grad_x log p(x), one value per coordinate, so it must have x's shape (no broadcasting). "
                         f"Check the score function (e.g. a missing .sum() before autograd, or a (B, 1) energy "
                         f"where the gradient was meant)")
    return g


def _check_log_prob_shape(lp: Tensor, x: Tensor, where: str) -> Tensor:
    """log_prob must return one value per chain, shape (B,)."""
    want = (x.shape[0],)
    if not isinstance(lp, Tensor) or lp.shape != want:
        got = tuple(lp.shape) if isinstance(lp, Tensor) else type(lp).__name__
        raise ValueError(f"{where}: log_prob returned shape {got} for {x.shape[0]} chains; it must return one "
                         f"value per chain, shape {want} (a scalar, e.g. a .sum() or .mean() over the batch, "
                         f"makes every chain share one accept test). Sum over the non-batch dimensions only, "
                         f"e.g. lambda x: -energy(x).view(len(x))")
    return lp


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
    step_size = utils.check_number(step_size, "step_size", "langevin_step")
    if noise_scale is None:
        noise_scale = math.sqrt(2.0 * step_size)
    noise_scale = utils.check_number(noise_scale, "noise_scale", "langevin_step", allow_zero=True)
    g = _check_score_shape(score(x), x, "langevin_step")
    z = randn_like(x, generator)  # drawn on the generator's device, then moved to x's
    return x + step_size * g + noise_scale * z


def langevin(x0: Tensor, score: Callable[[Tensor], Tensor], step_size: Schedule, n_steps: int,
             noise_scale: Schedule | None = None, every: int | None = None,
             clamp: tuple[float, float] | None = None, generator: torch.Generator | None = None,
             show_progress: bool | None = None, desc: str = "Langevin") -> Tensor | tuple[Tensor, list[Tensor]]:
    """Run `n_steps` Langevin updates from x0; step size and noise may be schedules t -> value.

    Returns the final samples, or (final, trajectory) when `every` is set: the trajectory holds
    x0 and the samples after every `every`-th step (detached CPU copies).
    `clamp` keeps samples in a box (e.g. pixels in [0, 1]) after each step. n_steps = 0 returns the start.
    """
    _check_start(x0, "langevin")
    n_steps = utils.check_count(n_steps, "n_steps", "langevin")
    _check_schedule(step_size, "step_size", "langevin")
    if noise_scale is not None:
        _check_schedule(noise_scale, "noise_scale", "langevin", allow_zero=True)
    if every is not None:
        every = utils.check_count(every, "every", "langevin", minimum=1)
    if clamp is not None and not (len(clamp) == 2 and float(clamp[0]) < float(clamp[1])):
        raise ValueError(f"langevin: clamp must be a pair (low, high) with low < high, got {clamp}")
    x = x0.detach().clone()
    traj = [x.cpu().clone()] if every else None
    for t in utils.steps(n_steps, show_progress, desc):
        eps = _step_value(step_size, t, "step_size", "langevin")
        noise = None if noise_scale is None else _step_value(noise_scale, t, "noise_scale", "langevin", True)
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
         show_progress: bool | None = None, desc: str = "MALA",
         score: Callable[[Tensor], Tensor] | None = None) -> MALAResult:
    """Metropolis-adjusted Langevin: Langevin proposals accepted with the MH test, in log space.

    `log_prob` may be unnormalised (e.g. -E(x)): Z cancels in the ratio. The score comes from
    autograd (one forward and one backward pass per step), or from `score` when a closed form is
    known; the log-density and score of the current state are carried along either way.
    `log_prob` must return one value per chain, shape (B,). n_steps = 0 returns the start.
    """
    _check_start(x0, "mala")
    if callable(step_size):
        raise TypeError("mala: step_size must be a number (MALA's accept test needs one proposal width per step; "
                        "use langevin for a schedule)")
    step_size = utils.check_number(step_size, "step_size", "mala")
    n_steps = utils.check_count(n_steps, "n_steps", "mala")
    if every is not None:
        every = utils.check_count(every, "every", "mala", minimum=1)

    def evaluate(v: Tensor) -> tuple[Tensor, Tensor]:
        if score is None:
            lp, g = log_prob_and_score(log_prob, v)
        else:
            with torch.no_grad():
                lp, g = log_prob(v), _check_score_shape(score(v), v, "mala")
        return _check_log_prob_shape(lp, v, "mala"), g

    x = x0.detach().clone()
    lp_x, s_x = evaluate(x)
    traj = [x.cpu().clone()] if every else []
    history = []
    noise = math.sqrt(2.0 * step_size)
    for t in utils.steps(n_steps, show_progress, desc):
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
                      show_progress: bool | None = None) -> tuple[Tensor, list[Tensor]]:
    """Annealed Langevin (Song and Ermon, 2019): for each sigma_i, n_steps_each Langevin steps on
    score(x, sigma_i) with step size step_size * sigma_i^2 / sigma_L^2.

    Returns the final samples and the samples after each level (CPU copies), x0 first. The progress bar
    (show_progress, default None: once the run has taken a couple of seconds) counts the levels.
    """
    where = "annealed_langevin"
    _check_start(x0, where)
    try:
        sigmas = [float(s) for s in sigmas]
    except (TypeError, ValueError):
        raise TypeError(f"{where}: sigmas must be a sequence of numbers, got {sigmas!r}") from None
    if not sigmas:
        raise ValueError(f"{where}: sigmas is empty; pass the noise levels, largest first")
    if not all(math.isfinite(s) and s > 0 for s in sigmas):
        raise ValueError(f"{where}: every sigma must be positive and finite, got {sigmas}")
    step_size = utils.check_number(step_size, "step_size", where)
    n_steps_each = utils.check_count(n_steps_each, "n_steps_each", where)
    x = x0.detach().clone()
    levels = [x.cpu().clone()]
    levels_iter = utils.steps(len(sigmas), show_progress, "annealed Langevin")
    for i in levels_iter:
        sigma = sigmas[i]
        eps = step_size * sigma ** 2 / sigmas[-1] ** 2
        x = langevin(x, lambda v: score(v, sigma), eps, n_steps_each, generator=generator, show_progress=False)
        levels.append(x.cpu().clone())
    return x, levels


def mala_proposal_terms(x: Tensor, log_prob: Callable[[Tensor], Tensor], step_size: float,
                        generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """One Langevin proposal y from each chain of x: the terms of its log alpha (mala_log_accept_terms), y and both scores."""
    where = "mala_proposal_terms"
    _check_start(x, where, "x")
    step_size = utils.check_number(step_size, "step_size", where)
    lp_x, s_x = log_prob_and_score(log_prob, x)
    _check_log_prob_shape(lp_x, x, where)
    y = x + step_size * s_x + math.sqrt(2.0 * step_size) * randn_like(x, generator)
    lp_y, s_y = log_prob_and_score(log_prob, y)
    return {**mala_log_accept_terms(x, y, lp_x, lp_y, s_x, s_y, step_size), "proposal": y.detach(),
            "score_x": s_x, "score_y": s_y}
