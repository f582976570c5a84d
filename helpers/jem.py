"""JEM and JEM++: a classifier's logits read as an energy-based model (Homework 5, coding practice 2).

A classifier with logits f(x) in R^K defines (Grathwohl et al., 2019, "Your classifier is secretly an
energy based model and you should treat it like one")

    p(y | x) = softmax(f(x))[y]                         (unchanged: the classifier itself),
    p(x, y) = exp(f(x)[y]) / Z,   p(x) = exp(-E(x)) / Z,   E(x) = -logsumexp_y f(x)[y].

Training maximises log p(y|x) + log p(x). The gradient of log p(x) is
-grad E(x_real) + E_{x ~ p}[grad E(x)], estimated with SGLD negatives x_fake, so the loss is

    L = CE(f(x_real), y) + mean E(x_real) - mean E(x_fake)       (x_fake detached).

SGLD (JEM's decoupled step: step size 1, noise 0.01, not the sqrt(2 step) of exact Langevin):
x <- x - 1 * grad E(x) + 0.01 * z, through helpers.samplers.langevin / langevin_step.

JEM starts each chain from a replay buffer (sampled states are written back), re-initialising 5% of
the starts with uniform noise. JEM++ (Yang and Ji, 2021) starts SGLD from an *informative*
initialisation, a Gaussian mixture fitted to the training data with one component per class, and
uses *proximal* SGLD: each step's move is bounded, |x_{t+1} - x_t| <= delta per pixel. Here the
whole move (drift and noise) is clamped, so the bound is exact.

Images are in [0, 1] (the project's convention and the pretrained classifier's input), where JEM
works in [-1, 1]; chains are clamped to [0, 1] after each step.

Model: `JEMCNN` is helpers.classifier.SmallCNN without BatchNorm and Dropout. JEM avoids BatchNorm:
SGLD pushes batches of samples through the network, batch statistics would mix real and sampled
images (and differ between train and eval mode), and the energy of one image would depend on its
batch. Dropout would make E(x) random inside the sampler. `JEMCNN.from_small_cnn` folds the
pretrained classifier's (eval-mode) BatchNorm into its convolutions, so training starts from
exactly the same function as the shipped 98.9% classifier.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import samplers, utils
from .classifier import SmallCNN, accuracy, augment
from .utils import progress

Tensor = torch.Tensor

JEM_STEP_SIZE = 1.0  # JEM's SGLD step (alpha)
JEM_NOISE = 0.01  # JEM's SGLD noise standard deviation
JEM_REINIT = 0.05  # share of replay-buffer starts replaced by fresh noise
CLAMP = (0.0, 1.0)  # the images' range


# ----------------------------------------------------------------------------- the energy reading

def energy_from_logits(logits: Tensor) -> Tensor:
    """E(x) = -logsumexp_y f(x)[y]: (B, K) logits -> (B,) energies."""
    return -torch.logsumexp(logits, dim=1)


def class_probs(logits: Tensor) -> Tensor:
    """p(y|x) = softmax(f(x)) (B, K): the classifier's own probabilities."""
    return F.softmax(logits, dim=1)


def joint_log_prob(logits: Tensor) -> Tensor:
    """log p(x, y) + log Z = f(x)[y] for every y: (B, K)."""
    return logits


def energy_fn(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """x -> E(x) (B,) for a classifier returning logits."""
    return lambda x: energy_from_logits(model(x))


def sgld_score(model: nn.Module) -> Callable[[Tensor], Tensor]:
    """x -> -grad_x E(x) = grad_x logsumexp f(x), by autograd (gradients reach x only)."""
    return samplers.score_from_energy(energy_fn(model))


# ----------------------------------------------------------------------------- a JEM-ready classifier

class JEMCNN(nn.Module):
    """SmallCNN's layout without BatchNorm and Dropout: conv(w)-conv(w)-pool-conv(2w)-conv(2w)-pool-fc(128)-fc(K)."""

    def __init__(self, n_classes: int = 10, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * w * 7 * 7, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits f(x) (B, K)."""
        if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"JEMCNN expects images (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.head(self.features(x))

    def energy(self, x: Tensor) -> Tensor:
        """E(x) = -logsumexp f(x) (B,)."""
        return energy_from_logits(self(x))

    @classmethod
    def from_small_cnn(cls, model: SmallCNN) -> "JEMCNN":
        """The same function as `model` in eval mode: BatchNorm folded into the convolutions, Dropout dropped."""
        convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
        bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
        lin = [m for m in model.features if isinstance(m, nn.Linear)] + [m for m in model.head if isinstance(m, nn.Linear)]
        if len(convs) != 4 or len(bns) != 4 or len(lin) != 2:
            raise ValueError("from_small_cnn expects helpers.classifier.SmallCNN's layout (4 conv+BN, 2 linear)")
        out = cls(n_classes=lin[1].out_features, width=convs[0].out_channels)
        new_convs = [m for m in out.features if isinstance(m, nn.Conv2d)]
        with torch.no_grad():
            for c, bn, nc in zip(convs, bns, new_convs):
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                nc.weight.copy_(c.weight * scale.view(-1, 1, 1, 1))
                nc.bias.copy_((c.bias - bn.running_mean) * scale + bn.bias)
            new_lin = [m for m in out.features if isinstance(m, nn.Linear)] + [out.head]
            for a, b in zip(lin, new_lin):
                b.weight.copy_(a.weight)
                b.bias.copy_(a.bias)
        return out


# ----------------------------------------------------------------------------- SGLD (JEM and proximal)

def proximal_sgld_step(x: Tensor, score: Callable[[Tensor], Tensor], step_size: float = JEM_STEP_SIZE,
                       noise_scale: float = JEM_NOISE, bound: float = 0.03, clamp: tuple[float, float] | None = CLAMP,
                       generator: torch.Generator | None = None) -> Tensor:
    """One proximal SGLD step (JEM++): the Langevin move x' - x clamped to [-bound, bound] per pixel."""
    if bound <= 0:
        raise ValueError(f"the proximal bound must be positive, got {bound}")
    proposal = samplers.langevin_step(x, score, step_size, noise_scale, generator)
    x_new = x + (proposal - x).clamp(-bound, bound)
    if clamp is not None:  # the box keeps |move| <= bound as long as x itself is in the box
        x_new = x_new.clamp(*clamp)
    return x_new.detach()


def sgld(model: nn.Module, x0: Tensor, n_steps: int, step_size: float = JEM_STEP_SIZE, noise_scale: float = JEM_NOISE,
         bound: float | None = None, clamp: tuple[float, float] | None = CLAMP,
         generator: torch.Generator | None = None, show_progress: bool | None = None) -> Tensor:
    """SGLD on E(x) = -logsumexp f(x) from x0: JEM's (bound None, helpers.samplers.langevin) or proximal (bound set).
    show_progress as in helpers.samplers (default None: a transient bar once the run has taken a few seconds)."""
    score = sgld_score(model)
    if bound is None:
        return samplers.langevin(x0, score, step_size, n_steps, noise_scale=noise_scale, clamp=clamp,
                                 generator=generator, show_progress=show_progress, desc="SGLD")
    samplers._check_start(x0, "jem.sgld")  # (the step size is checked by langevin_step)
    n_steps = utils.check_count(n_steps, "n_steps", "jem.sgld")
    x = x0.detach().clone()
    for _ in utils.steps(n_steps, show_progress, "proximal SGLD"):  # langevin has no per-step projection hook
        x = proximal_sgld_step(x, score, step_size, noise_scale, bound, clamp, generator)
    return x


# ----------------------------------------------------------------------------- initialisations

def uniform_noise(n: int, shape=(1, 28, 28), generator: torch.Generator | None = None, device=None) -> Tensor:
    """JEM's fresh starts: U[0, 1] images (n, *shape)."""
    return utils.rand((n, *shape), generator=generator, device=device or "cpu")


class ClassGaussianMixture:
    """JEM++'s informative initialisation: one Gaussian per class fitted to the flattened training images.

    Each component is sklearn.mixture.GaussianMixture(n_components=1) fitted to one class (its mean and
    covariance are the class's sample mean and (regularised) covariance); the weights are the class
    frequencies. covariance_type 'diag' is cheap and enough for starting chains; 'full' (784 x 784 per
    class, as in JEM++) captures the strokes' correlations and is still quick for MNIST.
    """

    def __init__(self, covariance_type: str = "diag", reg_covar: float = 1e-3, seed: int = 0):
        if covariance_type not in ("diag", "full"):
            raise ValueError(f"covariance_type must be 'diag' or 'full', got {covariance_type!r}")
        self.covariance_type, self.reg_covar, self.seed = covariance_type, reg_covar, seed
        self.components = []

    def fit(self, x: Tensor, y: Tensor) -> "ClassGaussianMixture":
        """Fit one Gaussian per label of y on x flattened to (N, D)."""
        from sklearn.mixture import GaussianMixture

        if len(x) != len(y):
            raise ValueError(f"x and y have different lengths ({len(x)} vs {len(y)})")
        self.shape = tuple(x.shape[1:])
        flat = x.reshape(len(x), -1).double().cpu().numpy()
        labels = y.cpu().numpy()
        self.classes = np.unique(labels)
        self.components = []
        for c in self.classes:
            gm = GaussianMixture(1, covariance_type=self.covariance_type, reg_covar=self.reg_covar,
                                 random_state=self.seed).fit(flat[labels == c])
            self.components.append(gm)
        counts = np.array([(labels == c).sum() for c in self.classes], dtype=np.float64)
        self.weights = torch.as_tensor(counts / counts.sum())
        self.means = torch.stack([torch.as_tensor(g.means_[0]) for g in self.components]).float()  # (K, D)
        if self.covariance_type == "diag":
            self.scales = torch.stack([torch.as_tensor(np.sqrt(g.covariances_[0])) for g in self.components]).float()
        else:
            self.scales = torch.stack([torch.linalg.cholesky(torch.as_tensor(g.covariances_[0]))
                                       for g in self.components]).float()  # (K, D, D)
        return self

    def sample(self, n: int, y: Tensor | None = None, generator: torch.Generator | None = None,
               clamp: tuple[float, float] | None = CLAMP) -> tuple[Tensor, Tensor]:
        """n images (n, *shape) and their components' labels; y fixes the classes, else they follow the weights."""
        if not self.components:
            raise RuntimeError("ClassGaussianMixture.sample before fit: call fit(x, y) first")
        if y is None:
            k = utils.multinomial(self.weights.float(), n, replacement=True, generator=generator)
        else:
            k = torch.as_tensor([int(np.searchsorted(self.classes, int(v))) for v in y])
            n = len(k)
        z = utils.randn(n, self.means.shape[1], generator=generator, device=self.means.device)
        if self.covariance_type == "diag":
            flat = self.means[k] + self.scales[k] * z
        else:  # class by class: never an (n, D, D) gather
            flat = self.means[k].clone()
            for c in k.unique():
                rows = k == c
                flat[rows] += z[rows] @ self.scales[c].T
        x = flat.reshape(n, *self.shape)
        if clamp is not None:
            x = x.clamp(*clamp)
        return x, torch.as_tensor(self.classes)[k]


class ReplayBuffer:
    """JEM's persistent chains: starts drawn from the buffer, a share `reinit` replaced by fresh `init_fn` draws."""

    def __init__(self, init_fn: Callable[[int], Tensor], size: int = 10_000, reinit: float = JEM_REINIT):
        if not 0 <= reinit <= 1:
            raise ValueError(f"reinit is a probability, got {reinit}")
        self.init_fn, self.reinit = init_fn, reinit
        self.data = init_fn(size).detach().cpu()

    def __len__(self) -> int:
        return len(self.data)

    def starts(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(x0, idx): n starts from random buffer slots, each re-initialised with probability `reinit`."""
        idx = utils.randint(0, len(self.data), (n,), generator=generator, device=self.data.device)
        x0 = self.data[idx].clone()
        fresh = utils.rand(n, generator=generator, device=self.data.device) < self.reinit
        if fresh.any():
            x0[fresh] = self.init_fn(int(fresh.sum())).cpu()
        return x0, idx

    def update(self, idx: Tensor, x: Tensor) -> None:
        """Write the chains' end states back into their slots."""
        self.data[idx] = x.detach().cpu()


# ----------------------------------------------------------------------------- the loss and one training step

def jem_loss(model: nn.Module, x: Tensor, y: Tensor, x_fake: Tensor | None, weight_px: float = 1.0,
             energy_l2: float = 0.0) -> tuple[Tensor, dict]:
    """CE(f(x), y) + weight_px * (mean E(x) - mean E(x_fake)) [+ energy_l2 * mean(E_real^2 + E_fake^2)].

    x_fake None gives the plain classifier's loss. Returns the loss and floats: ce, acc, e_real,
    e_fake, gap (= e_real - e_fake; negative when real data has the lower energy), loss.
    """
    if x_fake is not None:
        logits_all = model(torch.cat([x, x_fake.detach()]))
        logits, logits_fake = logits_all[:len(x)], logits_all[len(x):]
    else:
        logits, logits_fake = model(x), None
    ce = F.cross_entropy(logits, y)
    e_real = energy_from_logits(logits)
    stats = {"ce": ce.item(), "acc": (logits.argmax(1) == y).float().mean().item(), "e_real": e_real.mean().item()}
    loss = ce
    if logits_fake is not None:
        e_fake = energy_from_logits(logits_fake)
        loss = loss + weight_px * (e_real.mean() - e_fake.mean())
        if energy_l2:
            loss = loss + energy_l2 * (e_real.pow(2).mean() + e_fake.pow(2).mean())
        stats.update(e_fake=e_fake.mean().item(), gap=e_real.mean().item() - e_fake.mean().item())
    stats["loss"] = loss.item()
    return loss, stats


@dataclass
class SamplerConfig:
    """How negatives are drawn: JEM (buffer + noise, plain SGLD) or JEM++ (GMM starts, proximal SGLD)."""
    method: str = "jem"  # "jem" or "jempp"
    n_steps: int = 20  # SGLD steps per training iteration (JEM: 20; JEM++ needs fewer from its informative start)
    step_size: float = JEM_STEP_SIZE
    noise_scale: float = JEM_NOISE
    bound: float | None = None  # proximal bound (JEM++); None: plain SGLD
    buffer_size: int = 10_000  # JEM's replay buffer; 0 for JEM++'s fresh GMM starts each iteration
    reinit: float = JEM_REINIT

    @classmethod
    def jem(cls, **kw) -> "SamplerConfig":
        return cls(**{"method": "jem", **kw})

    @classmethod
    def jempp(cls, **kw) -> "SamplerConfig":
        return cls(**{"method": "jempp", "n_steps": 10, "bound": 0.03, "buffer_size": 0, **kw})


@dataclass
class NegativeSampler:
    """Draws SGLD negatives for JEM or JEM++ (keeps the buffer or the GMM)."""
    config: SamplerConfig
    gmm: ClassGaussianMixture | None = None
    generator: torch.Generator | None = None
    device: torch.device | str = "cpu"
    buffer: ReplayBuffer | None = field(default=None, init=False)

    def __post_init__(self):
        c = self.config
        if c.method not in ("jem", "jempp"):
            raise ValueError(f"method must be 'jem' or 'jempp', got {c.method!r}")
        if c.method == "jempp" and self.gmm is None:
            raise ValueError("JEM++ starts SGLD from a Gaussian mixture: pass gmm=ClassGaussianMixture().fit(x, y)")
        if c.buffer_size > 0:
            self.buffer = ReplayBuffer(self.init, c.buffer_size, c.reinit)

    def init(self, n: int) -> Tensor:
        """Fresh chain starts: U[0, 1] noise (JEM) or GMM draws (JEM++)."""
        if self.config.method == "jem":
            return uniform_noise(n, generator=self.generator)
        return self.gmm.sample(n, generator=self.generator)[0]

    def sample(self, model: nn.Module, n: int) -> Tensor:
        """n negatives after n_steps of (proximal) SGLD; the buffer, if any, is updated."""
        c = self.config
        if self.buffer is not None:
            x0, idx = self.buffer.starts(n, self.generator)
        else:
            x0, idx = self.init(n), None
        x = sgld(model, x0.to(self.device), c.n_steps, c.step_size, c.noise_scale, c.bound, CLAMP, self.generator,
                 show_progress=False)  # inside the training loop, which has its own bar
        if idx is not None:
            self.buffer.update(idx, x)
        return x


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor, sampler: NegativeSampler | None,
               n_fake: int | None = None, weight_px: float = 1.0, energy_l2: float = 0.0) -> dict:
    """One JEM / JEM++ update (sampler None: the plain classifier's); returns the loss's stats."""
    x_fake = None
    if sampler is not None:
        was_training = model.training
        model.eval()
        x_fake = sampler.sample(model, n_fake or len(x))
        model.train(was_training)
    loss, stats = jem_loss(model, x, y, x_fake, weight_px, energy_l2)
    if not math.isfinite(stats["loss"]):
        return {**stats, "diverged": True}
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {**stats, "diverged": False}


def diverged(stats: dict, max_abs_gap: float = 1e3) -> bool:
    """A training step counts as diverged when its loss is not finite or |E_real - E_fake| exceeds max_abs_gap."""
    if stats.get("diverged") or not math.isfinite(stats.get("loss", float("nan"))):
        return True
    return abs(stats.get("gap", 0.0)) > max_abs_gap


def fit(model: nn.Module, x: Tensor, y: Tensor, x_test: Tensor, y_test: Tensor, sampler: NegativeSampler | None,
        iters: int, minutes: float | None = None, batch: int = 64, lr: float = 1e-4, shift: int = 2,
        n_fake: int | None = None, px_weight: float = 1.0, px_warmup: int = 0, energy_l2: float = 0.0, max_gap: float = 1e3,
        eval_every: int = 50, generator: torch.Generator | None = None, device=None,
        show_progress: bool = True) -> dict:
    """Train with JEM / JEM++ negatives (sampler None: the plain classifier) for `iters` iterations or `minutes`.

    Adam(lr); real batches shuffled each epoch and shifted by up to `shift` pixels; the log p(x) weight
    ramps from 0 to `px_weight` over `px_warmup` iterations. A diverged step (diverged(stats, max_gap)) restores
    the model, optimiser and buffer saved at the last evaluation and is recorded. Every `eval_every`
    iterations a curve point is recorded: mean loss/ce/acc/e_real/e_fake/gap/seconds of the window and
    the test accuracy. Returns iterations, train_seconds, seconds and CPU seconds per iteration,
    curves, divergences, test_acc.
    """
    device = device or next(model.parameters()).device
    g = generator if generator is not None else utils.generator(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def snapshot():
        return (copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict()),
                sampler.buffer.data.clone() if sampler is not None and sampler.buffer is not None else None)

    good = snapshot()
    times, curves, divergences, window = [], [], [], []
    keys = ("loss", "ce", "acc", "e_real", "e_fake", "gap", "seconds")
    t_start, it = time.time(), 0
    perm, pos = utils.randperm(len(x), generator=g, device=x.device), 0
    bar = progress(total=iters, desc="JEM" if sampler is None else sampler.config.method) if show_progress else None
    while it < iters and (minutes is None or time.time() - t_start < 60 * minutes):
        if pos + batch > len(x):
            perm, pos = utils.randperm(len(x), generator=g, device=x.device), 0
        idx = perm[pos:pos + batch]
        pos += batch
        xb = augment(x[idx], shift, g) if shift else x[idx]
        t0, c0 = time.time(), time.process_time()
        model.train()
        w_px = px_weight * (min(1.0, (it + 1) / px_warmup) if px_warmup else 1.0)
        stats = train_step(model, opt, xb.to(device), y[idx].to(device), sampler, n_fake, w_px, energy_l2)
        stats["seconds"], stats["cpu_seconds"] = time.time() - t0, time.process_time() - c0
        it += 1
        if bar is not None:
            bar.update(1)
        if diverged(stats, max_gap):
            divergences.append({"iteration": it, "loss": stats.get("loss"), "gap": stats.get("gap")})
            model.load_state_dict(good[0])
            opt.load_state_dict(good[1])
            if good[2] is not None:
                sampler.buffer.data = good[2].clone()
            window = []
            continue
        times.append((stats["seconds"], stats["cpu_seconds"]))
        window.append(stats)
        if it % eval_every == 0:
            mean = {k: sum(s.get(k, float("nan")) for s in window) / len(window) for k in keys}
            test_acc = accuracy(model, x_test, y_test)
            curves.append({"iteration": it, "elapsed_s": round(time.time() - t_start, 1), "test_acc": round(test_acc, 4),
                           **{k: round(v, 4) for k, v in mean.items()}})
            if bar is not None:
                bar.set_postfix(acc=f"{test_acc:.3f}", gap=f"{mean['gap']:.2f}", s_it=f"{mean['seconds']:.2f}")
            window = []
            good = snapshot()
    if bar is not None:
        bar.close()
    model.eval()
    n = max(len(times), 1)
    return {"iterations": it, "train_seconds": time.time() - t_start,
            "seconds_per_iteration": sum(t[0] for t in times) / n, "cpu_seconds_per_iteration": sum(t[1] for t in times) / n,
            "curves": curves, "divergences": divergences, "test_acc": accuracy(model, x_test, y_test)}


__all__ = ["energy_from_logits", "class_probs", "joint_log_prob", "energy_fn", "sgld_score", "JEMCNN",
           "proximal_sgld_step", "sgld", "uniform_noise", "ClassGaussianMixture", "ReplayBuffer", "jem_loss",
           "SamplerConfig", "NegativeSampler", "train_step", "diverged", "fit"]
