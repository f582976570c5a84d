"""KDE with a bandwidth matrix: sklearn at H = h I, a direct double loop for a full H, the separable
grid path, bad bandwidths, and the spiral's exact density (mass 1, annulus probabilities)."""
import functools
import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import KernelDensity

from helpers import data, kde, utils


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("h", [0.1, 0.5, 1.0])
def test_isotropic_kde_equals_sklearn(h):
    x = data.gaussian_grid(2000, 0.5, seed=1).double()
    pts = utils.rand(500, 2, generator=utils.generator(0), dtype=torch.float64) * 5 - 1.5
    ours = kde.kde(pts, x, kde.bandwidth(h)).numpy()
    ref = np.exp(KernelDensity(kernel="gaussian", bandwidth=h).fit(x.numpy()).score_samples(pts.numpy()))
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=0)


def test_full_bandwidth_matches_double_loop():
    rng = np.random.default_rng(0)
    xs, pts = rng.normal(size=(7, 2)), rng.normal(size=(5, 2))
    H = np.array([[0.8, 0.3], [-0.2, 0.5]])
    A = np.linalg.inv(H)
    k = lambda u: np.exp(-u ** 2 / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    ref = np.zeros(len(pts))
    for j, p in enumerate(pts):
        for xi in xs:
            u = A @ (xi - p)
            ref[j] += k(u[0]) * k(u[1])
    ref /= len(xs) * abs(np.linalg.det(H))
    np.testing.assert_allclose(kde.kde(torch.tensor(pts), torch.tensor(xs), H).numpy(), ref, rtol=1e-10)
    # the grid entry point falls back to the general sum for a non-diagonal H
    g = kde.kde_grid(torch.tensor(xs), H, pts[:2, 0], pts[:3, 1]).numpy()
    Y, X = np.meshgrid(pts[:3, 1], pts[:2, 0], indexing="ij")
    np.testing.assert_allclose(g.ravel(), kde.kde(torch.tensor(np.stack([X.ravel(), Y.ravel()], 1)),
                                                  torch.tensor(xs), H).numpy(), rtol=1e-12)


def test_separable_grid_equals_general_sum_and_small_chunks():
    x = data.spiral(3000, seed=2).double()
    xs, ys = np.linspace(-7, 7, 41), np.linspace(-6, 6, 37)
    H = np.diag([0.4, 0.7])
    Y, X = np.meshgrid(ys, xs, indexing="ij")
    pts = torch.tensor(np.stack([X.ravel(), Y.ravel()], 1))
    general = kde.kde(pts, x, H, max_terms=100_000)  # many chunks
    np.testing.assert_allclose(kde.kde_grid(x, H, xs, ys).numpy().ravel(), general.numpy(), rtol=1e-10)


def test_kde_integrates_to_one():
    x = data.gaussian_grid(1000, 1.0, seed=3)
    xs = np.linspace(-7, 9, 321)
    f = kde.kde_grid(x, kde.bandwidth(0.3), xs, xs)
    assert abs(float(f.sum()) * kde.cell_area(xs, xs) - 1) < 1e-6


@pytest.mark.parametrize("H, match", [
    (np.eye(3), "2 x 2"),
    (np.ones((2, 3)), "square"),
    (np.ones(2), "square"),
    (np.array([[1.0, 2.0], [0.5, 1.0]]), "singular"),
    (np.zeros((2, 2)), "singular"),
])
def test_bad_bandwidths_are_rejected(H, match):
    with pytest.raises(ValueError, match=match):
        kde.kde(torch.zeros(3, 2), torch.zeros(4, 2), H)


def test_bad_shapes_and_h_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        kde.kde(torch.zeros(3, 3), torch.zeros(4, 2), np.eye(2))
    with pytest.raises(ValueError, match="positive"):
        kde.bandwidth(0.0)


@functools.lru_cache(maxsize=1)
def _polar_grid():
    """Midpoint rule in (rho, phi); pi is a cell edge, where the density jumps (the spiral's start)."""
    drho, dphi = 12 / 1500, 2 * np.pi / 800
    rho = (np.arange(1500) + 0.5) * drho
    phi = (np.arange(800) + 0.5) * dphi
    R, P = np.meshgrid(rho, phi)
    pts = torch.tensor(np.stack([R * np.cos(P), R * np.sin(P)], -1).reshape(-1, 2))
    return rho, drho * dphi, kde.spiral_density(pts).numpy().reshape(R.shape) * R  # f rho: no singularity


def test_spiral_density_has_mass_one():
    _, cell, f_rho = _polar_grid()
    assert abs(f_rho.sum() * cell - 1) < 1e-5


def test_spiral_density_matches_samples_on_annuli():
    rho, cell, f_rho = _polar_grid()
    r = data.spiral(100_000, r_std=0.5, seed=4).double().norm(dim=1).numpy()  # variance 0.25
    for a, b in [(0, 0.5), (1, 2), (3, 4), (6, 7), (7.5, 12)]:
        p = f_rho[:, (rho >= a) & (rho < b)].sum() * cell
        q = np.mean((r >= a) & (r < b))
        assert abs(p - q) < 5 * math.sqrt(p * (1 - p) / len(r)), (a, b, p, q)


def test_spiral_density_matches_samples_in_polar_cells():
    """Angle and radius together (a ring or a mirrored spiral has the right radii but fails here): 8 sectors x
    5 annuli, the sample share against the density's mass in each cell, within 5 binomial standard errors."""
    rho, cell, f_rho = _polar_grid()
    phi = (np.arange(f_rho.shape[0]) + 0.5) * 2 * np.pi / f_rho.shape[0]
    x = data.spiral(100_000, r_std=0.5, seed=5).double()
    r, a = x.norm(dim=1).numpy(), np.mod(np.arctan2(x[:, 1], x[:, 0]).numpy(), 2 * np.pi)
    sectors = np.linspace(0, 2 * np.pi, 9)
    for lo, hi in [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]:
        for s0, s1 in zip(sectors[:-1], sectors[1:]):
            p = f_rho[np.ix_((phi >= s0) & (phi < s1), (rho >= lo) & (rho < hi))].sum() * cell
            q = np.mean((r >= lo) & (r < hi) & (a >= s0) & (a < s1))
            assert abs(p - q) < 5 * math.sqrt(p * (1 - p) / len(r)) + 1e-4, (lo, s0, p, q)


def test_mixture_int_f2_closed_form():
    mix = data.gaussian_grid_mixture(0.5)
    xs = np.linspace(-4, 6, 501)
    Y, X = np.meshgrid(xs, xs, indexing="ij")
    f = mix.log_prob(torch.tensor(np.stack([X.ravel(), Y.ravel()], 1))).exp().numpy()
    ref = (f ** 2).sum() * kde.cell_area(xs, xs)
    assert abs(kde.mixture_int_f2(mix.means, 0.5) - ref) < 1e-6 * ref


def test_mixture_mise_matches_monte_carlo():
    mix = data.gaussian_grid_mixture(0.5)
    hs = np.array([0.1, 0.5])
    exact = kde.mixture_mise(mix.means, 0.5, hs, 500)
    assert np.all(np.diff(kde.mixture_mise(mix.means, 0.5, [0.1, 0.3, 1.0], 500)["bias2"]) > 0)
    xs = np.linspace(-3, 5, 200)
    Y, X = np.meshgrid(xs, xs, indexing="ij")
    f = mix.log_prob(torch.tensor(np.stack([X.ravel(), Y.ravel()], 1))).exp().view(200, 200)
    ises = np.array([kde.kde_errors(data.gaussian_grid(500, 0.5, seed=s), hs, f, xs, xs)["ise_minus_f2"]
                     for s in range(30)]) + kde.mixture_int_f2(mix.means, 0.5)
    se = ises.std(0) / np.sqrt(len(ises))
    assert np.all(np.abs(ises.mean(0) - exact["mise"]) < 4 * se + 1e-4), (ises.mean(0), exact["mise"])
