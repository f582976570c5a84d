"""Coupling flows: inverse and log-determinant against autograd Jacobians, the hand-written gradient
against autograd, the trainer against a plain autograd/Adam loop, a trained density's mass, sampling."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from helpers import data, distributions, flows, utils


pytestmark = pytest.mark.usefixtures("one_thread")


def _random_layer(mask, seed=0):
    torch.manual_seed(seed)
    layer = flows.CouplingLayer(torch.tensor(mask))
    with torch.no_grad():
        layer.scale_factor.normal_(0, 1)  # away from the identity initialisation
    return layer.double()


def test_scale_factor_starts_at_zero_so_the_scale_is_one():
    layer = flows.CouplingLayer(torch.tensor([1.0, 0.0]))
    assert torch.equal(layer.scale_factor.detach(), torch.zeros(2))
    x = torch.randn(10, 2)
    y, log_det = layer(x)
    assert torch.equal(log_det, torch.zeros(10))
    assert torch.equal(y[:, 0], x[:, 0])  # the masked coordinate passes through
    assert len(layer.s_func) == 5 and sum(isinstance(m, torch.nn.Linear) for m in layer.s_func) == 3
    assert isinstance(layer.t_func[1], torch.nn.LeakyReLU)


@pytest.mark.parametrize("mask", [[1.0, 0.0], [0.0, 1.0]])
def test_inverse_undoes_forward(mask):
    layer = _random_layer(mask)
    x = torch.randn(500, 2, dtype=torch.float64) * 2
    y, ld = layer(x)
    x2, ild = layer.inverse(y)
    assert torch.allclose(x2, x, atol=1e-5, rtol=0)
    assert torch.allclose(ild, -ld, atol=1e-10)
    y2, _ = layer(layer.inverse(x)[0])
    assert torch.allclose(y2, x, atol=1e-5, rtol=0)
    # float32, as trained
    layer32 = layer.float()
    x32 = x.float()
    assert torch.allclose(layer32.inverse(layer32(x32)[0])[0], x32, atol=1e-5, rtol=0)


@pytest.mark.parametrize("mask", [[1.0, 0.0], [0.0, 1.0]])
def test_log_det_equals_autograd_jacobian(mask):
    layer = _random_layer(mask, seed=1)
    x = torch.randn(20, 2, dtype=torch.float64)
    ld, ild = layer(x)[1].detach(), layer.inverse(x)[1].detach()
    for i in range(len(x)):
        J = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], x[i])
        assert abs(float(torch.linalg.slogdet(J)[1]) - float(ld[i])) < 1e-10
        Ji = torch.autograd.functional.jacobian(lambda v: layer.inverse(v[None])[0][0], x[i])
        assert abs(float(torch.linalg.slogdet(Ji)[1]) - float(ild[i])) < 1e-10
        # triangular: the passed-through coordinate does not depend on the other
        keep = int(torch.tensor(mask).argmax())
        assert J[keep, 1 - keep] == 0 and J[keep, keep] == 1


def test_flow_log_probability_is_change_of_variables():
    torch.manual_seed(2)
    flow = flows.CouplingFlow(4).double()
    with torch.no_grad():
        for layer in flow.layers:
            layer.scale_factor.normal_(0, 0.5)
    x, log_prob = flow.sample_x(300, generator=utils.generator(0))
    assert torch.allclose(flow.log_probability(x), log_prob, atol=1e-8)
    # and the full Jacobian of x -> z = f^{-1}(x) gives the same number
    def inv(v):
        z = v[None]
        for layer in reversed(flow.layers):
            z = layer.inverse(z)[0]
        return z[0]
    for i in range(5):
        J = torch.autograd.functional.jacobian(inv, x[i])
        z = inv(x[i]).detach()
        ref = -0.5 * float(z @ z) - math.log(2 * math.pi) + float(torch.linalg.slogdet(J)[1])
        assert abs(ref - float(log_prob[i])) < 1e-6


def test_sample_x_each_step_returns_k_plus_1_sets_first_standard_normal():
    torch.manual_seed(3)
    flow = flows.CouplingFlow(3)
    steps = flow.sample_x_each_step(20000, generator=utils.generator(5))
    assert len(steps) == 4 and all(s.shape == (20000, 2) for s in steps)
    assert torch.equal(steps[0], utils.randn(20000, 2, generator=utils.generator(5)))
    for j in range(2):
        assert stats.kstest(steps[0][:, j].numpy(), "norm").pvalue > 1e-3
    assert abs(float(torch.corrcoef(steps[0].T)[0, 1])) < 0.03
    x, _ = flow.sample_x(20000, generator=utils.generator(5))
    assert torch.allclose(steps[-1], x)


def test_packed_gradient_equals_autograd():
    torch.manual_seed(4)
    flow = flows.CouplingFlow(4)
    with torch.no_grad():
        for layer in flow.layers:
            layer.scale_factor.normal_(0, 1)
    x = data.toy_2d("Moons", 77, seed=1)
    packed = flows.PackedFlow(flow)
    loss = packed.loss_and_grad(x)
    ref = -flow.log_probability(x).mean()
    ref.backward()
    assert abs(float(loss) - ref.item()) < 1e-5
    auto = flows.PackedFlow(flow)  # same layout, filled with the autograd gradients
    for layer in flow.layers:
        for p in layer.parameters():
            if p.requires_grad:
                p.data = p.grad.clone()
    auto.pull()
    assert torch.allclose(packed.grad, auto.flat, atol=1e-5, rtol=1e-4)
    # autograd_loss_and_grad packs the same autograd gradient (at the weights `packed` was built from)
    ref_loss, ref_grad = flows.PackedFlow(flows.from_snapshot(flow, packed.flat)).autograd_loss_and_grad(x)
    assert abs(ref_loss - ref.item()) < 1e-6 and torch.allclose(ref_grad, auto.flat, atol=1e-6, rtol=1e-5)
    # the numpy engine computes the same loss and gradient
    npacked = flows.NumpyPackedFlow(flows.from_snapshot(flow, packed.flat))
    assert abs(npacked.loss_and_grad(x.numpy()) - float(loss)) < 1e-5
    assert torch.allclose(npacked.grad, packed.grad, atol=1e-5, rtol=1e-4)


def test_pack_and_unpack_round_trip():
    torch.manual_seed(5)
    flow = flows.CouplingFlow(2)
    before = {k: v.clone() for k, v in flow.state_dict().items()}
    packed = flows.PackedFlow(flow)
    packed.push()
    assert all(torch.equal(before[k], v) for k, v in flow.state_dict().items())
    changed = packed.flat + 0.01 * torch.arange(len(packed.flat), dtype=packed.flat.dtype)
    packed.flat.copy_(changed)
    packed.push()  # the module now holds the perturbed values ...
    assert not torch.equal(flow.layers[0].s_func[0].weight, before["layers.0.s_func.0.weight"])
    torch.testing.assert_close(flows.PackedFlow(flow).flat, changed)  # ... and packing it again gives them back


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_trainer_matches_a_plain_autograd_adam_loop(engine):
    x = data.toy_2d("GaussiansRot", 300, seed=0)
    torch.manual_seed(8)
    fast, res = flows.train_flow(flows.CouplingFlow(2), x, epochs=3, progress=False, engine=engine)
    torch.manual_seed(8)
    ref = flows.CouplingFlow(2)
    tr, va = flows.split_indices(len(x))
    opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    for _ in range(3):
        for xb in torch.split(x[tr], 64):
            loss = -ref.log_probability(xb).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for (name, p), q in zip(ref.named_parameters(), fast.parameters()):
        assert torch.allclose(p, q, atol=1e-5), name
    assert res.steps == 3 * 5 and res.kept == "final"  # 30 validation points < 500: final weights
    with torch.no_grad():
        assert abs(res.final_valid - float(-ref.log_probability(x[va]).mean())) < 1e-4


def test_split_is_random_splits():
    torch.manual_seed(8)
    tr, va = flows.split_indices(1500)
    torch.manual_seed(8)
    a, b = torch.utils.data.random_split(range(1500), [1350, 150])
    assert tr.tolist() == list(a.indices) and va.tolist() == list(b.indices)


def test_trained_density_integrates_to_one():
    torch.manual_seed(8)
    x = data.toy_2d("Moons", 1500, seed=0)
    flow, res = flows.train_flow(flows.CouplingFlow(4), x, epochs=40, progress=False)
    assert res.final_valid < 1.6  # it learned something (a standard normal fit gives about 2.2)
    xs, ys = np.linspace(-5, 6, 441), np.linspace(-5, 5.5, 421)
    Y, X = np.meshgrid(ys, xs, indexing="ij")
    pts = torch.tensor(np.stack([X.ravel(), Y.ravel()], 1), dtype=torch.float32)
    mass = float(flows.density_on_grid(flow, pts).sum()) * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert abs(mass - 1) < 0.02, mass


def test_bad_inputs():
    with pytest.raises(ValueError, match="mask"):
        flows.CouplingLayer(torch.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match="num_layers"):
        flows.CouplingFlow(0)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        flows.CouplingFlow(2).log_probability(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least 2"):
        flows.train_flow(flows.CouplingFlow(2), torch.zeros(1, 2), epochs=1, progress=False)


def test_snapshot_is_the_shorter_run():
    x = data.toy_2d("Moons", 300, seed=0)
    torch.manual_seed(8)
    long, res = flows.train_flow(flows.CouplingFlow(2), x, epochs=4, progress=False, snapshots=(2,))
    torch.manual_seed(8)
    short, res2 = flows.train_flow(flows.CouplingFlow(2), x, epochs=2, progress=False)
    snap = flows.from_snapshot(long, res.snapshots[2])
    assert all(torch.equal(p, q) for p, q in zip(short.parameters(), snap.parameters()))
    assert res.snapshots[2][1] == res2.final_valid


def test_nll_gap_summary_against_a_hand_computation():
    log_p = torch.tensor([-1.0, -2.0, -3.0, -1.5, -2.5, -1.0, -2.0, -3.0, -4.0, -1.0])
    gaps = [0.1, 0.3, 0.2, 0.5, 0.0, 0.4, 0.25, 0.15, 50.0, -0.1]  # one outlier, one negative gap
    log_q = log_p - torch.tensor(gaps)
    g = flows.nll_gap_summary(log_q, log_p, trim=0.1)  # drop 1 of 10 at each end
    assert g.mean == pytest.approx(sum(gaps) / 10, abs=1e-6)
    assert g.median == pytest.approx((0.2 + 0.25) / 2, abs=1e-6)  # sorted: 5th and 6th values
    assert g.trimmed == pytest.approx((0.0 + 0.1 + 0.15 + 0.2 + 0.25 + 0.3 + 0.4 + 0.5) / 8, abs=1e-6)
    assert g.max == pytest.approx(50.0, abs=1e-5) and g.trim == 0.1
    # a nan log q (an overflowed inverse) is a point of zero model density: an infinite gap
    log_q[3] = float("nan")
    g = flows.nll_gap_summary(log_q, log_p, trim=0.1)
    assert math.isinf(g.mean) and math.isinf(g.max) and math.isfinite(g.median) and math.isfinite(g.trimmed)
    with pytest.raises(ValueError, match="one length"):
        flows.nll_gap_summary(log_q[:5], log_p)
    with pytest.raises(ValueError, match="trim"):
        flows.nll_gap_summary(log_q, log_p, trim=0.5)


class _GaussianModel:
    """A Gaussian q with the flows' sampling interface: samples and their log q."""

    def __init__(self, mean, cov):
        self.q = distributions.Gaussian(torch.tensor(mean, dtype=torch.float64), torch.tensor(cov, dtype=torch.float64))

    def sample_x(self, n, generator=None):
        x = self.q.sample(n, generator=generator)
        return x, self.q.log_prob(x)


def _kl_gaussians(m1, S1, m2, S2):
    """KL(N(m1, S1) || N(m2, S2)) in closed form."""
    m1, S1, m2, S2 = (np.asarray(v, dtype=float) for v in (m1, S1, m2, S2))
    P2 = np.linalg.inv(S2)
    d = m2 - m1
    return 0.5 * (np.trace(P2 @ S1) + d @ P2 @ d - len(m1) + np.log(np.linalg.det(S2) / np.linalg.det(S1)))


def test_reverse_kl_of_two_gaussians_matches_the_closed_form():
    m1, S1 = [0.5, -1.0], [[1.0, 0.3], [0.3, 0.5]]
    m2, S2 = [0.0, 0.0], [[2.0, -0.4], [-0.4, 1.0]]
    p = distributions.Gaussian(torch.tensor(m2, dtype=torch.float64), torch.tensor(S2, dtype=torch.float64))
    kl, se = flows.reverse_kl(_GaussianModel(m1, S1), p.log_prob, n=20_000, generator=utils.generator(0))
    exact = _kl_gaussians(m1, S1, m2, S2)
    assert 0 < se < 0.02 and abs(kl - exact) < 4 * se, (kl, se, exact)
    # q = p: every sample's log q - log p is 0
    assert flows.reverse_kl(_GaussianModel(m2, S2), p.log_prob, n=100, generator=utils.generator(1)) == (0.0, 0.0)


def test_reverse_kl_of_an_identity_flow():
    torch.manual_seed(6)
    flow = flows.CouplingFlow(2)
    with torch.no_grad():  # t = 0 and scale_factor = 0: every layer is the identity, q = N(0, I)
        for layer in flow.layers:
            layer.t_func[-1].weight.zero_()
            layer.t_func[-1].bias.zero_()
    mu, s2 = np.array([1.0, -0.5]), 2.0
    p = distributions.Gaussian(torch.tensor(mu), s2 * torch.eye(2, dtype=torch.float64))
    kl, se = flows.reverse_kl(flow, p.log_prob, n=20_000, generator=utils.generator(2))
    exact = _kl_gaussians([0, 0], np.eye(2), mu, s2 * np.eye(2))
    assert abs(kl - exact) < 4 * se, (kl, se, exact)


def test_comparison_figures_share_one_colour_scale():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.manual_seed(7)
    models = {"K = 2": flows.CouplingFlow(2), "K = 4": flows.CouplingFlow(4)}
    with torch.no_grad():
        for m in models.values():
            for layer in m.layers:
                layer.scale_factor.normal_(0, 0.5)
    x = data.toy_2d("Moons", 200, seed=0)
    fig = flows.show_flows(models, x, n_samples=100, grid_n=30)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2 and images[0].get_clim() == images[1].get_clim()
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title().startswith(("z ~", "after layer"))]
    assert len(panels) == 3 + 5  # K + 1 sample panels per row
    assert len({(ax.get_xlim(), ax.get_ylim()) for ax in panels}) == 1  # one extent for all of them
    fig2 = flows.show_densities(models, [x, x + 1], ncols=2, grid_n=30)
    ims = [ax.images[0] for ax in fig2.axes if ax.images]
    assert len(ims) == 2 and ims[0].get_clim() == ims[1].get_clim()
    assert ims[0].get_extent() == ims[1].get_extent()
    plt.close("all")
