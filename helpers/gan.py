"""GAN, WGAN (weight clipping) and WGAN-GP on 28x28 binary digits: DCGAN-style convolutional networks (and
the homework's MLP baseline), losses, one resumable trainer (`GANTrainer`, counted in generator steps), and
the Frechet distance / class-coverage scores used to compare the generators (notebook 09).

Conventions: images are (B, 1, 28, 28) in [0, 1] (white ink on black); a generator maps noise
z ~ N(0, I) of size `z_dim` to such images through a sigmoid; a critic maps images to one real
score each (B,), and the GAN's discriminator is the same network followed by a sigmoid, so that
it outputs the probability that its input is real.
"""
from __future__ import annotations

import time
import warnings
from typing import Callable

import numpy as np
import scipy.linalg
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import utils
from .utils import progress

Tensor = torch.Tensor
IMAGE_SHAPE = (1, 28, 28)


# ----------------------------------------------------------------------------- networks
class _ImageGenerator(nn.Module):
    """Shared part of the generators: noise z ~ N(0, I) of size z_dim -> images (B, 1, 28, 28) in [0, 1]."""

    z_dim: int

    def forward(self, z: Tensor) -> Tensor:
        """Images (B, 1, 28, 28) in [0, 1] from noise (B, z_dim)."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"{type(self).__name__} expects noise (B, {self.z_dim}), got {tuple(z.shape)}")
        return self.net(z)

    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of z ~ N(0, I) on the model's device (drawn on the generator's device, so seeds reproduce)."""
        return utils.randn(n, self.z_dim, generator=generator, device=next(self.parameters()).device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, batch_size: int = 1000) -> Tensor:
        """n images in [0, 1] (eval mode, CPU tensor), batched."""
        was = self.training
        self.eval()
        out = torch.cat([self(self.noise(min(batch_size, n - i), generator)).cpu() for i in range(0, n, batch_size)])
        self.train(was)
        return out


class Generator(_ImageGenerator):
    """MLP (the homework's baseline): z (B, z_dim) -> hidden layers (batch norm, ReLU) -> 784 -> sigmoid."""

    def __init__(self, z_dim: int = 64, hidden: tuple[int, ...] = (256, 512)):
        super().__init__()
        self.z_dim = z_dim
        layers, d = [], z_dim
        for h in hidden:
            layers += [nn.Linear(d, h, bias=False), nn.BatchNorm1d(h), nn.ReLU()]
            d = h
        layers += [nn.Linear(d, 28 * 28), nn.Sigmoid(), nn.Unflatten(1, IMAGE_SHAPE)]
        self.net = nn.Sequential(*layers)


class DCGANGenerator(_ImageGenerator):
    """DCGAN-style: z -> linear -> (2w, 7, 7) -> BN, ReLU -> ConvT(4, stride 2) -> (w, 14, 14) -> BN, ReLU
    -> ConvT(4, stride 2) -> (1, 28, 28) -> sigmoid (the data are in [0, 1])."""

    def __init__(self, z_dim: int = 64, width: int = 32):
        super().__init__()
        self.z_dim, self.width = z_dim, width
        c = 2 * width
        self.net = nn.Sequential(
            nn.Linear(z_dim, c * 7 * 7, bias=False), nn.BatchNorm1d(c * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c, 7, 7)),
            nn.ConvTranspose2d(c, width, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1), nn.Sigmoid(),
        )


class Critic(nn.Module):
    """MLP: 784 -> hidden layers (LeakyReLU) -> one real score per image (no sigmoid, no batch norm).

    No batch norm, so that each image's score depends on that image only (needed by the gradient
    penalty, which differentiates the score of each interpolate with respect to that interpolate).
    """

    def __init__(self, hidden: tuple[int, ...] = (512, 256), slope: float = 0.2):
        super().__init__()
        layers, d = [nn.Flatten()], 28 * 28
        for h in hidden:
            layers += [nn.Linear(d, h), nn.LeakyReLU(slope)]
            d = h
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def score(self, x: Tensor) -> Tensor:
        """Unbounded score f(x), shape (B,)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"{type(self).__name__} expects images (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.net(x).squeeze(1)

    def forward(self, x: Tensor) -> Tensor:
        """The critic's score f(x), shape (B,)."""
        return self.score(x)


class ProbabilityHead:
    """Mixin turning a critic into a GAN discriminator: D(x) = sigmoid(score(x)) = P(real | x)."""

    def logits(self, x: Tensor) -> Tensor:
        """log D(x) - log(1 - D(x)), shape (B,) (the losses use these, for numerical stability)."""
        return self.score(x)

    def forward(self, x: Tensor) -> Tensor:
        """D(x) in (0, 1), the probability that x is real, shape (B,)."""
        return torch.sigmoid(self.score(x))


class Discriminator(ProbabilityHead, Critic):
    """The MLP GAN's discriminator: the MLP critic followed by a sigmoid."""


NORMS = ("batch", "layer", "none")


class DCGANCritic(Critic):
    """DCGAN-style, three strided 5x5 convolutions: (1, 28, 28) -> (w, 14, 14) -> LeakyReLU -> (2w, 7, 7) -> norm
    -> LeakyReLU -> (4w, 4, 4) -> norm -> LeakyReLU -> linear -> one score (w = 64 is the WGAN-GP authors' MNIST
    critic, about 1M parameters).

    `norm`: 'batch' (DCGAN's discriminator), 'layer' (GroupNorm with one group: per-image, so the gradient
    penalty's per-sample gradients stay per-sample, as WGAN-GP advises) or 'none' (the clipped WGAN's critic:
    with no normalisation layer, clipping bounds every layer and so the Lipschitz constant).
    """

    def __init__(self, width: int = 32, norm: str = "batch", slope: float = 0.2):
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        nn.Module.__init__(self)
        self.width, self.norm = width, norm

        def norm_layer(c):
            return {"batch": lambda: nn.BatchNorm2d(c), "layer": lambda: nn.GroupNorm(1, c), "none": nn.Identity}[norm]()

        w, bias = width, norm == "none"
        self.net = nn.Sequential(
            nn.Conv2d(1, w, 5, stride=2, padding=2), nn.LeakyReLU(slope),
            nn.Conv2d(w, 2 * w, 5, stride=2, padding=2, bias=bias), norm_layer(2 * w), nn.LeakyReLU(slope),
            nn.Conv2d(2 * w, 4 * w, 5, stride=2, padding=2, bias=bias), norm_layer(4 * w), nn.LeakyReLU(slope),
            nn.Flatten(), nn.Linear(4 * w * 4 * 4, 1),
        )


class DCGANDiscriminator(ProbabilityHead, DCGANCritic):
    """The DCGAN discriminator: the DCGAN critic followed by a sigmoid."""


def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN initialisation: linear / conv weights ~ N(0, std), norm-layer scales ~ N(1, std), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module


# ----------------------------------------------------------------------------- losses and constraints
def discriminator_loss(d: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
    """-E[log D(x)] - E[log(1 - D(G(z)))] (binary cross-entropy, computed from logits)."""
    return discriminator_loss_from_logits(d.logits(real), d.logits(fake))


def discriminator_loss_from_logits(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """The same BCE from the discriminator's logits on real (B,) and generated (B,) inputs."""
    return F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real)) + \
        F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))


def generator_loss_nonsaturating(d: Discriminator, fake: Tensor) -> Tensor:
    """-E[log D(G(z))], the non-saturating generator loss of Goodfellow et al. (2014)."""
    lf = d.logits(fake)
    return F.binary_cross_entropy_with_logits(lf, torch.ones_like(lf))


def wasserstein_estimate(critic: Critic, real: Tensor, fake: Tensor) -> Tensor:
    """E[f(x)] - E[f(G(z))]: the critic's estimate of the Wasserstein-1 distance (up to the Lipschitz constant)."""
    return critic(real).mean() - critic(fake).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """Clamp every parameter of the critic to [-c, c] in place (WGAN's crude Lipschitz constraint)."""
    if c <= 0:
        raise ValueError(f"clip value must be positive, got {c}")
    for p in module.parameters():
        p.clamp_(-c, c)


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     eps: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
    """E[(||grad f(x_hat)||_2 - 1)^2] at x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample (WGAN-GP).

    Differentiable in the critic's parameters (create_graph=True). `eps` (B,) may be given (tests).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    b = real.shape[0]
    if eps is None:
        eps = utils.rand(b, generator=generator, device=real.device, dtype=real.dtype)
    eps = eps.view(b, *([1] * (real.dim() - 1)))
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.reshape(b, -1).norm(dim=1) - 1) ** 2).mean()


# ----------------------------------------------------------------------------- training
KINDS = ("gan", "wgan", "wgan-gp")
# (lr, Adam betas or None for RMSprop, n_critic): Radford et al. 2016; Arjovsky et al. 2017; Gulrajani et al. 2017
DEFAULTS = {"gan": (2e-4, (0.5, 0.999), 1), "wgan": (5e-5, None, 5), "wgan-gp": (1e-4, (0.5, 0.9), 5)}


def instance_noise(x: Tensor, std: float, generator: torch.Generator | None = None) -> Tensor:
    """x + std * N(0, I): blurs the exact 0/1 pixel values of binary data, so that a discriminator cannot
    tell fakes by their grey levels alone (applied alike to real and generated inputs); std = 0 is the identity."""
    if std < 0:
        raise ValueError(f"instance-noise std must be >= 0, got {std}")
    return x if std == 0 else x + std * utils.randn_like(x, generator)


def _check_kind(kind: str, D: nn.Module) -> str:
    kind = kind.lower()
    if kind not in KINDS:
        raise ValueError(f"kind must be 'gan', 'wgan' or 'wgan-gp', got {kind!r}")
    if kind == "gan" and not isinstance(D, ProbabilityHead):
        raise TypeError("the GAN needs a Discriminator (probability output); WGANs take a Critic")
    return kind


def _check_data(x: Tensor, batch_size: int) -> None:
    utils.check_tensor(x, "x", "gan training", allow_empty=True)  # float images, no NaN/inf (issue 32)
    utils.check_count(batch_size, "batch_size", "gan training", minimum=1)
    if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"training images must be (N, 1, 28, 28), got {tuple(x.shape)}")
    utils.check_finite(x, "x", "gan training")
    if len(x) < batch_size:
        raise ValueError(f"need at least batch_size={batch_size} images, got {len(x)}")


def make_optimizers(kind: str, G: nn.Module, D: nn.Module, lr: float, betas) -> tuple:
    """RMSprop for the WGAN (as in its paper), Adam otherwise: (opt_g, opt_d)."""
    if kind == "wgan":
        return torch.optim.RMSprop(G.parameters(), lr=lr), torch.optim.RMSprop(D.parameters(), lr=lr)
    return (torch.optim.Adam(G.parameters(), lr=lr, betas=betas),
            torch.optim.Adam(D.parameters(), lr=lr, betas=betas))


def critic_step(kind: str, G: _ImageGenerator, D: Critic, opt_d, real: Tensor, rng: torch.Generator,
                clip: float = 0.01, gp_weight: float = 10.0, noise_std: float = 0.0) -> dict:
    """One update of the discriminator / critic on a real batch and as many fresh fakes; returns its numbers.

    gan: BCE; wgan: -(E f(x) - E f(G(z))), then clip weights to [-clip, clip]; wgan-gp: the same plus
    gp_weight * gradient penalty. Draws, in order: z, instance noise (real, fake; GAN only), GP's eps.
    """
    with torch.no_grad():
        fake = G(G.noise(len(real), rng))
    out = {}
    if kind == "gan":
        real, fake = instance_noise(real, noise_std, rng), instance_noise(fake, noise_std, rng)
        lr_, lf = D.logits(real), D.logits(fake)
        loss = discriminator_loss_from_logits(lr_, lf)
        out["d_real"], out["d_fake"] = torch.sigmoid(lr_).mean().item(), torch.sigmoid(lf).mean().item()
    else:
        w_est = wasserstein_estimate(D, real, fake)
        gp = gradient_penalty(D, real, fake, generator=rng) if kind == "wgan-gp" else None
        loss = -w_est + (gp_weight * gp if gp is not None else 0.0)
        out["w_estimate"] = w_est.item()
        if gp is not None:
            out["gp"] = gp.item()
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    if kind == "wgan":
        clip_weights(D, clip)
    out["loss_d"] = loss.item()
    return out


def generator_step(kind: str, G: _ImageGenerator, D: Critic, opt_g, batch_size: int, rng: torch.Generator,
                   noise_std: float = 0.0) -> dict:
    """One generator update: non-saturating -log D(G(z)) for the GAN, -E f(G(z)) for the WGANs."""
    fake = G(G.noise(batch_size, rng))
    if kind == "gan":
        loss = generator_loss_nonsaturating(D, instance_noise(fake, noise_std, rng))
    else:
        loss = -D(fake).mean()
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    return {"loss_g": loss.item()}


class GANTrainer:
    """Resumable training of G against D, counted in generator steps; kind is 'gan', 'wgan' or 'wgan-gp'.

    Each generator step follows n_critic discriminator / critic steps, each on the next batch of a shuffled pass
    over the training images (reshuffled when a pass is used up), so a generator step costs n_critic batches.
    `run(n)` takes n generator steps; `run_epoch()` as many as one pass of the critic over the data allows.
    Defaults (DEFAULTS): 'gan' Adam(2e-4, betas (0.5, 0.999)), n_critic 1, BCE for D and the non-saturating
    -log D(G(z)) for G, `noise_std` > 0 adding instance noise to D's inputs; 'wgan' RMSprop(5e-5), n_critic 5,
    critic weights clipped to [-clip, clip] after each critic step; 'wgan-gp' Adam(1e-4, betas (0.5, 0.9)),
    n_critic 5, plus gp_weight x the gradient penalty.
    All randomness (shuffling, z, instance noise, the gradient penalty's eps) comes from one seeded generator,
    whose state is saved with the weights, optimizers and position in the data by `state_dict`, so that training
    resumed from a state continues exactly as if uninterrupted.
    """

    def __init__(self, kind: str, G: _ImageGenerator, D: Critic, x: Tensor, batch_size: int = 64,
                 lr: float | None = None, betas: tuple[float, float] | None = None, n_critic: int | None = None,
                 clip: float = 0.01, gp_weight: float = 10.0, noise_std: float = 0.0, seed: int = 0):
        self.kind = _check_kind(kind, D)
        lr0, betas0, n0 = DEFAULTS[self.kind]
        _check_data(x, batch_size)
        if len(x) < batch_size * (n0 if n_critic is None else n_critic):
            raise ValueError(f"an epoch needs at least n_critic x batch_size = {batch_size * (n0 if n_critic is None else n_critic)} "
                             f"images (one generator step), got {len(x)}: pass more images or a smaller batch_size")
        self.G, self.D, self.x = G, D, x
        self.config = {"kind": self.kind, "batch_size": batch_size, "lr": lr0 if lr is None else lr,
                       "betas": list(betas or betas0) if self.kind != "wgan" else None,
                       "n_critic": n0 if n_critic is None else n_critic,
                       "clip": clip if self.kind == "wgan" else None,
                       "gp_weight": gp_weight if self.kind == "wgan-gp" else None,
                       "noise_std": noise_std if self.kind == "gan" else None,
                       "optimizer": "RMSprop" if self.kind == "wgan" else "Adam", "seed": seed}
        self.opt_g, self.opt_d = make_optimizers(self.kind, G, D, self.config["lr"], self.config["betas"])
        if self.kind == "wgan":
            clip_weights(D, clip)
        self.rng = utils.generator(seed)
        self.epoch, self.generator_steps = 0, 0
        self.perm, self.pos = None, len(x)  # the current pass over the data and the next batch's start
        self.history: dict[str, list] = {}

    def _next_batch(self) -> Tensor:
        bs = self.config["batch_size"]
        if self.pos + bs > len(self.x):
            self.perm, self.pos = utils.randperm(len(self.x), generator=self.rng), 0
        self.pos += bs
        return self.x[self.perm[self.pos - bs:self.pos]].to(self.device)

    def run(self, steps: int, show_progress: bool = False) -> dict:
        """`steps` generator steps; returns (and appends to `history`) their mean losses, the generator steps done
        in all, and the CPU / wall seconds they took."""
        c = self.config
        steps = utils.check_count(steps, "steps", "GANTrainer.run")
        sums: dict[str, float] = {}
        self.G.train(), self.D.train()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        it = progress(range(steps), desc=f"{self.kind} {self.generator_steps}+") if show_progress else range(steps)
        for _ in it:
            for _k in range(c["n_critic"]):
                for key, v in critic_step(self.kind, self.G, self.D, self.opt_d, self._next_batch(), self.rng,
                                          c["clip"] or 0.01, c["gp_weight"] or 0.0, c["noise_std"] or 0.0).items():
                    sums[key] = sums.get(key, 0.0) + v / c["n_critic"]
            for key, v in generator_step(self.kind, self.G, self.D, self.opt_g, c["batch_size"], self.rng,
                                         c["noise_std"] or 0.0).items():
                sums[key] = sums.get(key, 0.0) + v
        self.generator_steps += steps
        out = {**{k: v / max(steps, 1) for k, v in sums.items()}, "step": self.generator_steps,
               "cpu_seconds": time.process_time() - cpu0, "wall_seconds": time.perf_counter() - wall0}
        for k, v in out.items():
            self.history.setdefault(k, []).append(v)
        self.G.eval(), self.D.eval()
        return out

    def steps_per_epoch(self) -> int:
        """Generator steps in one pass of the critic over the data (the last incomplete batch dropped)."""
        return len(self.x) // self.config["batch_size"] // self.config["n_critic"]

    def run_epoch(self, show_progress: bool = False) -> dict:
        """One pass of the critic over the data (`steps_per_epoch()` generator steps); adds "epoch" and
        "generator_steps" (this epoch's) to `run`'s numbers."""
        n = self.steps_per_epoch()
        self.epoch += 1
        self.history.setdefault("epoch", []).append(self.epoch)
        return {"epoch": self.epoch, "generator_steps": n, **self.run(n, show_progress)}

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    def state_dict(self) -> dict:
        """Everything needed to resume: weights, optimizer states, the RNG state, the position in the data,
        the steps and epochs done, history, config."""
        return {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict(), "rng": self.rng.get_state(), "epoch": self.epoch,
                "generator_steps": self.generator_steps, "perm": self.perm, "pos": self.pos,
                "history": self.history, "config": self.config}

    def load_state_dict(self, state: dict) -> None:
        """Resume from `state_dict()`'s output (the config must match this trainer's)."""
        diff = {k: (v, state["config"].get(k)) for k, v in self.config.items() if state["config"].get(k) != v}
        if diff:
            raise ValueError(f"the saved training state has a different config (this, saved): {diff}")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.set_state(state["rng"])
        self.epoch, self.generator_steps = int(state["epoch"]), int(state["generator_steps"])
        self.perm, self.pos = state["perm"], int(state["pos"])
        self.history = {k: list(v) for k, v in state["history"].items()}


# Notebook 09's models (scripts/train_hoda_gans.py): discriminator / critic norm and trainer arguments beyond
# DEFAULTS. 'gan-noise' is the GAN with instance noise on D's inputs, the control for the binary-pixel cue.
HODA_RECIPES = {
    "gan": dict(kind="gan", norm="batch"),
    "gan-noise": dict(kind="gan", norm="batch", noise_std=0.1),
    "wgan": dict(kind="wgan", norm="none", clip=0.01),
    "wgan-gp": dict(kind="wgan-gp", norm="layer", gp_weight=10.0),
}


def make_hoda_trainer(name: str, x: Tensor, seed: int = 0, z_dim: int = 100, width: int = 64, critic_width: int = 32,
                      batch_size: int = 64, device=None) -> GANTrainer:
    """A DCGAN-initialised DCGANGenerator(z_dim, width) and discriminator / critic DCGANCritic(critic_width) for
    HODA_RECIPES[name], in a trainer on x (initial weights drawn from torch's global RNG seeded with `seed`)."""
    if name not in HODA_RECIPES:
        raise ValueError(f"unknown model {name!r}; choose from {list(HODA_RECIPES)}")
    spec = dict(HODA_RECIPES[name])
    kind, norm = spec.pop("kind"), spec.pop("norm")
    torch.manual_seed(seed)
    G = init_weights(DCGANGenerator(z_dim, width)).to(device or "cpu")
    D = init_weights((DCGANDiscriminator if kind == "gan" else DCGANCritic)(width=critic_width, norm=norm))
    return GANTrainer(kind, G, D.to(device or "cpu"), x, batch_size=batch_size, seed=seed, **spec)


def step_cost(trainer: GANTrainer, steps: int, warmup: int = 2) -> dict:
    """CPU and wall milliseconds per generator step of `trainer`, timed over `steps` steps after `warmup` untimed."""
    steps = utils.check_count(steps, "steps", "step_cost", minimum=1)
    if warmup:
        trainer.run(warmup)
    out = trainer.run(steps)
    return {"cpu_ms": 1000 * out["cpu_seconds"] / steps, "wall_ms": 1000 * out["wall_seconds"] / steps}


# ----------------------------------------------------------------------------- evaluation
def binarize(x: Tensor, threshold: float = 0.5) -> Tensor:
    """Pixels above threshold -> 1, others -> 0 (samples made binary like the Hoda data)."""
    return (x > threshold).to(x.dtype if x.is_floating_point() else torch.float32)


def gaussian_moments(feats) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of features (N, d), in float64."""
    f = np.asarray(feats.detach().cpu() if isinstance(feats, Tensor) else feats, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must be (N >= 2, d), got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance_gaussians(mu1, cov1, mu2, cov2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}): the squared W2 distance between two Gaussians."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    with warnings.catch_warnings():  # dead ReLU features make covariances singular: sqrtm warns, stays accurate
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(cov1 @ cov2)
        if not np.isfinite(covmean).all():  # regularise as in the FID reference code
            off = np.eye(len(cov1)) * 1e-6
            covmean = scipy.linalg.sqrtm((cov1 + off) @ (cov2 + off))
    covmean = np.real(covmean)
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))
    return max(d, 0.0)


def frechet_distance(feats1, feats2) -> float:
    """Frechet distance between two feature sets (N1, d) and (N2, d), each summarised by a Gaussian."""
    return frechet_distance_gaussians(*gaussian_moments(feats1), *gaussian_moments(feats2))


def class_histogram(labels: Tensor, n_classes: int = 10) -> np.ndarray:
    """Fraction of samples per predicted class (n_classes,)."""
    return np.bincount(np.asarray(labels), minlength=n_classes) / max(len(labels), 1)


def coverage_scores(probs: Tensor) -> dict:
    """Mode coverage and confidence from classifier probabilities (N, K) of generated samples.

    `class_entropy`: entropy (nats) of the predicted-class histogram (log K when all classes are
    equally frequent); `kl_uniform`: KL(histogram || uniform); `min_class`/`max_class`: extreme
    class fractions; `confidence`: mean max-probability (also high on pixel noise: not a realism score, use FD);
    `inception_score`: exp E KL(p(y|x) || p(y)).
    """
    p = probs.double().clamp_min(1e-12)
    k = p.shape[1]
    hist = class_histogram(p.argmax(1), k)
    h = -(hist[hist > 0] * np.log(hist[hist > 0])).sum()
    py = p.mean(0, keepdim=True)
    is_ = torch.exp((p * (p.log() - py.log())).sum(1).mean()).item()
    return {"class_fractions": hist.tolist(), "class_entropy": float(h), "kl_uniform": float(np.log(k) - h),
            "min_class": float(hist.min()), "max_class": float(hist.max()),
            "confidence": p.max(1).values.mean().item(), "inception_score": is_}
