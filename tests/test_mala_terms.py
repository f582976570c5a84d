"""MALA's log alpha split into its terms: against explicit scipy densities and against mala_log_accept_ratio."""
import math

import numpy as np
import torch
from scipy import stats

from helpers import samplers, utils


def _gaussian_setup(seed=0, eps=(3 / 256) ** 2 / 2):
    """Image-shaped states under an anisotropic Gaussian energy, and one Langevin proposal from each."""
    g = utils.generator(seed)
    a = 1 + 20 * utils.rand(4, 1, 5, 5, generator=g)  # precisions' square roots: steep and flat directions
    log_p = lambda v: -0.5 * ((v * a) ** 2).flatten(1).sum(1) + 7.0  # noqa: E731  (unnormalised)
    x = utils.rand(4, 1, 5, 5, generator=g)
    lp_x, s_x = samplers.log_prob_and_score(log_p, x)
    y = x + eps * s_x + math.sqrt(2 * eps) * utils.randn_like(x, g)
    lp_y, s_y = samplers.log_prob_and_score(log_p, y)
    return a, x, y, lp_x, lp_y, s_x, s_y, eps


def test_terms_equal_explicit_densities():
    a, x, y, lp_x, lp_y, s_x, s_y, eps = _gaussian_setup()
    t = samplers.mala_log_accept_terms(x, y, lp_x, lp_y, s_x, s_y, eps)
    sd = (1 / a).flatten(1).double().numpy()
    logp = lambda v: stats.norm.logpdf(v.flatten(1).double().numpy(), scale=sd).sum(1)  # noqa: E731
    # scipy's normalised proposal densities; the normaliser (the same both ways) is removed from each term
    norm = x[0].numel() * stats.norm.logpdf(0, scale=math.sqrt(2 * eps))
    logq = lambda to, frm, s: stats.norm.logpdf((to - frm - eps * s).flatten(1).double().numpy(),  # noqa: E731
                                                scale=math.sqrt(2 * eps)).sum(1) - norm
    np.testing.assert_allclose(t["delta_log_p"].double().numpy(), logp(y) - logp(x), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(t["log_q_forward"].double().numpy(), logq(y, x, s_x), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(t["log_q_backward"].double().numpy(), logq(x, y, s_y), rtol=1e-4, atol=1e-3)
    want = logp(y) - logp(x) + logq(x, y, s_y) - logq(y, x, s_x)
    np.testing.assert_allclose(t["log_alpha"].double().numpy(), want, rtol=1e-4, atol=1e-3)


def test_mala_log_accept_ratio_equals_its_formula():
    """log alpha = log p(y) - log p(x) + (|y - x - eps s(x)|^2 - |x - y - eps s(y)|^2) / (4 eps), written out."""
    a, x, y, lp_x, lp_y, s_x, s_y, eps = _gaussian_setup(seed=1, eps=0.01)
    sq = lambda v: (v ** 2).flatten(1).sum(1)  # noqa: E731
    want = lp_y - lp_x + (sq(y - x - eps * s_x) - sq(x - y - eps * s_y)) / (4 * eps)
    ratio = samplers.mala_log_accept_ratio(x, y, lp_x, lp_y, s_x, s_y, eps)
    torch.testing.assert_close(ratio, want, rtol=1e-5, atol=1e-4)
    t = samplers.mala_log_accept_terms(x, y, lp_x, lp_y, s_x, s_y, eps)
    assert (t["log_q_forward"] <= 0).all() and (t["log_q_backward"] <= 0).all()


def test_proposal_terms_acceptance_matches_mala_first_step():
    """The mean of min(1, alpha) over many single proposals is the acceptance rate of MALA's first step."""
    var, eps, n = 0.1, 0.08, 20_000
    log_p = lambda v: -(v ** 2).sum(1) / (2 * var)  # noqa: E731
    x = utils.randn(n, 2, generator=utils.generator(3)) * math.sqrt(var)
    t = samplers.mala_proposal_terms(x, log_p, eps, generator=utils.generator(4))
    p_acc = t["log_alpha"].clamp(max=0).exp().mean().item()
    # the returned proposal is the y of the terms: its forward log q is -|y - x - eps grad log p(x)|^2 / (4 eps)
    y = t["proposal"]
    torch.testing.assert_close(t["log_q_forward"], -((y - x * (1 - eps / var)) ** 2).sum(1) / (4 * eps))
    res = samplers.mala(x, log_p, eps, 1, generator=utils.generator(5))
    se = math.sqrt(p_acc * (1 - p_acc) / n)
    assert abs(res.acceptance_rate - p_acc) < 5 * se + 1e-3
    # closed form: y = (1 - eps/var) x + sqrt(2 eps) z, so E[log p(y) - log p(x)] = -(E|y|^2 - E|x|^2) / (2 var)
    ey2 = 2 * ((1 - eps / var) ** 2 * var + 2 * eps)
    want = -(ey2 - 2 * var) / (2 * var)  # -0.64: at this large step the proposals go uphill in energy on average
    d = t["delta_log_p"]
    assert abs(d.mean().item() - want) < 5 * d.std().item() / math.sqrt(n)


def test_proposal_terms_return_both_scores():
    """The scores returned with the terms are grad log p at x and at the proposal y."""
    var, eps = 0.5, 0.05
    log_p = lambda v: -(v ** 2).sum(1) / (2 * var)  # noqa: E731
    x = utils.randn(64, 3, generator=utils.generator(6))
    t = samplers.mala_proposal_terms(x, log_p, eps, generator=utils.generator(7))
    torch.testing.assert_close(t["score_x"], -x / var)
    torch.testing.assert_close(t["score_y"], -t["proposal"] / var)
