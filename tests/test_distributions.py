"""Mixture and Gaussian densities against scipy and autograd, including far from the modes."""
import numpy as np
import pytest
import torch
from scipy import stats

from helpers.distributions import Gaussian, GaussianMixture


@pytest.fixture
def mix():
    return GaussianMixture([[-5, -5], [5, 5], [0, 3]], 0.8, [0.2, 0.5, 0.3])


def test_log_prob_matches_scipy(mix):
    x = torch.randn(50, 2, dtype=torch.float64) * 4
    want = np.log(sum(w * stats.multivariate_normal(m, 0.64 * np.eye(2)).pdf(x.numpy())
                      for w, m in zip([0.2, 0.5, 0.3], [[-5, -5], [5, 5], [0, 3]])))
    assert np.allclose(mix.log_prob(x.float()).numpy(), want, rtol=1e-4)


def test_score_matches_autograd_even_far_away(mix):
    x = torch.cat([torch.randn(20, 2) * 3, torch.tensor([[1e3, -1e3], [-200.0, 150.0], [60.0, 60.0]])])
    x = x.double().requires_grad_(True)
    mix64 = GaussianMixture(mix.means.double(), mix.sigma, mix.weights.double())
    (g,) = torch.autograd.grad(mix64.log_prob(x).sum(), x)
    s = mix64.score(x.detach())
    assert torch.isfinite(s).all()
    assert torch.allclose(s, g, rtol=1e-6, atol=1e-6)


def test_sample_moments(mix):
    x = mix.sample(200_000, torch.Generator().manual_seed(0))
    mean = (mix.weights[:, None] * mix.means).sum(0)
    assert torch.allclose(x.mean(0), mean, atol=0.05)
    nearest = torch.cdist(x, mix.means.float()).argmin(1)  # components >= 6 sigma apart: nearest mean = component
    for m in range(len(mix.means)):
        xm = x[nearest == m]
        assert abs(len(xm) / len(x) - mix.weights[m].item()) < 0.005
        assert torch.allclose(torch.cov(xm.T), mix.sigma ** 2 * torch.eye(2), atol=0.02), torch.cov(xm.T)


def test_gaussian_score_and_log_prob():
    cov = torch.tensor([[1.0, -0.9], [-0.9, 1.0]])
    g = Gaussian([0.5, -1.0], cov)
    x = torch.randn(10, 2)
    want = stats.multivariate_normal([0.5, -1.0], cov.numpy()).logpdf(x.numpy())
    assert np.allclose(g.log_prob(x).numpy(), want, atol=1e-5)
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(g.log_prob(xr).sum(), xr)
    assert torch.allclose(g.score(x), grad, atol=1e-4)


def test_bad_shapes_are_rejected(mix):
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        mix.log_prob(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="sum"):
        GaussianMixture([[0, 0], [1, 1]], 1.0, [0.5, 0.6])
