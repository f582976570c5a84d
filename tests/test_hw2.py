"""HW2 Part I-III checks: the 5-Gaussian mixture's score, and Langevin/MALA on Gaussian targets with HW2's steps."""
import math

import numpy as np
import torch
from scipy import stats

from helpers import data, samplers, utils


def test_hw2_mixture_score_is_autograd_and_finite_far_away():
    mix = data.rotated_gaussians_mixture(5, 0.7, 0.1)
    x = torch.cat([utils.randn(500, 2, generator=utils.generator(0)) * 2,
                   torch.tensor([[50.0, -60.0], [1e3, 1e3]])])
    want = samplers.score_from_log_prob(mix.log_prob)(x)
    torch.testing.assert_close(mix.score(x), want, rtol=1e-4, atol=1e-3)
    assert torch.isfinite(mix.score(x)).all()
    means = torch.tensor(data.rotated_gaussians_centers(5, 0.7), dtype=torch.float32)
    torch.testing.assert_close(mix.means, means)


def test_langevin_hw2_step_on_1d_gaussian():
    """sqrt(2 eps) = 10/256 on N(0.3, 0.1): stationary mean and variance (up to O(eps) bias), KS test."""
    g = utils.generator(0)
    mu, var = 0.3, 0.1
    eps = (10 / 256) ** 2 / 2
    x = samplers.langevin(utils.rand(4000, 1, generator=g) * 6 - 3, lambda v: (mu - v) / var, eps, 1500, generator=g)
    x = x[:, 0].numpy()
    exact_var = var / (1 - eps / (2 * var))  # the discretised chain's stationary variance
    assert abs(x.mean() - mu) < 0.03 and abs(x.var() / exact_var - 1) < 0.08
    assert stats.kstest(x, stats.norm(mu, math.sqrt(exact_var)).cdf).pvalue > 0.01


def test_mala_2d_gaussian_with_big_step_is_unbiased():
    """At a step where plain Langevin is visibly biased, MALA keeps the variance right (energy-only log_prob)."""
    var = 0.1
    eps = 0.08  # eps / var = 0.8: Langevin's variance would be var / (1 - 0.4) = 1.67 var
    g = utils.generator(1)
    res = samplers.mala(utils.randn(3000, 2, generator=g), lambda v: -(v ** 2).sum(1) / (2 * var) + 123.0,
                        eps, 400, generator=g)
    x = res.samples.numpy()
    assert np.abs(x.mean(0)).max() < 0.03
    assert np.abs(x.var(0) / var - 1).max() < 0.08
    assert 0.2 < res.acceptance_rate < 0.95


def test_mala_log_ratio_on_images_equals_explicit_densities():
    """Image-shaped states: log alpha from energies equals the ratio of normalised densities (Z cancels)."""
    g = utils.generator(2)
    a = utils.randn(3, 1, 4, 4, generator=g)
    energy = lambda v: 0.5 * ((v * a) ** 2).flatten(1).sum(1)  # noqa: E731
    eps = (3 / 256) ** 2 / 2
    x = utils.rand(3, 1, 4, 4, generator=g)
    lp_x, s_x = samplers.log_prob_and_score(lambda v: -energy(v), x)
    y = x + eps * s_x + math.sqrt(2 * eps) * utils.randn(x.shape, generator=g)
    lp_y, s_y = samplers.log_prob_and_score(lambda v: -energy(v), y)
    got = samplers.mala_log_accept_ratio(x, y, lp_x, lp_y, s_x, s_y, eps)
    # explicit: normalised Gaussian target N(0, diag(1/a^2)) and Gaussian proposals N(. ; mean, 2 eps I)
    prec = (a ** 2).flatten(1).double()
    logp = lambda v: stats.norm.logpdf(v.flatten(1).double().numpy(), scale=1 / np.sqrt(prec.numpy())).sum(1)  # noqa: E731
    logq = lambda to, frm, s: stats.norm.logpdf((to - frm - eps * s).flatten(1).double().numpy(),  # noqa: E731
                                                scale=math.sqrt(2 * eps)).sum(1)
    want = logp(y) - logp(x) + logq(x, y, s_y) - logq(y, x, s_x)
    np.testing.assert_allclose(got.double().numpy(), want, rtol=1e-4, atol=1e-3)
