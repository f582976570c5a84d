"""Langevin, MALA and annealed Langevin against closed forms and scipy."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from helpers import samplers
from helpers.distributions import Gaussian, GaussianMixture


def test_langevin_step_is_the_formula():
    x = torch.randn(5, 2)
    g = torch.Generator().manual_seed(3)
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(3))
    out = samplers.langevin_step(x, lambda v: -v, 0.01, generator=g)
    assert torch.allclose(out, x + 0.01 * (-x) + math.sqrt(0.02) * z)


def test_langevin_1d_gaussian_moments_and_ks():
    # target N(2, 0.5^2); eps small so the discretisation bias (variance factor 1/(1 - eps/(2 s^2))) is tiny
    mu, s, eps = 2.0, 0.5, 1e-3
    g = torch.Generator().manual_seed(0)
    x = samplers.langevin(torch.zeros(4000, 1), lambda v: -(v - mu) / s**2, eps, 3000, generator=g)
    x = x.squeeze(1).numpy()
    assert abs(x.mean() - mu) < 0.03
    assert abs(x.std() - s) < 0.02
    assert stats.kstest(x, stats.norm(mu, s).cdf).pvalue > 1e-3


def test_langevin_trajectory_and_schedule():
    x0 = torch.zeros(3, 2)
    seen = []
    final, traj = samplers.langevin(x0, lambda v: -v, lambda t: seen.append(t) or 0.1, 10, every=5)
    assert len(traj) == 3 and torch.equal(traj[0], x0) and torch.equal(traj[-1], final)
    assert seen == list(range(10))


def test_mala_2d_correlated_gaussian():
    cov = torch.tensor([[1.0, -0.8], [-0.8, 1.0]])
    target = Gaussian(torch.zeros(2), cov)
    g = torch.Generator().manual_seed(1)
    res = samplers.mala(torch.zeros(2000, 2), target.log_prob, 0.2, 1500, generator=g)
    x = res.samples
    assert 0.3 < res.acceptance_rate < 1.0
    assert torch.allclose(x.mean(0), torch.zeros(2), atol=0.06)
    assert torch.allclose(torch.cov(x.T), cov, atol=0.08)


def test_mala_is_exact_at_a_large_step_where_langevin_is_biased():
    # N(0, 1) with eps = 0.5: ULA's stationary variance is 1 / (1 - eps/2) = 1.33; MALA stays at 1
    g = torch.Generator().manual_seed(2)
    lp = lambda v: -0.5 * (v**2).sum(1)
    ula = samplers.langevin(torch.zeros(4000, 1), lambda v: -v, 0.5, 500, generator=g)
    res = samplers.mala(torch.zeros(4000, 1), lp, 0.5, 500, generator=g)
    assert abs(ula.var().item() - 4 / 3) < 0.08
    assert abs(res.samples.var().item() - 1.0) < 0.08


def test_mala_log_ratio_equals_explicit_densities():
    mix = GaussianMixture([[0, 0], [3, 3]], 0.7, [0.3, 0.7])
    x, y, eps = torch.randn(6, 2), torch.randn(6, 2) + 1, 0.05
    got = samplers.mala_log_accept_ratio(x, y, mix.log_prob(x), mix.log_prob(y), mix.score(x), mix.score(y), eps)
    qn = lambda a, m: stats.multivariate_normal(m, 2 * eps * np.eye(2)).logpdf(a)
    want = [mix.log_prob(y[i:i+1]).item() + qn(x[i].numpy(), (y[i] + eps * mix.score(y[i:i+1])[0]).numpy())
            - mix.log_prob(x[i:i+1]).item() - qn(y[i].numpy(), (x[i] + eps * mix.score(x[i:i+1])[0]).numpy())
            for i in range(6)]
    assert np.allclose(got.numpy(), want, atol=1e-4)


def test_score_from_energy_is_minus_gradient():
    e = lambda v: (v**2).sum(1) * 1.5
    x = torch.randn(4, 3)
    assert torch.allclose(samplers.score_from_energy(e)(x), -3 * x)


def test_annealed_langevin_levels_and_step_rule(monkeypatch):
    """Each level runs Langevin on score(., sigma_i) with step step_size * sigma_i^2 / sigma_L^2."""
    steps, step_sizes = [], []
    langevin = samplers.langevin

    def spy(x, score, step_size, n_steps, **kw):
        step_sizes.append(step_size)
        return langevin(x, score, step_size, n_steps, **kw)

    monkeypatch.setattr(samplers, "langevin", spy)
    score = lambda v, s: steps.append(s) or -v
    final, levels = samplers.annealed_langevin(torch.zeros(10, 2), score, [4.0, 2.0, 1.0], 0.01, 3)
    assert len(levels) == 4 and steps == [4.0] * 3 + [2.0] * 3 + [1.0] * 3
    assert step_sizes == pytest.approx([0.01 * 16, 0.01 * 4, 0.01])
    assert torch.equal(final, levels[-1])


def test_mala_with_closed_form_score_equals_autograd_path():
    mix = GaussianMixture([[0, 0], [3, 3]], 1.0)
    x0 = torch.randn(50, 2)
    a = samplers.mala(x0, mix.log_prob, 0.05, 30, generator=torch.Generator().manual_seed(4))
    b = samplers.mala(x0, mix.log_prob, 0.05, 30, generator=torch.Generator().manual_seed(4), score=mix.score)
    assert torch.allclose(a.samples, b.samples, atol=1e-5) and a.accept_history == b.accept_history
