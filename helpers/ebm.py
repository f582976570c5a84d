"""Energy-based models on images (Homework 5, coding practice 1; the deep-EBM tutorial's recipe):
energy networks, the homework's stochastic Langevin dynamics, a replay buffer, the contrastive-divergence
loss with the tutorial's energy regulariser, one training step for every variant, and out-of-distribution
scores.

Conventions. Images live in [-1, 1] (the tutorial's range; `to_signed` / `to_unit` convert from and to the
data loaders' [0, 1]). An energy network returns E(x) of shape (B,) -- low energy = likely image -- with no
output activation; a class-conditional one returns E(x, y) of shape (B,).

Langevin dynamics is the homework's rule

    x <- x - (eps^2 / 2) grad_x E(x) / T + eps * eta,   eta ~ N(0, I),

run by `helpers.samplers.langevin` with step_size = eps^2 / (2 T) and noise_scale = eps (both schedules
t -> value). T = 1 is the text's rule exactly; T < 1 is the same rule applied to the sharpened energy
E / T (a sampling temperature). The tutorial's MNIST sampler (gradient step 10, noise std 0.005, pixel
gradients clipped at 0.03) is this rule with eps = 0.005 and T = eps^2 / (2 * 10) = 1.25e-6
(`temperature_for(step, eps)`), which is why that factor exists.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import utils
from .samplers import langevin
from .utils import progress

Tensor = torch.Tensor
Schedule = float | Callable[[int], float]


# ----------------------------------------------------------------------------- pixel ranges

def to_signed(x: Tensor) -> Tensor:
    """[0, 1] images -> [-1, 1]."""
    return x * 2 - 1


def to_unit(x: Tensor) -> Tensor:
    """[-1, 1] images -> [0, 1] (clamped)."""
    return ((x + 1) / 2).clamp(0, 1)


def to_uint8(x: Tensor) -> Tensor:
    """[-1, 1] images -> uint8 in [0, 255] (clamped, rounded): how training scripts store images compactly."""
    return (to_unit(x) * 255).round().to(torch.uint8)


def from_uint8(u8: Tensor) -> Tensor:
    """uint8 images in [0, 255] -> float [-1, 1] (the inverse of to_uint8 up to its rounding, 1/255)."""
    return u8.float() / 255 * 2 - 1


def uniform_noise(n: int, shape: tuple[int, ...], generator: torch.Generator | None = None,
                  device=None) -> Tensor:
    """n images of U[-1, 1] pixels, shape (n, *shape): the fresh starts of the chains."""
    return utils.rand((n, *shape), generator=generator, device=device) * 2 - 1


# ----------------------------------------------------------------------------- networks

class ResBlock(nn.Module):
    """Pre-activation residual block: x + conv(swish(conv(swish(x)))), optional 2x average-pool down-sampling.

    No normalisation layer: batch statistics would couple the energies of the images in a batch.
    """

    def __init__(self, c_in: int, c_out: int, downsample: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.silu(self.conv1(F.silu(x))))
        out = h + self.shortcut(x)
        return F.avg_pool2d(out, 2) if self.downsample else out


class ResNetEnergy(nn.Module):
    """ResNet-like energy: conv, 3 stages x 3 residual blocks (9 blocks, Swish), global sum pool, linear.

    Input (B, C, H, W) in [-1, 1], any size >= 4 ((1, 28, 28) and (3, 32, 32) alike: two 2x poolings, then a
    global mean). Output: E(x) (B,) when n_outputs = 1, else (B, n_outputs) (one energy per class, for
    `ConditionalEnergy`). No output activation.
    """

    def __init__(self, in_channels: int = 3, width: int = 32, blocks_per_stage: int = 3, n_outputs: int = 1):
        super().__init__()
        if in_channels < 1 or width < 1 or blocks_per_stage < 1 or n_outputs < 1:
            raise ValueError("in_channels, width, blocks_per_stage and n_outputs must be positive")
        self.config = dict(in_channels=in_channels, width=width, blocks_per_stage=blocks_per_stage,
                           n_outputs=n_outputs)
        self.in_channels = in_channels
        self.conv_in = nn.Conv2d(in_channels, width, 3, padding=1)
        blocks, c = [], width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks_per_stage):
                last = b == blocks_per_stage - 1
                blocks.append(ResBlock(c, c_out, downsample=last and stage < 2))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c, n_outputs)
        self.n_outputs = n_outputs

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ResNetEnergy expects images (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h = F.silu(self.blocks(self.conv_in(x)))
        out = self.head(h.mean((2, 3)))
        return out[:, 0] if self.n_outputs == 1 else out


class CNNEnergy(nn.Module):
    """The tutorial's small Swish CNN for (1, 28, 28) digits: 4 stride-2 convolutions (28 -> 16 -> 8 -> 4 -> 2),
    then two linear layers. Returns E(x) (B,) or (B, n_outputs). No output activation.

    (The tutorial's network returns -E; here the sign is folded into the learned last layer.)
    """

    def __init__(self, hidden: int = 32, n_outputs: int = 1, in_channels: int = 1):
        super().__init__()
        self.config = dict(hidden=hidden, n_outputs=n_outputs, in_channels=in_channels)
        c1, c2, c3 = hidden // 2, hidden, hidden * 2
        self.in_channels = in_channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, stride=2, padding=4), nn.SiLU(),  # 28 -> 16
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.SiLU(),  # 8
            nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.SiLU(),  # 4
            nn.Conv2d(c3, c3, 3, stride=2, padding=1), nn.SiLU(),  # 2
            nn.Flatten(), nn.Linear(c3 * 4, c3), nn.SiLU(), nn.Linear(c3, n_outputs))
        self.n_outputs = n_outputs

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, 28, 28):
            raise ValueError(f"CNNEnergy expects images (B, {self.in_channels}, 28, 28), got {tuple(x.shape)}")
        out = self.net(x)
        return out[:, 0] if self.n_outputs == 1 else out


class ConditionalEnergy(nn.Module):
    """E(x, y): a multi-head energy network whose label y picks the head, E(x, y) = f(x)[y], (B,).

    `marginal(x)` is the energy of x alone, -log sum_y exp(-E(x, y)).
    """

    def __init__(self, base: nn.Module, n_classes: int = 10):
        super().__init__()
        if getattr(base, "n_outputs", None) != n_classes:
            raise ValueError(f"the base network must have n_outputs = n_classes = {n_classes}, "
                             f"got {getattr(base, 'n_outputs', None)}")
        self.base = base
        self.n_classes = n_classes

    def all_energies(self, x: Tensor) -> Tensor:
        """E(x, y) for every class: (B, n_classes)."""
        return self.base(x)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        y = torch.as_tensor(y, device=x.device, dtype=torch.long)
        if y.dim() == 0:
            y = y.expand(x.shape[0])
        if y.shape != (x.shape[0],):
            raise ValueError(f"labels must be a scalar or shape ({x.shape[0]},), got {tuple(y.shape)}")
        if y.min() < 0 or y.max() >= self.n_classes:
            raise ValueError(f"labels must lie in [0, {self.n_classes}), got {y.min().item()}..{y.max().item()}")
        return self.all_energies(x).gather(1, y[:, None])[:, 0]

    def marginal(self, x: Tensor) -> Tensor:
        """E(x) = -logsumexp_y(-E(x, y)), (B,)."""
        return -torch.logsumexp(-self.all_energies(x), dim=1)

    def classify(self, x: Tensor) -> Tensor:
        """argmin_y E(x, y), (B,)."""
        return self.all_energies(x).argmin(1)


def build(arch: str, **kwargs) -> nn.Module:
    """An energy network by name: 'resnet' (ResNetEnergy), 'cnn' (CNNEnergy); n_classes > 0 makes it conditional."""
    n_classes = kwargs.pop("n_classes", 0)
    nets = {"resnet": ResNetEnergy, "cnn": CNNEnergy}
    if arch not in nets:
        raise ValueError(f"unknown architecture {arch!r}; use one of {sorted(nets)}")
    if n_classes:
        return ConditionalEnergy(nets[arch](n_outputs=n_classes, **kwargs), n_classes)
    return nets[arch](**kwargs)


def energy_given(model: ConditionalEnergy, y: Tensor | int) -> Callable[[Tensor], Tensor]:
    """x -> E(x, y) with the labels y held fixed (class-conditional sampling)."""
    return lambda x: model(x, y)


# ----------------------------------------------------------------------------- Langevin dynamics

class GeometricSchedule:
    """eps_t = eps_start (eps_end / eps_start)^(t / (T - 1)) for the steps t = 0 .. T - 1 of a T-step chain:
    the first step uses eps_start and the last eps_end (the text's eps_1 .. eps_T)."""

    def __init__(self, eps_start: float, eps_end: float, n_steps: int):
        if eps_start <= 0 or eps_end <= 0:
            raise ValueError(f"eps_start and eps_end must be positive, got {eps_start}, {eps_end}")
        if n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {n_steps}")
        self.eps_start, self.eps_end, self.n_steps = float(eps_start), float(eps_end), int(n_steps)

    def __call__(self, t: int) -> float:
        if self.n_steps == 1:
            return self.eps_start
        return self.eps_start * (self.eps_end / self.eps_start) ** (t / (self.n_steps - 1))

    def __repr__(self) -> str:
        return f"GeometricSchedule({self.eps_start:g} -> {self.eps_end:g} over {self.n_steps} steps)"


def _at(s: Schedule, t: int) -> float:
    return float(s(t)) if callable(s) else float(s)


def temperature_for(step: float, eps: float) -> float:
    """T with eps^2 / (2 T) = step: the temperature at which the text's rule takes gradient steps of `step`."""
    return eps ** 2 / (2 * step)


def energy_score(energy: Callable[[Tensor], Tensor], grad_clip: float | None = None,
                 temperature: float = 1.0) -> Callable[[Tensor], Tensor]:
    """x -> -grad_x E(x) / T by autograd, with grad_x E clipped per pixel to [-grad_clip, grad_clip] first."""
    def score(x: Tensor) -> Tensor:
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(energy(x).sum(), x)
        if grad_clip is not None:
            g = g.clamp(-grad_clip, grad_clip)
        return -g / temperature
    return score


def sgld(energy: Callable[[Tensor], Tensor], x0: Tensor, eps: Schedule, n_steps: int, temperature: float = 1.0,
         grad_clip: float | None = None, clamp: tuple[float, float] | None = (-1.0, 1.0), every: int | None = None,
         generator: torch.Generator | None = None, show_progress: bool = False):
    """The homework's stochastic Langevin dynamics x <- x - (eps_t^2 / 2) grad E(x) / T + eps_t eta, n_steps times.

    `eps` is a number or a schedule t -> eps_t (e.g. GeometricSchedule); pixels are clamped to `clamp` after
    each step (the tutorial's [-1, 1]). Returns the samples, or (samples, trajectory) when `every` is set.
    Freeze the model's parameters (requires_grad_(False)) for speed: only grad_x is needed.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if not callable(eps):
        try:
            e = float(eps)
        except (TypeError, ValueError):
            raise TypeError(f"ebm.sgld: eps must be a number or a schedule t -> eps_t, got {eps!r}") from None
        if not (math.isfinite(e) and e > 0):
            raise ValueError(f"ebm.sgld: eps must be positive and finite (the noise std of a step), got {eps!r}")
    step = lambda t: _at(eps, t) ** 2 / (2 * temperature)  # noqa: E731
    noise = lambda t: _at(eps, t)  # noqa: E731
    return langevin(x0, energy_score(energy, grad_clip), step, n_steps, noise_scale=noise, every=every,
                    clamp=clamp, generator=generator, show_progress=show_progress, desc="SGLD")


@dataclass
class SamplerConfig:
    """Negatives for one training step: n_steps of `sgld` with eps (a number, or (eps_start, eps_end) for the
    decaying schedule), temperature and per-pixel gradient clipping. Defaults: the tutorial's MNIST sampler."""
    n_steps: int = 60
    eps: float | tuple[float, float] = 0.005
    temperature: float = 1.25e-6  # eps^2 / (2 T) = 10: the tutorial's gradient step
    grad_clip: float | None = 0.03

    def schedule(self) -> Schedule:
        if isinstance(self.eps, (tuple, list)):
            return GeometricSchedule(self.eps[0], self.eps[1], self.n_steps)
        return float(self.eps)

    def run(self, energy, x0: Tensor, generator: torch.Generator | None = None, every: int | None = None):
        return sgld(energy, x0, self.schedule(), self.n_steps, self.temperature, self.grad_clip,
                    every=every, generator=generator)


# ----------------------------------------------------------------------------- replay buffer

class ReplayBuffer:
    """A fixed-size store of past negatives (and their labels for a conditional model).

    `sample(n)` returns starts for n chains: n_fresh = round(fresh * n) of them U[-1, 1] noise (first), the
    rest drawn uniformly from the buffer; `push(x)` writes finished chains over the oldest entries (FIFO).
    The buffer starts full of U[-1, 1] noise (with uniform random labels).
    """

    def __init__(self, shape: tuple[int, ...], size: int = 10_000, fresh: float = 0.05, n_classes: int = 0,
                 seed: int = 0, device=None):
        if size < 1:
            raise ValueError(f"buffer size must be >= 1, got {size}")
        if not 0.0 <= fresh <= 1.0:
            raise ValueError(f"fresh must be a fraction in [0, 1], got {fresh}")
        self.shape, self.size, self.fresh, self.n_classes = tuple(shape), int(size), float(fresh), int(n_classes)
        self.generator = utils.generator(seed)  # the buffer lives on the CPU; sample() moves starts to `device`
        self.device = device
        self.x = uniform_noise(size, self.shape, self.generator)
        self.y = utils.randint(0, n_classes, (size,), generator=self.generator) if n_classes else None
        self._next = 0

    def __len__(self) -> int:
        return self.x.shape[0]

    def n_fresh(self, n: int) -> int:
        return int(round(self.fresh * n))

    def sample(self, n: int):
        """(x0 (n, *shape), n_fresh) or, for a conditional buffer, (x0, y0, n_fresh); fresh starts come first."""
        k = self.n_fresh(n)
        idx = utils.randint(0, self.size, (n - k,), generator=self.generator)
        x0 = torch.cat([uniform_noise(k, self.shape, self.generator), self.x[idx]])
        x0 = x0.to(self.device) if self.device is not None else x0
        if not self.n_classes:
            return x0, k
        y0 = torch.cat([utils.randint(0, self.n_classes, (k,), generator=self.generator), self.y[idx]])
        return x0, y0.to(x0.device), k

    def push(self, x: Tensor, y: Tensor | None = None) -> None:
        """Write x (and labels y) over the oldest entries."""
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"buffer holds images {self.shape}, got {tuple(x.shape[1:])}")
        if self.n_classes and y is None:
            raise ValueError("a conditional buffer needs the labels of the pushed samples")
        x = x.detach().cpu()[: self.size]
        pos = (self._next + torch.arange(x.shape[0])) % self.size
        self.x[pos] = x
        if self.n_classes:
            self.y[pos] = torch.as_tensor(y).detach().cpu()[: self.size]
        self._next = int((self._next + x.shape[0]) % self.size)


# ----------------------------------------------------------------------------- loss and training

def cd_loss(e_real: Tensor, e_fake: Tensor, alpha: float = 0.1) -> dict[str, Tensor]:
    """Contrastive divergence E(real).mean() - E(fake).mean() plus the tutorial's regulariser
    alpha * (mean E_real^2 + mean E_fake^2); returns loss, cd and reg."""
    cd = e_real.mean() - e_fake.mean()
    reg = alpha * ((e_real ** 2).mean() + (e_fake ** 2).mean())
    return {"loss": cd + reg, "cd": cd, "reg": reg}


def _energy(model: nn.Module, x: Tensor, y: Tensor | None) -> Tensor:
    return model(x) if y is None else model(x, y)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x_real: Tensor, y_real: Tensor | None = None,
               sampler: SamplerConfig | None = None, buffer: ReplayBuffer | None = None, alpha: float = 0.1,
               clip_norm: float | None = 0.1, real_noise: float = 0.005,
               generator: torch.Generator | None = None, ce_weight: float = 0.0) -> dict:
    """One contrastive-divergence step; the same function for every variant:

    - negatives from noise: buffer=None (chains start at U[-1, 1]);
    - negatives from a replay buffer (95% buffer, 5% noise): pass a ReplayBuffer;
    - decaying eps: SamplerConfig(eps=(eps_start, eps_end));
    - conditional model E(x, y): pass y_real; negatives carry labels (the buffer's, or y_real when from noise).

    Real images get N(0, real_noise^2) noise (clamped to [-1, 1]); the loss's parameter gradient is clipped to
    norm `clip_norm`. Optional for a conditional model: ce_weight * cross-entropy of the labels under the
    softmax of -E(x_real, .) (an explicit "higher energy for the wrong labels" term; 0 = the plain recipe). Returns floats (loss, cd, reg, e_real, e_fake, grad_norm) and the negatives `x_fake`
    (and `y_fake`).
    """
    sampler = sampler or SamplerConfig()
    device = x_real.device
    n = x_real.shape[0]
    conditional = y_real is not None
    if real_noise:
        x_real = (x_real + real_noise * utils.randn_like(x_real, generator)).clamp(-1, 1)
    y_fake = None
    if buffer is not None:
        if conditional != bool(buffer.n_classes):
            raise ValueError("a conditional model needs a buffer with n_classes (and an unconditional one without)")
        out = buffer.sample(n)
        x0, y_fake = (out[0], out[1]) if conditional else (out[0], None)
        x0 = x0.to(device)
    else:
        x0 = uniform_noise(n, tuple(x_real.shape[1:]), generator, device)
        y_fake = y_real if conditional else None
    if conditional:
        y_fake = y_fake.to(device)
    was_training = model.training
    model.eval().requires_grad_(False)  # only grad_x during sampling
    energy = (lambda x: model(x, y_fake)) if conditional else model
    x_fake = sampler.run(energy, x0, generator=generator).detach()
    model.requires_grad_(True).train(was_training)
    if buffer is not None:
        buffer.push(x_fake, y_fake)
    e = _energy(model, torch.cat([x_real, x_fake]), torch.cat([y_real, y_fake]) if conditional else None)
    losses = cd_loss(e[:n], e[n:], alpha)
    if ce_weight:
        if not isinstance(model, ConditionalEnergy):
            raise ValueError("ce_weight needs a ConditionalEnergy model and labels y_real")
        # "lower energy with the correct label, higher otherwise": softmax over -E(x, .) on the real images
        losses["ce"] = F.cross_entropy(-model.all_energies(x_real), y_real)
        losses["loss"] = losses["loss"] + ce_weight * losses["ce"]
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm if clip_norm else float("inf"))
    optimizer.step()
    return {**{k: v.item() for k, v in losses.items()}, "e_real": e[:n].mean().item(),
            "e_fake": e[n:].mean().item(), "grad_norm": float(grad_norm), "x_fake": x_fake, "y_fake": y_fake}


def make_optimizer(model: nn.Module, lr: float = 1e-4, beta1: float = 0.0) -> torch.optim.Optimizer:
    """The tutorial's Adam (lr 1e-4, betas (0, 0.999))."""
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(beta1, 0.999))


def step_decay_lr(lr: float, gamma: float, every: int, iteration: int) -> float:
    """The learning rate at a 0-based iteration when it is multiplied by gamma every `every` iterations (torch's
    StepLR, stepped per iteration): the tutorial uses gamma 0.97 once per epoch of its 60,000 digits."""
    if every < 1 or not gamma > 0:
        raise ValueError(f"step_decay_lr: need every >= 1 and gamma > 0, got every={every}, gamma={gamma}")
    return lr * gamma ** (iteration // every)


@dataclass
class History:
    """Per-iteration curves and sample snapshots of a training run."""
    loss: list[float] = field(default_factory=list)
    cd: list[float] = field(default_factory=list)
    reg: list[float] = field(default_factory=list)
    e_real: list[float] = field(default_factory=list)
    e_fake: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    ce: list[float] = field(default_factory=list)  # only with ce_weight > 0
    snapshots: dict[int, Tensor] = field(default_factory=dict)  # iteration -> a few negatives (CPU)
    seconds: float = 0.0  # wall clock
    cpu_seconds: float = 0.0  # CPU time of this process (all its threads): the cost on a shared machine
    iterations: int = 0

    def append(self, out: dict) -> None:
        for k in ("loss", "cd", "reg", "e_real", "e_fake", "grad_norm"):
            getattr(self, k).append(out[k])
        if "ce" in out:
            self.ce.append(out["ce"])
        self.iterations += 1

    def summary(self, last: int = 100) -> dict:
        """Means of the last `last` iterations and the time per iteration."""
        tail = lambda v: sum(v[-last:]) / max(len(v[-last:]), 1)  # noqa: E731
        return {"iterations": self.iterations, "seconds": round(self.seconds, 1),
                "seconds_per_iteration": round(self.seconds / max(self.iterations, 1), 4),
                "cpu_seconds_per_iteration": round(self.cpu_seconds / max(self.iterations, 1), 4),
                **{k: tail(getattr(self, k)) for k in ("loss", "cd", "reg", "e_real", "e_fake")}}


def train(model: nn.Module, x: Tensor, y: Tensor | None = None, n_iters: int = 1000, minutes: float | None = None,
          batch_size: int = 128, sampler: SamplerConfig | None = None, use_buffer: bool = True,
          buffer_size: int = 10_000, fresh: float = 0.05, alpha: float = 0.1, lr: float = 1e-4,
          clip_norm: float | None = 0.1, real_noise: float = 0.005, snapshot_every: int = 100,
          n_snapshot: int = 16, seed: int = 0, device=None, show_progress: bool = True,
          optimizer: torch.optim.Optimizer | None = None, buffer: ReplayBuffer | None = None,
          ce_weight: float = 0.0) -> History:
    """Contrastive-divergence training on images x in [-1, 1] (labels y for a conditional model): n_iters
    steps of `train_step` (or fewer when the `minutes` wall-clock budget runs out), Adam as the tutorial.
    Returns the History (curves, snapshots of negatives every `snapshot_every` iterations, wall time)."""
    device = device or next(model.parameters()).device
    utils.check_finite(utils.check_tensor(x, "x", "ebm.train"), "x", "ebm.train")  # issue 32: no silent NaN
    n_iters = utils.check_count(n_iters, "n_iters", "ebm.train")
    batch_size = utils.check_count(batch_size, "batch_size", "ebm.train", minimum=1)
    if x.min() < -1.001 or x.max() > 1.001:
        raise ValueError(f"images must be in [-1, 1] (use to_signed on [0, 1] data), got [{x.min():.3g}, {x.max():.3g}]")
    g = utils.generator(seed, device)  # on the model's device: the chains' noise never crosses to the host
    optimizer = optimizer or make_optimizer(model, lr)
    if buffer is None and use_buffer:
        buffer = ReplayBuffer(tuple(x.shape[1:]), buffer_size, fresh, n_classes=int(y.max()) + 1 if y is not None else 0,
                              seed=seed)
    hist = History()
    perm, pos = utils.randperm(len(x), generator=g, device=x.device), 0
    start, cpu_start = time.perf_counter(), time.process_time()
    it = progress(range(n_iters), desc="CD training") if show_progress else range(n_iters)
    for i in it:
        if pos + batch_size > len(x):
            perm, pos = utils.randperm(len(x), generator=g, device=x.device), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        out = train_step(model, optimizer, x[idx].to(device), None if y is None else y[idx].to(device), sampler,
                         buffer, alpha, clip_norm, real_noise, g, ce_weight)
        hist.append(out)
        if not math.isfinite(out["loss"]):
            raise FloatingPointError(f"CD training diverged at iteration {i}: loss {out['loss']}")
        if snapshot_every and (i % snapshot_every == 0 or i == n_iters - 1):
            hist.snapshots[i] = out["x_fake"][:n_snapshot].cpu()
        if minutes is not None and time.perf_counter() - start > 60 * minutes:
            hist.snapshots[i] = out["x_fake"][:n_snapshot].cpu()
            break
    hist.seconds = time.perf_counter() - start
    hist.cpu_seconds = time.process_time() - cpu_start
    return hist


# ----------------------------------------------------------------------------- conditional sampling, evaluation

def sample_conditional(model: ConditionalEnergy, y: Tensor, sampler: SamplerConfig, seed: int = 0, device=None,
                       every: int | None = None):
    """Class-conditional samples: chains from U[-1, 1] under E(x, y) with the labels y held fixed at every step."""
    device = device or next(model.parameters()).device
    g = utils.generator(seed, device)
    shape = _input_shape(model)
    x0 = uniform_noise(len(y), shape, g, device)
    model.eval().requires_grad_(False)
    return sampler.run(energy_given(model, torch.as_tensor(y, device=device)), x0, generator=g, every=every)


def _input_shape(model: nn.Module) -> tuple[int, int, int]:
    base = model.base if isinstance(model, ConditionalEnergy) else model
    return (base.in_channels, 28, 28) if isinstance(base, CNNEnergy) else (base.in_channels, 32, 32)


def conditional_share(classifier: nn.Module, samples: Tensor, y: Tensor) -> float:
    """Share of samples (in [-1, 1]) that the classifier assigns to their conditioning class."""
    from .classifier import predict_proba

    p = predict_proba(classifier, to_unit(samples.detach().cpu()).float())
    return (p.argmax(1) == torch.as_tensor(y).cpu()).float().mean().item()


@torch.no_grad()
def energy_scores(model: nn.Module, x: Tensor, batch_size: int = 500, device=None) -> Tensor:
    """E(x) for images in [-1, 1], (N,), batched; for a ConditionalEnergy the marginal -logsumexp_y(-E(x, y))."""
    device = device or next(model.parameters()).device
    f = model.marginal if isinstance(model, ConditionalEnergy) else model
    model.eval()
    return torch.cat([f(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def auroc(e_in: Tensor, e_out: Tensor) -> float:
    """AUROC of the energy as an out-of-distribution detector (higher energy = out), by sklearn."""
    from sklearn.metrics import roc_auc_score

    labels = torch.cat([torch.zeros(len(e_in)), torch.ones(len(e_out))])
    return float(roc_auc_score(labels.numpy(), torch.cat([e_in.cpu(), e_out.cpu()]).double().numpy()))


def auroc_standard_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUROC over n_pos positives and n_neg negatives (Hanley and McNeil, 1982)."""
    if not 0.0 <= auc <= 1.0:  # NaN fails this test too
        raise ValueError(f"auc must be in [0, 1], got {auc}")
    if n_pos < 1 or n_neg < 1:
        raise ValueError(f"n_pos and n_neg must be at least 1, got {n_pos} and {n_neg}")
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc ** 2) + (n_neg - 1) * (q2 - auc ** 2)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def flipped(x: Tensor) -> Tensor:
    """Images turned upside down and mirrored (the tutorial's flip of both spatial axes)."""
    return x.flip(-1, -2)


def shrunken(x: Tensor, factor: float = 0.5, background: float = -1.0) -> Tensor:
    """Images scaled down by `factor` (bilinear) and centred on a `background` canvas of the same size."""
    if not 0 < factor <= 1:
        raise ValueError(f"factor must be in (0, 1], got {factor}")
    h, w = x.shape[-2:]
    nh, nw = max(1, round(h * factor)), max(1, round(w * factor))
    small = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    out = torch.full_like(x, background)
    top, left = (h - nh) // 2, (w - nw) // 2
    out[..., top:top + nh, left:left + nw] = small
    return out


def noisy(x: Tensor, sigma: float = 0.3, generator: torch.Generator | None = None) -> Tensor:
    """Images plus N(0, sigma^2) pixel noise, clamped to [-1, 1] (the tutorial uses sigma 0.3)."""
    return (x + sigma * utils.randn_like(x, generator)).clamp(-1, 1)


def ood_report(model: nn.Module, x_test: Tensor, x_ood: Tensor, sigma: float = 0.3, factor: float = 0.5,
               seed: int = 0) -> dict:
    """Mean energies of test images and of the tutorial's outliers (U[-1, 1] noise, noisy, flipped and shrunken
    test images) and of a real out-of-distribution set, with the AUROC of the energy against the test images."""
    g = utils.generator(seed)
    sets = {"test": x_test, "noise": uniform_noise(len(x_test), tuple(x_test.shape[1:]), g),
            "noisy": noisy(x_test, sigma, g), "flipped": flipped(x_test), "shrunken": shrunken(x_test, factor),
            "ood": x_ood}
    e = {k: energy_scores(model, v) for k, v in sets.items()}
    out = {f"mean_energy_{k}": v.mean().item() for k, v in e.items()}
    out.update({f"auroc_{k}": auroc(e["test"], v) for k, v in e.items() if k != "test"})
    return out


def per_class_share(classifier: nn.Module, samples: Tensor, y: Tensor, n_classes: int = 10) -> list[float]:
    """For each class c, the share of the samples conditioned on c that the classifier labels c."""
    from .classifier import predict_proba

    pred = predict_proba(classifier, to_unit(samples.detach().cpu()).float()).argmax(1)
    y = torch.as_tensor(y).cpu()
    return [(pred[y == c] == c).float().mean().item() if (y == c).any() else float("nan") for c in range(n_classes)]


def load(path: str, device=None) -> nn.Module:
    """A shipped EBM checkpoint, rebuilt from the architecture in its record (weights_only=True), frozen."""
    from . import checkpoints as ckpt

    rec = ckpt.load_record(path)
    if "arch" not in rec or "arch_kwargs" not in rec:
        raise ckpt.CheckpointError(f"record of {path} names no architecture ('arch', 'arch_kwargs'); retrain it")
    model = ckpt.load_into(build(rec["arch"], **rec["arch_kwargs"]), path)
    return model.to(device or "cpu").eval().requires_grad_(False)


def _recorded_uint8(path: str, field: str):
    """The uint8 file that `path`'s record names under `field` (sha256-checked against `field`_sha256), loaded."""
    from . import checkpoints as ckpt

    rec = ckpt.load_record(path)
    if field + "_file" not in rec:
        raise ckpt.CheckpointError(f"record of {path} names no {field} file; retrain it with scripts/train_ebm_mnist.py")
    f = ckpt.resolve(path).with_name(rec[field + "_file"])
    if not f.exists() or ckpt.sha256sum(f) != rec[field + "_sha256"]:
        raise ckpt.CheckpointError(f"{f} is missing or does not match the sha256 in {ckpt.record_path(path).name}; "
                                   f"restore it (git checkout -- checkpoints/{f.name}) or retrain")
    return torch.load(f, map_location="cpu", weights_only=True)


def load_snapshots(path: str) -> dict[int, Tensor]:
    """The negatives a training script kept along training (record field 'snapshots_file', uint8, sha256-checked),
    as {iteration: images in [-1, 1]}."""
    return {int(k): from_uint8(v) for k, v in sorted(_recorded_uint8(path, "snapshots").items())}


def load_buffer_sample(path: str) -> Tensor:
    """Images of the final replay buffer that a training script kept (record field 'buffer_sample_file', uint8,
    sha256-checked), in [-1, 1]."""
    return from_uint8(_recorded_uint8(path, "buffer_sample"))


def add_recipe_args(p, buffer: int = 8192, eps_end: float | None = 0.001) -> None:
    """The deep-EBM tutorial's contrastive-divergence recipe as command-line flags of an argparse parser (shared by
    the training scripts): batch, Langevin steps / eps / eps-end / temperature / gradient clip, alpha, Adam lr,
    gradient-norm clip, replay buffer size and share of fresh chains."""
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=60, help="Langevin steps per training iteration")
    p.add_argument("--eps", type=float, default=0.005, help="eps of the rule (the noise std per step)")
    p.add_argument("--eps-end", type=float, default=eps_end, help="decaying eps: its value at a chain's last step")
    p.add_argument("--temperature", type=float, default=1.25e-6, help="T: gradient step eps^2 / (2 T)")
    p.add_argument("--grad-clip", type=float, default=0.03, help="per-pixel clip of grad_x E")
    p.add_argument("--alpha", type=float, default=0.1, help="weight of the energy regulariser")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--clip-norm", type=float, default=0.1, help="clip of the parameter-gradient norm")
    p.add_argument("--buffer", type=int, default=buffer, help="replay buffer size")
    p.add_argument("--fresh", type=float, default=0.05, help="share of buffer chains restarted from noise")


def sampler_from_args(args, n_steps: int | None = None, decay: bool = False) -> SamplerConfig:
    """The SamplerConfig of add_recipe_args' flags over n_steps (default --steps); decay: eps falls geometrically
    from --eps to --eps-end along each chain."""
    eps = (args.eps, args.eps_end) if decay else args.eps
    return SamplerConfig(n_steps=args.steps if n_steps is None else n_steps, eps=eps, temperature=args.temperature,
                         grad_clip=args.grad_clip)


def training_record(script: str, argv: list[str], args, sampler, hist, device) -> dict:
    """The part of a checkpoint record every EBM training script shares: command, settings, timing."""
    return {
        "command": utils.command_line(script, argv),
        "device": str(device), "smoke": args.smoke,
        "hyperparameters": {k: v for k, v in vars(args).items() if k not in ("out", "smoke")},
        "sampler": {"n_steps": sampler.n_steps, "eps": sampler.eps, "temperature": sampler.temperature,
                    "grad_clip": sampler.grad_clip},
        "train_seconds": round(hist.seconds, 1), "iterations": hist.iterations,
        "seconds_per_iteration": round(hist.seconds / max(hist.iterations, 1), 4),
        "cpu_seconds": round(hist.cpu_seconds, 1), "threads": torch.get_num_threads(),
    }
