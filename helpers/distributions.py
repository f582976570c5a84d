"""Closed-form 2-D (or d-D) densities used as targets: isotropic Gaussian mixtures and a full Gaussian.

Everything is torch, batched along dim 0, device-agnostic, and numerically stable far from the
modes (log-sum-exp over components, never a ratio of tiny densities).
"""
from __future__ import annotations

import math

import torch

from . import utils

Tensor = torch.Tensor


def _check_points(x: Tensor, d: int, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x, dtype=torch.get_default_dtype())
    if x.dim() != 2 or x.shape[1] != d:
        raise ValueError(f"{name} expects points of shape (n, {d}), got {tuple(x.shape)}; "
                         f"stack coordinates as columns, e.g. torch.stack([xs, ys], dim=1)")
    return x


class GaussianMixture:
    """p(x) = sum_m w_m N(x; mu_m, sigma^2 I): sample, log_prob, score and responsibilities."""

    def __init__(self, means, sigma: float, weights=None):
        self.means = torch.as_tensor(means, dtype=torch.get_default_dtype())  # (M, d)
        if self.means.dim() != 2:
            raise ValueError(f"means must have shape (M, d), got {tuple(self.means.shape)}")
        m = self.means.shape[0]
        w = torch.full((m,), 1.0 / m) if weights is None else torch.as_tensor(weights, dtype=self.means.dtype)
        if w.shape != (m,) or (w < 0).any() or abs(float(w.sum()) - 1) > 1e-6:
            raise ValueError(f"weights must be {m} non-negative numbers summing to 1, got {w.tolist()}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.weights = w
        self.sigma = float(sigma)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def with_sigma(self, sigma: float) -> "GaussianMixture":
        """The same mixture with another component std (e.g. the data convolved with N(0, s^2 I))."""
        return GaussianMixture(self.means, sigma, self.weights)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n i.i.d. samples (n, d): pick a component by its weight, then add sigma * N(0, I)."""
        k = utils.multinomial(self.weights, n, replacement=True, generator=generator).to(self.means.device)
        return self.means[k] + self.sigma * utils.randn(n, self.dim, generator=generator, device=self.means.device)

    def _component_log_probs(self, x: Tensor) -> Tensor:
        """log w_m + log N(x; mu_m, sigma^2 I), shape (n, M)."""
        x = _check_points(x, self.dim, "GaussianMixture")
        mu, w = self.means.to(x), self.weights.to(x)
        sq = ((x[:, None, :] - mu[None]) ** 2).sum(-1)  # (n, M)
        return torch.log(w) - sq / (2 * self.sigma ** 2) - self.dim * math.log(2 * math.pi * self.sigma ** 2) / 2

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x), shape (n,)."""
        return torch.logsumexp(self._component_log_probs(x), dim=1)

    def responsibilities(self, x: Tensor) -> Tensor:
        """Posterior component probabilities p(m | x), shape (n, M)."""
        return torch.softmax(self._component_log_probs(x), dim=1)

    def score(self, x: Tensor) -> Tensor:
        """grad_x log p(x) = sum_m p(m|x) (mu_m - x) / sigma^2, shape (n, d)."""
        r = self.responsibilities(x)
        return (r @ self.means.to(x) - x) / self.sigma ** 2


class Gaussian:
    """N(mean, cov) with a full covariance: sample, log_prob and score = -cov^{-1}(x - mean)."""

    def __init__(self, mean, cov):
        self.mean = torch.as_tensor(mean, dtype=torch.get_default_dtype())
        self.cov = torch.as_tensor(cov, dtype=self.mean.dtype)
        d = self.mean.shape[0]
        if self.cov.shape != (d, d):
            raise ValueError(f"cov must be ({d}, {d}) for a mean of length {d}, got {tuple(self.cov.shape)}")
        self.dist = torch.distributions.MultivariateNormal(self.mean, covariance_matrix=self.cov)
        self.precision = torch.linalg.inv(self.cov)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = utils.randn(n, self.mean.shape[0], generator=generator, device=self.mean.device)
        return self.mean + z @ self.dist.scale_tril.T

    def log_prob(self, x: Tensor) -> Tensor:
        return self.dist.log_prob(_check_points(x, self.mean.shape[0], "Gaussian"))

    def score(self, x: Tensor) -> Tensor:
        x = _check_points(x, self.mean.shape[0], "Gaussian")
        return -(x - self.mean.to(x)) @ self.precision.to(x)
