"""Score matching losses against exact score matching, closed forms and autograd; Langevin on the
anti-correlated Gaussian of notebook 05 against its covariance."""
import math

import numpy as np
import pytest
import torch

from helpers import samplers
from helpers import score_matching as sm
from helpers.distributions import Gaussian, GaussianMixture

HW4 = GaussianMixture([[-5.0, -5.0], [5.0, 5.0]], 1.0, [0.2, 0.8])
SIGMA_ANTI = torch.tensor([[1.0, -0.7], [-0.7, 1.0]])


@pytest.mark.parametrize("s", [1.0, 3.0, 20.0])
def test_hw4_noisy_mixture_score_matches_autograd_far_away(s):
    """The annealing levels' scores (with_sigma) in float32 against float64 autograd, up to 1e3 from the modes."""
    x = torch.tensor([[0.0, 0.0], [-0.07, -0.07], [40.0, -40.0], [-300.0, 250.0], [1e3, 1e3], [-5.0, -5.0]])
    q = HW4.with_sigma(s)
    q64 = GaussianMixture(HW4.means.double(), s, HW4.weights.double())
    xr = x.double().requires_grad_(True)
    (want,) = torch.autograd.grad(q64.log_prob(xr).sum(), xr)
    got = q.score(x)
    assert torch.isfinite(got).all() and torch.isfinite(q.log_prob(x)).all()
    assert torch.allclose(got.double(), want, rtol=1e-4, atol=1e-4)


def test_vjp_term_is_v_jacobian_v():
    """v^T (grad s) v from the vector-Jacobian product equals the full Jacobian sandwiched by v."""
    torch.manual_seed(0)
    net = sm.score_mlp().double()
    x, v = torch.randn(7, 2, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
    terms = sm.sliced_score_matching_terms(net, x, v)
    jac = torch.stack([torch.autograd.functional.jacobian(net, xi) for xi in x])  # (7, 2, 2): J[i, j] = ds_i/dx_j
    want = torch.einsum("bi,bij,bj->b", v, jac, v) + 0.5 * (net(x) ** 2).sum(1)
    assert torch.allclose(terms, want, atol=1e-10)


def test_sliced_equals_exact_score_matching_in_expectation():
    """On a fixed network the sliced loss, averaged over slices, matches the exact-trace loss."""
    torch.manual_seed(1)
    net = sm.score_mlp().double()
    x = HW4.sample(256, torch.Generator().manual_seed(0)).double()
    exact = sm.exact_score_matching(net, x).item()
    g = torch.Generator().manual_seed(3)
    draws = torch.stack([sm.sliced_score_matching(net, x, nv=32, generator=g) for _ in range(12)]).detach()
    se = draws.std().item() / math.sqrt(len(draws))
    assert abs(draws.mean().item() - exact) < 4 * se + 1e-6, (draws.mean().item(), exact, se)
    # and the exact trace agrees with the trace of the autograd Jacobian
    jac = torch.stack([torch.autograd.functional.jacobian(net, xi) for xi in x[:16]])
    want = (jac.diagonal(dim1=1, dim2=2).sum(1) + 0.5 * (net(x[:16]) ** 2).sum(1)).mean()
    assert abs(sm.exact_score_matching(net, x[:16]).item() - want.item()) < 1e-10


def test_annealed_loss_is_sigma_squared_times_sliced_at_one_level():
    torch.manual_seed(2)
    cond = sm.NoiseConditionalScoreNet().double()
    x = torch.randn(32, 2, dtype=torch.float64)
    s = 0.3
    a = sm.annealed_sliced_score_matching(cond, x, torch.full((32, 1), s, dtype=torch.float64), nv=2,
                                          generator=torch.Generator().manual_seed(5))
    b = sm.sliced_score_matching(lambda z: cond(z, s), x, nv=2, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(a, s ** 2 * b)


def test_noise_conditional_net_divides_by_sigma_and_checks_input():
    torch.manual_seed(0)
    cond = sm.NoiseConditionalScoreNet()
    x = torch.randn(5, 2)
    sig = torch.tensor([0.1, 0.5, 1.0, 2.0, 10.0])
    out = cond(x, sig)
    raw = cond.net(torch.cat([x, sig[:, None]], 1))
    assert torch.allclose(out * sig[:, None], raw, atol=1e-6)
    with pytest.raises(ValueError, match="entries for a batch"):
        cond(x, torch.ones(3))
    with pytest.raises(ValueError, match="positive"):
        cond(x, 0.0)


def test_dsm_loss_is_the_squared_norm_formula():
    net = sm.score_mlp(n_hidden=1)
    x = torch.randn(10, 2)
    loss = sm.denoising_score_matching(net, x, 0.1, torch.Generator().manual_seed(4))
    z = torch.randn(10, 2, generator=torch.Generator().manual_seed(4))
    want = ((net(x + 0.1 * z) + z / 0.1) ** 2).sum(1).mean()
    assert torch.allclose(loss, want)


def test_dsm_minimiser_on_gaussian_data_is_the_noisy_score():
    """Data N(m, C): the DSM minimiser is the score of N(m, C + sigma^2 I), linear; a linear model trained
    with the DSM loss must find it."""
    torch.manual_seed(0)
    m, c, sigma = torch.tensor([1.0, -1.0]), torch.tensor([[1.0, 0.5], [0.5, 2.0]]), 0.5
    data = Gaussian(m, c)
    lin = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(lin.parameters(), lr=2e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, 300, gamma=0.3)
    g = torch.Generator().manual_seed(1)
    for _ in range(1200):
        loss = sm.denoising_score_matching(lin, data.sample(2048, g), sigma, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    a_true = -torch.linalg.inv(c + sigma ** 2 * torch.eye(2))
    assert torch.allclose(lin.weight.detach(), a_true, atol=0.04), (lin.weight, a_true)
    assert torch.allclose(lin.bias.detach(), -a_true @ m, atol=0.04), (lin.bias, -a_true @ m)


def test_langevin_recovers_anticorrelated_covariance():
    """x <- x + (tau/2) score + sqrt(tau) z on N(0, Sigma) from 2 N(0, I): sample covariance -> Sigma."""
    target = Gaussian([0.0, 0.0], SIGMA_ANTI)
    g = torch.Generator().manual_seed(0)
    x0 = 2 * torch.randn(6000, 2, generator=g)
    tau = 0.02
    x = samplers.langevin(x0, target.score, step_size=tau / 2, n_steps=1500, noise_scale=math.sqrt(tau), generator=g)
    cov = torch.cov(x.T)
    assert torch.allclose(cov, SIGMA_ANTI, atol=0.06), cov
    # the discretisation bias predicted by langevin_stationary_cov is small here, and the sample agrees with it
    stat = sm.langevin_stationary_cov(SIGMA_ANTI, tau).float()
    assert torch.allclose(stat, SIGMA_ANTI, atol=0.02)
    assert torch.allclose(cov, stat, atol=0.05)


def test_langevin_cov_after_matches_simulation():
    """The closed-form covariance after K steps (notebook 05's time-1 reading) against simulated chains."""
    target = Gaussian([0.0, 0.0], SIGMA_ANTI)
    tau, k = 1 / 19, 19
    g = torch.Generator().manual_seed(1)
    x = samplers.langevin(2 * torch.randn(20000, 2, generator=g), target.score, tau / 2, k,
                          noise_scale=math.sqrt(tau), generator=g)
    want = sm.langevin_cov_after(SIGMA_ANTI, 4 * torch.eye(2), tau, k).float()
    assert torch.allclose(torch.cov(x.T), want, atol=0.08)
    assert (want - SIGMA_ANTI).abs().max() > 0.3  # time 1 is far from equilibrium


def test_distances():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(800, 2, generator=g), torch.randn(800, 2, generator=g)
    same, shifted = sm.mmd2(a, b), sm.mmd2(a, b + 1.0)
    assert abs(same) < 0.005 and shifted > 0.05 and shifted > 20 * abs(same)
    assert sm.histogram_tv(a, a) == 0.0
    assert sm.histogram_tv(a * 0.01 - 1, a * 0.01 + 1.5, lim=(-2, 2)) == pytest.approx(1.0)
    assert np.isclose(sm.nearest_mode_fractions(torch.tensor([[-4.0, -6.0], [5.0, 4.0], [6.0, 6.0]]),
                                                HW4.means)[0].item(), 1 / 3)


def test_langevin_covariances_equal_their_one_dimensional_closed_forms():
    """Per eigen-direction (variance s, a = 1 - tau / (2 s)): after k steps a^2k v0 + tau (1 - a^2k) / (1 - a^2),
    stationary tau / (1 - a^2); at a step where the discretisation bias is large (tau = 0.6 x the smallest variance)."""
    cov = torch.as_tensor(SIGMA_ANTI, dtype=torch.float64)
    s, v = torch.linalg.eigh(cov)
    tau, v0, k = 0.6 * s.min().item(), 4.0, 7
    a = 1 - tau / (2 * s)
    stationary = tau / (1 - a ** 2)
    after = a ** (2 * k) * v0 + stationary * (1 - a ** (2 * k))
    torch.testing.assert_close(sm.langevin_stationary_cov(cov, tau), v @ torch.diag(stationary) @ v.T)
    torch.testing.assert_close(sm.langevin_cov_after(cov, v0 * torch.eye(2, dtype=torch.float64), tau, k),
                               v @ torch.diag(after) @ v.T)
    assert (stationary / s).max() > 1.15  # the bias is large enough here that dropping it would fail
