"""Asymptotic (sandwich) covariances of NCE and ML for HW3's mixture, against seeded Monte Carlo, and the
explicit score-matching objective of the mixture against autograd."""
import math

import numpy as np
import pytest
import torch

from helpers import estimation as E
from helpers.distributions import GaussianMixture

TRUE = np.array([[0, 0], [0, 3], [3, 0], [3, 3]], float)
LOG_Z = math.log(8 * math.pi)


def rel(m, ref):
    return np.linalg.norm(m - ref) / np.linalg.norm(ref)


def test_quadrature_grid_integrates_the_densities():
    u, vol = E.quadrature_grid(np.vstack([TRUE, [[1.0, 1.0]]]), 2.0, step=0.2)
    p_n = np.exp(E.gaussian_log_pdf(u, (1.0, 1.0), 2.0))
    p_m = np.exp(GaussianMixture(torch.as_tensor(TRUE), 1.0).log_prob(torch.as_tensor(u)).numpy())
    assert p_n.sum() * vol == pytest.approx(1, abs=1e-9)
    assert p_m.sum() * vol == pytest.approx(1, abs=1e-9)
    np.testing.assert_allclose((p_m[:, None] * u).sum(0) * vol, [1.5, 1.5], atol=1e-9)
    with pytest.raises(ValueError, match="d <= 3"):
        E.quadrature_grid(np.zeros((1, 4)), 1.0)


def test_sandwich_formula_and_shape_check():
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    B = np.array([[1.0, 0.2], [0.2, 3.0]])
    np.testing.assert_allclose(E.sandwich(A, B), np.linalg.inv(A) @ B @ np.linalg.inv(A))
    with pytest.raises(ValueError, match="square"):
        E.sandwich(A, np.eye(3))


def test_nce_sandwich_parts_match_monte_carlo():
    """B against the covariance of the per-pair gradient on 100k seeded pairs; A against the finite-
    difference Hessian of the NCE objective (NCEProblem) on the same pairs, at the true parameters."""
    asym = E.nce_asymptotic_covariance(TRUE, learn_log_z=True)
    n = 100_000
    x, y, _, _ = E.nce_draw(n, np.random.default_rng(1), TRUE)
    problem = E.NCEProblem(x, y, 4, 1.0, (1.0, 1.0), 2.0, learn_log_z=True)
    g_ratio, r = problem.log_ratio(TRUE, LOG_Z)
    h = 1 / (1 + np.exp(-g_ratio))
    g = np.concatenate([(r[:, :, None] * (problem.u[:, None, :] - TRUE[None])).reshape(2 * n, -1),
                        -np.ones((2 * n, 1))], 1)
    psi = (1 - h[:n, None]) * g[:n] - h[n:, None] * g[n:]  # gradient of one pair's term
    theta = np.append(TRUE.ravel(), LOG_Z)
    eps = 1e-4
    hess = np.stack([(problem.gradient(theta + eps * e) - problem.gradient(theta - eps * e)) / (2 * eps)
                     for e in np.eye(len(theta))])
    assert rel(np.cov(psi, rowvar=False), asym.B) < 0.04
    assert rel(hess, asym.A) < 0.04
    assert np.abs(psi.mean(0)).max() < 0.01  # the gradient has mean zero at the truth


@pytest.mark.parametrize("learn", [False, True])
def test_nce_sandwich_matches_repeated_fits(learn):
    """J * (Task 12's MSE of the means) over 60 seeded NCE fits at J = 1000, started at the truth,
    agrees with the sandwich's limit within 4 standard errors."""
    asym = E.nce_asymptotic_covariance(TRUE, learn_log_z=learn)
    rng = np.random.default_rng(5)
    j, runs = 1000, 60
    vals = []
    for _ in range(runs):
        x, y, _, _ = E.nce_draw(j, rng, TRUE)
        fit = E.fit_nce(E.NCEProblem(x, y, 4, 1.0, (1.0, 1.0), 2.0, learn), TRUE, LOG_Z if learn else None)
        mse, failed = E.match_nearest(fit.means, TRUE)
        assert not failed
        vals.append(j * mse)
    se = np.std(vals, ddof=1) / math.sqrt(runs)
    assert abs(np.mean(vals) - asym.j_mse) < 4 * se
    assert 4 * se < 0.4 * asym.j_mse  # the test has teeth: an error of 40% would be caught


def test_learning_log_z_costs_a_constant_fraction():
    known = E.nce_asymptotic_covariance(TRUE)
    learned = E.nce_asymptotic_covariance(TRUE, learn_log_z=True)
    assert known.cov.shape == (8, 8) and learned.cov.shape == (9, 9)
    assert math.isnan(known.j_var_log_z) and learned.j_var_log_z > 0
    assert 1.0 < learned.j_mse / known.j_mse < 1.02
    # NCE against this noise is less efficient than ML, which attains the Cramer-Rao bound
    assert known.j_mse > E.ml_asymptotic_covariance(TRUE).j_mse


def test_ml_sandwich_is_inverse_fisher_and_matches_em():
    asym = E.ml_asymptotic_covariance(TRUE)
    np.testing.assert_allclose(asym.A, asym.B, atol=1e-10)  # information identity at the truth
    np.testing.assert_allclose(asym.cov, np.linalg.inv(asym.B), rtol=1e-8)
    g = torch.Generator().manual_seed(3)
    mix = GaussianMixture(torch.as_tensor(TRUE), 1.0)
    j, runs = 1000, 60
    vals = []
    for _ in range(runs):
        mle = E.em_means(mix.sample(j, g).double(), torch.as_tensor(TRUE)).numpy()
        vals.append(j * ((mle - TRUE) ** 2).sum(1).mean())
    se = np.std(vals, ddof=1) / math.sqrt(runs)
    assert abs(np.mean(vals) - asym.j_mse) < 4 * se


def test_score_matching_objective_matches_autograd():
    """The explicit objective equals mean[|grad log p|^2 / 2 + Laplacian log p] by autograd."""
    g = torch.Generator().manual_seed(0)
    x = 5 * torch.rand(40, 2, generator=g, dtype=torch.float64) - 1
    means = 3 * torch.rand(4, 2, generator=g, dtype=torch.float64)
    sigma = 1.3
    mix = GaussianMixture(means, sigma)
    total = 0.0
    for point in x:
        p = point.clone().requires_grad_(True)
        (score,) = torch.autograd.grad(mix.log_prob(p[None]).sum(), p, create_graph=True)
        lap = sum(torch.autograd.grad(score[k], p, retain_graph=True)[0][k] for k in range(2))
        total += 0.5 * (score ** 2).sum() + lap
    torch.testing.assert_close(E.score_matching_objective(x, means, sigma), total / len(x))


def test_score_matching_means_is_a_consistent_stationary_point():
    g = torch.Generator().manual_seed(1)
    mix = GaussianMixture(torch.as_tensor(TRUE), 1.0)
    x = mix.sample(20_000, g).double()
    est = E.score_matching_means(x, torch.as_tensor(TRUE) + 0.3)
    mu = est.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(E.score_matching_objective(x, mu), mu)
    assert grad.abs().max() < 1e-7
    assert E.assignment_error(est, TRUE) < 0.05
    with pytest.raises(ValueError, match="same d"):
        E.score_matching_objective(x, torch.zeros(4, 3))
