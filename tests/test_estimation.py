"""HW3 estimation: gradients against autograd and finite differences, NCE recovery, the Task 12 rule."""
import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.optimize import check_grad

from helpers import data, estimation as E, utils
from helpers.distributions import GaussianMixture

TRUE = np.array([[0, 0], [0, 3], [3, 0], [3, 3]], float)


def test_grad_log_p_means_matches_autograd():
    g = torch.Generator().manual_seed(0)
    x = 4 * torch.rand(50, 2, generator=g, dtype=torch.float64) - 0.5
    means = (3 * torch.rand(4, 2, generator=g, dtype=torch.float64)).requires_grad_(True)
    per_sample = E.grad_log_p_means(x, means.detach(), sigma=1.3)
    for n in (0, 17, 49):
        (auto,) = torch.autograd.grad(GaussianMixture(means, 1.3).log_prob(x[n:n + 1]).sum(), means)
        torch.testing.assert_close(per_sample[n], auto)


def test_contrastive_gradient_is_difference_of_mean_gradients_autograd():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(30, 2, generator=g, dtype=torch.float64) * 2
    synth = torch.randn(20, 2, generator=g, dtype=torch.float64) + 1
    means = (3 * torch.rand(4, 2, generator=g, dtype=torch.float64)).requires_grad_(True)
    mix = GaussianMixture(means, 1.0)
    (auto,) = torch.autograd.grad(mix.log_prob(real).mean() - mix.log_prob(synth).mean(), means)
    torch.testing.assert_close(E.contrastive_gradient(real, synth, means.detach()), auto)


def test_ml_direct_moves_towards_em_solution():
    mix = data.gaussian_grid_mixture(sigma=1, spacing=3)
    g = torch.Generator().manual_seed(0)
    real = mix.sample(1000, g)
    init = mix.means + 0.4 * torch.randn(4, 2, generator=g)
    fit = E.estimate_means("ml-direct", real, init, max_iters=150, window=50, tol=0.1,
                           true_means=mix.means, generator=g)
    mle = E.em_means(real, init)
    assert E.assignment_error(fit.means, mle) < 0.1
    assert fit.errors[-1] < fit.errors[0]


def test_estimate_means_rejects_unknown_method():
    with pytest.raises(ValueError, match="method must be one of"):
        E.estimate_means("sgd", torch.zeros(5, 2), torch.zeros(4, 2))


@pytest.mark.parametrize("learn_log_z", [False, True])
def test_nce_gradient_matches_finite_differences(learn_log_z):
    rng = np.random.default_rng(0)
    x = TRUE[rng.integers(0, 4, 300)] + rng.standard_normal((300, 2))
    y = 1 + 2 * rng.standard_normal((300, 2))
    prob = E.NCEProblem(x, y, learn_log_z=learn_log_z)
    for _ in range(3):
        theta = rng.uniform(-1, 4, prob.n_params)
        err = check_grad(prob.objective, prob.gradient, theta, epsilon=1e-7)
        assert err < 1e-5 * max(1.0, np.linalg.norm(prob.gradient(theta)))


def test_nce_objective_is_stable_far_from_data():
    """With means far away G(x) is hugely negative: log-sigmoid keeps the objective finite."""
    rng = np.random.default_rng(0)
    prob = E.NCEProblem(TRUE[rng.integers(0, 4, 50)] + rng.standard_normal((50, 2)),
                        1 + 2 * rng.standard_normal((50, 2)), learn_log_z=True)
    theta = np.append(np.full(8, 60.0), -40.0)
    value, grad = prob.objective_and_grad(theta)
    assert np.isfinite(value) and value > 100 and np.all(np.isfinite(grad))


def test_log_partition_normalises_the_model():
    """With log Z = log(N 2 pi sigma^2), exp(G) p_n equals the normalised mixture density."""
    mix = GaussianMixture(TRUE, 1.0)
    assert math.isclose(math.exp(E.log_partition(4, 1.0)), 8 * math.pi)
    pts = np.random.default_rng(1).uniform(-2, 5, (20, 2))
    prob = E.NCEProblem(pts, pts)
    g, _ = prob.log_ratio(TRUE, prob.log_z)
    log_pm = g[:20] + prob.log_pn[:20]
    np.testing.assert_allclose(log_pm, mix.log_prob(torch.as_tensor(pts, dtype=torch.float64)).numpy(),
                               rtol=1e-6)


@pytest.mark.parametrize("learn_log_z", [False, True])
def test_nce_recovers_means_at_j5000(learn_log_z):
    """Tolerance: each estimate within 0.25 of a distinct true mean (the statistical error at J = 5000
    is about 0.05 per coordinate), and Z within 10% when learned."""
    rng = np.random.default_rng(123)
    fit, _ = E.nce_run(5000, learn_log_z, rng, TRUE)
    mse, failed = E.match_nearest(fit.means, TRUE)
    assert not failed
    idx = E.nearest_true(fit.means, TRUE)
    assert np.all(np.linalg.norm(fit.means - TRUE[idx], axis=1) < 0.25)
    if learn_log_z:
        assert abs(fit.z / (8 * math.pi) - 1) < 0.1


def test_match_nearest_success_case():
    est = TRUE[[2, 0, 3, 1]] + np.array([[0.1, 0], [0, -0.2], [0.3, 0.4], [0, 0]])
    mse, failed = E.match_nearest(est, TRUE)
    assert not failed
    assert math.isclose(mse, (0.01 + 0.04 + 0.25 + 0) / 4)


def test_match_nearest_two_estimates_on_one_mean_fail():
    est = np.array([[0.1, 0.1], [-0.2, 0.3], [3, 0], [3, 3]])  # two near (0,0); (0,3) unclaimed
    mse, failed = E.match_nearest(est, TRUE)
    assert failed and math.isnan(mse)


def test_match_nearest_is_nearest_not_assignment():
    """(1.4, 1.4) is nearest to (0, 0) although (0, 0) is taken: the rule declares a failure,
    where an optimal one-to-one assignment would not."""
    est = np.array([[0.0, 0.0], [1.4, 1.4], [3, 0], [3, 3]])
    assert E.match_nearest(est, TRUE)[1]
    assert E.assignment_error(est, TRUE) > 0


class _FakeFit:
    def __init__(self, means, z=8 * math.pi + 1):
        self.means, self.z = np.asarray(means, float), z


def test_nce_study_excludes_and_counts_failures(monkeypatch):
    """Task 12's bookkeeping on hand-made fits: failed runs are counted and left out of both MSEs."""
    fits = iter([TRUE + 0.1, TRUE + 0.1, np.array([[0, 0], [0, 0.2], [3, 0], [3, 3]], float), TRUE,
                 TRUE - 0.2, TRUE - 0.2])  # run by run: Z known, then log Z learned
    monkeypatch.setattr(E, "fit_nce", lambda *a, **k: _FakeFit(next(fits)))
    studies = E.nce_study([100], 3, TRUE)
    known, learned = studies[False].summary()[0], studies[True].summary()[0]
    assert known["failures"] == 1 and known["runs"] == 3 and learned["failures"] == 0
    assert math.isclose(known["mse_means"], (0.02 + 0.08) / 2)
    assert math.isclose(learned["mse_means"], (0.02 + 0 + 0.08) / 3)
    assert math.isclose(learned["mse_z"], 1.0) and math.isnan(known["mse_z"])


def test_nce_study_fits_both_variants_on_the_same_draws(monkeypatch):
    """Paired design: run k of each J gives both variants the same data, noise and initial means."""
    seen = []

    def record(problem, init, init_log_z=None, **kw):
        seen.append((problem.learn_log_z, problem.x.copy(), problem.y.copy(), np.array(init), init_log_z))
        return _FakeFit(TRUE)

    monkeypatch.setattr(E, "fit_nce", record)
    E.nce_study([50, 80], 2, TRUE, seed=3)
    assert len(seen) == 8
    for known, learned in zip(seen[::2], seen[1::2]):
        assert not known[0] and learned[0] and known[4] is None and learned[4] is not None
        for a, b in zip(known[1:4], learned[1:4]):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(seen[0][1], seen[2][1])  # fresh data for every run


def test_paired_mse_ratios_drops_runs_failed_in_either_variant():
    nan = float("nan")
    known = E.NCEStudy([10], {10: np.array([1.0, nan, 2.0, 4.0])}, {10: np.array([0, 1, 0, 0], bool)},
                       {10: np.full(4, nan)}, 0.0)
    learned = E.NCEStudy([10], {10: np.array([2.0, 1.0, nan, 6.0])}, {10: np.array([0, 0, 1, 0], bool)},
                         {10: np.full(4, 1.0)}, 0.0)
    (row,) = E.paired_mse_ratios(known, learned)
    assert row["runs_used"] == 2 and row["runs"] == 4
    assert math.isclose(row["ratio"], (2 + 6) / (1 + 4))
    assert math.isclose(row["se"], E.paired_ratio([2.0, 6.0], [1.0, 4.0])[1])


def test_paired_ratio_standard_error_matches_its_spread_over_experiments():
    """Seeded: across 2000 simulated paired experiments (n = 50, correlated pairs) the delta-method
    standard error agrees with the actual spread of the ratio within 10%, and pairing shrinks it
    far below the unpaired one."""
    rng = np.random.default_rng(0)
    ratios, ses, unpaired = [], [], []
    for _ in range(2000):
        b = rng.exponential(1.0, 50)
        a = 1.1 * b * rng.lognormal(0, 0.1, 50)
        r, se = E.paired_ratio(a, b)
        ratios.append(r)
        ses.append(se)
        unpaired.append(r * math.hypot(a.std(ddof=1) / a.mean(), b.std(ddof=1) / b.mean()) / math.sqrt(50))
    assert abs(np.mean(ses) / np.std(ratios) - 1) < 0.1
    assert np.mean(ses) < 0.3 * np.mean(unpaired)


def test_paired_ratio_rejects_unpaired_or_nan_input():
    with pytest.raises(ValueError, match="paired values of the same length"):
        E.paired_ratio([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="drop failed runs"):
        E.paired_ratio([1.0, float("nan")], [1.0, 2.0])


def test_hotelling_t2_matches_the_direct_formula():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 2, 2)) @ np.array([[1.0, 0.3], [0.0, 0.5]]) + 0.2
    mean0 = np.array([[0.1, 0.0], [0.3, 0.2]])
    res = E.hotelling_t2(x, mean0)
    flat = x.reshape(30, 4) - mean0.ravel()
    d = flat.mean(0)
    s = sum(np.outer(v - d, v - d) for v in flat) / 29
    t2 = 30 * d @ np.linalg.inv(s) @ d
    assert math.isclose(res.t2, t2, rel_tol=1e-10) and (res.n, res.p) == (30, 4)
    assert math.isclose(res.f, t2 * 26 / (4 * 29), rel_tol=1e-10)
    assert math.isclose(res.p_value, 1 - stats.f.cdf(res.f, 4, 26), rel_tol=1e-8)
    assert math.isclose(res.mahalanobis, math.sqrt(t2 / 30), rel_tol=1e-10)


def test_hotelling_t2_in_one_dimension_is_the_squared_t_test():
    x = np.random.default_rng(2).normal(0.3, 1.0, 25)
    res = E.hotelling_t2(x[:, None], 0.1)
    t = stats.ttest_1samp(x, 0.1)
    assert math.isclose(res.t2, t.statistic ** 2, rel_tol=1e-10)
    assert math.isclose(res.p_value, t.pvalue, rel_tol=1e-8)


def test_hotelling_t2_is_calibrated_and_detects_a_shift():
    """Seeded: under H0 about 5% of 1000 tests (n = 20, p = 8) reject at 0.05; with n = 40 a shift of
    1.5 draw standard deviations along one coordinate (noncentrality 90) is found at p < 1e-3."""
    rng = np.random.default_rng(3)
    rejections = np.mean([E.hotelling_t2(rng.standard_normal((20, 8))).p_value < 0.05 for _ in range(1000)])
    assert 0.03 < rejections < 0.07
    shifted = rng.standard_normal((40, 8)) + np.eye(8)[0] * 1.5
    assert E.hotelling_t2(shifted).p_value < 1e-3


def test_hotelling_t2_needs_more_draws_than_dimensions():
    with pytest.raises(ValueError, match="more draws than dimensions"):
        E.hotelling_t2(np.zeros((8, 4, 2)))


def test_mcmc_steps_use_the_closed_form_score(monkeypatch):
    """ML with MCMC and CD hand MALA the mixture's closed-form score (no autograd per step), and it
    equals autograd's gradient of the same log-density."""
    calls = []
    real_mala = E.mala

    def spy(x0, log_prob, *a, score=None, **k):
        calls.append((log_prob, score))
        return real_mala(x0, log_prob, *a, score=score, **k)

    monkeypatch.setattr(E, "mala", spy)
    g = utils.generator(0)
    means = torch.tensor([[0.0, 0.0], [0.0, 3.0], [3.0, 0.0], [3.0, 3.0]], dtype=torch.float64)
    real = 3 * utils.rand(50, 2, generator=g, dtype=torch.float64)
    for method in ("ml-mcmc", "cd"):
        E.synthetic_batch(method, real, means, n_synthetic=10, chain_length=3, generator=g)
    assert len(calls) == 2
    x = (4 * utils.rand(20, 2, generator=g, dtype=torch.float64) - 0.5).requires_grad_(True)
    for log_prob, score in calls:
        assert score is not None
        (auto,) = torch.autograd.grad(log_prob(x).sum(), x)
        torch.testing.assert_close(score(x.detach()), auto)
