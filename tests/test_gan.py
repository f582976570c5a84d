"""GAN / WGAN / WGAN-GP (helpers.gan): the Hoda split, network shapes and ranges, weight clipping,
the gradient penalty against its formula, and the Frechet distance against closed forms."""
import json

import numpy as np
import pytest
import scipy.linalg
import torch

from helpers import data, gan, utils


# ----------------------------------------------------------------------------- split
def test_split_sizes_and_disjoint():
    n = 42352  # the Hoda digits, both CDB files
    tr, va, te = data.split(n, (0.85, 0.10, 0.05), seed=0)
    assert (len(tr), len(va), len(te)) == (round(0.85 * n), round(0.10 * n), n - round(0.85 * n) - round(0.10 * n))
    allidx = torch.cat([tr, va, te])
    assert len(allidx) == n and len(torch.unique(allidx)) == n  # disjoint and covering
    assert set(tr.tolist()).isdisjoint(te.tolist()) and set(va.tolist()).isdisjoint(te.tolist())
    again = data.split(n, (0.85, 0.10, 0.05), seed=0)
    assert all(torch.equal(a, b) for a, b in zip((tr, va, te), again))  # reproducible
    other = data.split(n, (0.85, 0.10, 0.05), seed=1)
    assert not torch.equal(tr, other[0])  # the seed matters


# ----------------------------------------------------------------------------- networks
def test_generator_shape_and_range():
    torch.manual_seed(0)
    G = gan.init_weights(gan.Generator(z_dim=16, hidden=(8,)))
    x = G(torch.randn(5, 16) * 10)  # large noise: the sigmoid must still keep [0, 1]
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= 0 and x.max() <= 1
    s = G.sample(7, generator=torch.Generator().manual_seed(0))
    assert s.shape == (7, 1, 28, 28) and G.training  # sample() restores the mode
    b = gan.binarize(s)
    assert set(torch.unique(b).tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="noise"):
        G(torch.randn(5, 15))


def test_critic_and_discriminator_outputs():
    torch.manual_seed(0)
    C, D = gan.Critic((8,)), gan.Discriminator((8,))
    x = torch.rand(6, 1, 28, 28)
    f = C(x)
    assert f.shape == (6,)
    p = D(x)
    assert p.shape == (6,) and (p > 0).all() and (p < 1).all()
    torch.testing.assert_close(p, torch.sigmoid(D.logits(x)))
    # a critic's score is unbounded: scaling the last layer scales it
    with torch.no_grad():
        C.net[-1].weight.mul_(1e3)
        C.net[-1].bias.fill_(50.0)
    assert C(x).abs().max() > 1
    with pytest.raises(ValueError, match="28, 28"):
        C(torch.rand(2, 1, 32, 32))


def test_discriminator_loss_matches_bce_on_probabilities():
    torch.manual_seed(0)
    D = gan.Discriminator((8,))
    real, fake = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    want = -(torch.log(D(real)).mean() + torch.log(1 - D(fake)).mean())
    torch.testing.assert_close(gan.discriminator_loss(D, real, fake), want)
    torch.testing.assert_close(gan.generator_loss_nonsaturating(D, fake), -torch.log(D(fake)).mean())


def test_critic_weights_within_clip_after_a_step():
    torch.manual_seed(0)
    x = (torch.rand(64, 1, 28, 28) > 0.8).float()
    G, C = gan.init_weights(gan.Generator(16, (8,))), gan.init_weights(gan.Critic((8,)), std=0.5)
    assert max(p.abs().max() for p in C.parameters()) > 0.01  # starts outside the clip
    c = 0.01
    t = gan.GANTrainer("wgan", G, C, x, batch_size=32, n_critic=2, clip=c, lr=0.1)  # clips once already
    t.run(1)
    assert all((p.abs() <= c).all() for p in C.parameters())
    assert any((p.abs() == c).any() for p in C.parameters())  # large steps push some weights to the bound
    assert t.config["optimizer"] == "RMSprop" and len(t.history["w_estimate"]) == 1


def test_clip_weights_rejects_nonpositive():
    with pytest.raises(ValueError, match="positive"):
        gan.clip_weights(gan.Critic((4,)), 0.0)


# ----------------------------------------------------------------------------- gradient penalty
def test_gradient_penalty_linear_critic():
    """f(x) = <w, x> + b has gradient w everywhere: the penalty is (||w|| - 1)^2 for any interpolate."""
    torch.manual_seed(0)
    w = torch.randn(1, 1, 28, 28)
    critic = lambda x: (x * w).flatten(1).sum(1) + 3.0  # noqa: E731
    real, fake = torch.rand(5, 1, 28, 28), torch.rand(5, 1, 28, 28)
    gp = gan.gradient_penalty(critic, real, fake)
    want = (w.norm() - 1) ** 2
    torch.testing.assert_close(gp, want)


def test_gradient_penalty_quadratic_critic_by_hand():
    """f(x) = ||x||^2 / 2 has gradient x: the penalty is mean_i (||eps_i r_i + (1 - eps_i) f_i|| - 1)^2."""
    real = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 0.0]])
    fake = torch.tensor([[2.0, 0.0], [1.0, 0.0], [0.0, 4.0]])
    eps = torch.tensor([0.5, 0.25, 1.0])
    critic = lambda x: 0.5 * (x ** 2).sum(1)  # noqa: E731
    # by hand: x_hat = (1, 0), (1, 0.5), (3, 0); norms 1, sqrt(1.25), 3
    want = ((1 - 1) ** 2 + (np.sqrt(1.25) - 1) ** 2 + (3 - 1) ** 2) / 3
    gp = gan.gradient_penalty(critic, real, fake, eps=eps)
    assert gp.item() == pytest.approx(want, rel=1e-6)


def test_gradient_penalty_is_differentiable_in_the_critic():
    torch.manual_seed(0)
    C = gan.Critic((4,))
    gp = gan.gradient_penalty(C, torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28))
    gp.backward()
    assert all(p.grad is not None for p in C.parameters() if p.dim() > 1)


# ----------------------------------------------------------------------------- Frechet distance
def test_frechet_identical_sets_is_zero():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2000, 16)) @ rng.normal(size=(16, 16))
    assert gan.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)
    assert gan.frechet_distance(torch.as_tensor(f, dtype=torch.float32), f) < 1e-3


def test_frechet_closed_form_diagonal_gaussians():
    """Commuting (diagonal) covariances: ||mu1 - mu2||^2 + sum_i (s1_i - s2_i)^2 with s the std devs."""
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 0.5, 0.5])
    want = ((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum()
    got = gan.frechet_distance_gaussians(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2))
    assert got == pytest.approx(want, rel=1e-9)


def test_frechet_general_covariances_symmetric_form():
    """Tr (S1 S2)^{1/2} = Tr (S1^{1/2} S2 S1^{1/2})^{1/2}: the second, symmetric form as reference."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    r = np.real(scipy.linalg.sqrtm(s1))
    want = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(r @ s2 @ r)))
    assert gan.frechet_distance_gaussians(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-8)
    assert gan.frechet_distance_gaussians(mu1, s1, mu2, s2) == pytest.approx(
        gan.frechet_distance_gaussians(mu2, s2, mu1, s1), rel=1e-8)  # symmetric


def test_frechet_of_samples_approaches_closed_form():
    rng = np.random.default_rng(2)
    n = 200_000
    mu1, mu2 = np.array([0.0, 0.0]), np.array([1.0, -1.0])
    s1, s2 = np.array([1.0, 2.0]), np.array([2.0, 1.0])
    x1 = mu1 + s1 * rng.normal(size=(n, 2))
    x2 = mu2 + s2 * rng.normal(size=(n, 2))
    want = 2.0 + 1.0 + 1.0  # |mu1 - mu2|^2 + (1 - 2)^2 + (2 - 1)^2
    assert gan.frechet_distance(x1, x2) == pytest.approx(want, abs=0.05)


def test_frechet_rejects_bad_shapes():
    with pytest.raises(ValueError, match="features"):
        gan.frechet_distance(np.zeros(5), np.zeros((5, 2)))


# ----------------------------------------------------------------------------- training loops
@pytest.mark.parametrize("kind", ["gan", "wgan", "wgan-gp"])
def test_training_loops_run_and_log(kind):
    torch.manual_seed(0)
    x = (torch.rand(96, 1, 28, 28) > 0.8).float()
    G = gan.init_weights(gan.Generator(8, (4,)))
    D = gan.init_weights(gan.Discriminator((4,)) if kind == "gan" else gan.Critic((4,)))
    t = gan.GANTrainer(kind, G, D, x, batch_size=16)
    for _ in range(3):
        t.run(1)
    h = t.history
    assert h["step"] == [1, 2, 3] and len(h["loss_d"]) == len(h["loss_g"]) == 3
    assert all(np.isfinite(h[k]).all() for k in ("loss_d", "loss_g"))
    assert ("w_estimate" in h) == (kind != "gan") and ("d_real" in h) == (kind == "gan")
    assert ("gp" in h) == (kind == "wgan-gp")
    if kind == "wgan-gp":
        assert t.config["betas"] == [0.5, 0.9] and t.config["gp_weight"] == 10.0


def test_training_is_reproducible():
    x = (torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    out = []
    for _ in range(2):
        torch.manual_seed(0)
        G, C = gan.init_weights(gan.Generator(8, (4,))), gan.init_weights(gan.Critic((4,)))
        gan.GANTrainer("wgan-gp", G, C, x, batch_size=8, seed=3).run(2)
        out.append(G.sample(4, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(out[0], out[1])


def test_trainer_rejects_bad_input():
    G, C = gan.Generator(8, (4,)), gan.Critic((4,))
    with pytest.raises(ValueError, match="kind must be 'gan', 'wgan' or 'wgan-gp'"):
        gan.GANTrainer("vae", G, C, torch.zeros(64, 1, 28, 28))
    with pytest.raises(ValueError, match=r"training images must be \(N, 1, 28, 28\)"):
        gan.GANTrainer("wgan", G, C, torch.zeros(64, 28, 28))
    with pytest.raises(TypeError, match="needs a Discriminator"):
        gan.GANTrainer("gan", G, C, torch.zeros(64, 1, 28, 28), batch_size=8)


def test_coverage_scores():
    probs = torch.eye(10).repeat(5, 1)  # perfectly confident, all classes equally often
    s = gan.coverage_scores(probs)
    assert s["class_entropy"] == pytest.approx(np.log(10))
    assert s["kl_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert s["confidence"] == pytest.approx(1.0)
    assert s["inception_score"] == pytest.approx(10.0, rel=1e-6)
    one = gan.coverage_scores(torch.eye(10)[[3] * 20])  # mode collapse onto one class
    assert one["class_entropy"] == pytest.approx(0.0) and one["max_class"] == 1.0
    assert one["inception_score"] == pytest.approx(1.0, rel=1e-6)


# ----------------------------------------------------------------------------- DCGAN-style networks
def test_dcgan_generator_shape_range_and_sampling():
    G = gan.init_weights(gan.DCGANGenerator(z_dim=16, width=8))
    x = G(torch.randn(5, 16, generator=torch.Generator().manual_seed(0)) * 10)
    assert x.shape == (5, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    a, b = G.sample(6, generator=gan.utils.generator(1)), G.sample(6, generator=gan.utils.generator(1))
    assert a.shape == (6, 1, 28, 28) and torch.equal(a, b) and G.training
    with pytest.raises(ValueError, match="noise"):
        G(torch.randn(5, 15))


@pytest.mark.parametrize("norm", gan.NORMS)
def test_dcgan_critic_and_discriminator_shapes(norm):
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    C = gan.init_weights(gan.DCGANCritic(width=8, norm=norm))
    D = gan.init_weights(gan.DCGANDiscriminator(width=8, norm=norm))
    assert C(x).shape == (4,) and D(x).shape == (4,) and D.logits(x).shape == (4,)
    assert ((D(x) > 0) & (D(x) < 1)).all()
    torch.testing.assert_close(D(x), torch.sigmoid(D.logits(x)))
    with pytest.raises(ValueError, match="28, 28"):
        C(torch.rand(2, 1, 32, 32))


def test_dcgan_sizes_are_the_usual_architecture():
    """Generator z -> 128x7x7 -> 64x14x14 -> 1x28x28; critic three 5x5 stride-2 convolutions 28 -> 14 -> 7 -> 4."""
    G = gan.DCGANGenerator(z_dim=100, width=64)
    shapes = []
    h = G.net[0](torch.zeros(2, 100))
    for m in G.net[1:]:
        h = m(h) if not isinstance(m, torch.nn.BatchNorm1d) else h
        if isinstance(m, (torch.nn.Unflatten, torch.nn.ConvTranspose2d)):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(128, 7, 7), (64, 14, 14), (1, 28, 28)]
    C = gan.DCGANCritic(width=64, norm="batch")
    h, shapes = torch.zeros(2, 1, 28, 28), []
    for m in C.net:
        h = m(h)
        if isinstance(m, torch.nn.Conv2d):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(64, 14, 14), (128, 7, 7), (256, 4, 4)]
    # by hand: conv 1*64*25 + 64, 64*128*25, 128*256*25 (no bias before a norm), norms 2 * (128 + 256), linear 4096 + 1
    want = 1 * 64 * 25 + 64 + 64 * 128 * 25 + 128 * 256 * 25 + 2 * (128 + 256) + 256 * 16 + 1
    assert sum(p.numel() for p in C.parameters()) == want == 1_030_529  # the WGAN-GP authors' MNIST critic: ~1M
    assert sum(p.numel() for p in G.parameters()) == 100 * 6272 + 2 * 6272 + 128 * 64 * 16 + 2 * 64 + 64 * 16 + 1


def test_dcgan_critic_rejects_unknown_norm():
    with pytest.raises(ValueError, match="norm"):
        gan.DCGANCritic(norm="instance")


def test_layer_norm_critic_scores_each_image_alone_batch_norm_does_not():
    """WGAN-GP's per-sample gradients need f(x_i) to depend on x_i only: true for 'layer', false for 'batch'."""
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for norm, alone in (("layer", True), ("none", True), ("batch", False)):
        C = gan.init_weights(gan.DCGANCritic(width=8, norm=norm)).train()
        together, single = C(x)[:2], torch.cat([C(x[:1]), C(x[1:2])]) if norm != "batch" else C(x[:2])
        assert torch.allclose(together, single, atol=1e-6) == alone, norm
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in gan.DCGANCritic(norm="layer").modules())


def test_dcgan_initialisation_statistics():
    """init_weights: conv / linear weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0; PyTorch's default is not."""
    G = gan.DCGANGenerator(z_dim=64, width=32)
    lin = G.net[0].weight  # 64 x 3136 = 200,704 entries: the sample std is within 1% of 0.02
    assert abs(lin.std().item() - 0.02) > 0.005  # the default (uniform, 1/sqrt(fan_in)) is far from it
    torch.manual_seed(0)
    gan.init_weights(G)
    for m in G.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.ConvTranspose2d)) and m.weight.numel() > 1000:
            w = m.weight.detach()
            n = w.numel()
            assert abs(w.mean().item()) < 4 * 0.02 / np.sqrt(n)
            assert w.std().item() == pytest.approx(0.02, rel=4 / np.sqrt(2 * n))
        if isinstance(m, torch.nn.BatchNorm1d):
            assert m.weight.mean().item() == pytest.approx(1.0, abs=4 * 0.02 / np.sqrt(m.weight.numel()))
            assert m.weight.std().item() == pytest.approx(0.02, rel=0.05)
        if getattr(m, "bias", None) is not None:
            assert (m.bias == 0).all()
    C = gan.init_weights(gan.DCGANCritic(width=32, norm="layer"))
    assert C.net[3].weight.std().item() == pytest.approx(0.02, rel=0.2)  # GroupNorm scales ~ N(1, 0.02)


# ----------------------------------------------------------------------------- the binary-pixel cue
def test_instance_noise_statistics_and_identity():
    x = (torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    assert gan.instance_noise(x, 0.0) is x
    y = gan.instance_noise(x, 0.1, gan.utils.generator(3))
    e = (y - x).flatten()  # 156,800 draws: mean within 4 standard errors of 0, std within 1%
    assert abs(e.mean().item()) < 4 * 0.1 / np.sqrt(len(e)) and e.std().item() == pytest.approx(0.1, rel=0.01)
    assert torch.equal(y, gan.instance_noise(x, 0.1, gan.utils.generator(3)))  # seeded
    assert ((y == 0) | (y == 1)).float().mean() == 0  # no pixel keeps an exact binary value: the cue is gone
    with pytest.raises(ValueError, match=">= 0"):
        gan.instance_noise(x, -0.1)


class _SpyDiscriminator(gan.DCGANDiscriminator):
    """Records every input the discriminator scores."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.seen = []

    def score(self, x):
        self.seen.append(x.detach().clone())
        return super().score(x)


@pytest.mark.parametrize("noise_std", [0.0, 0.2])
def test_gan_discriminator_sees_noisy_real_and_fake_inputs(noise_std):
    x = (torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    G, D = gan.init_weights(gan.DCGANGenerator(8, 4)), _SpyDiscriminator(width=4)
    t = gan.GANTrainer("gan", G, D, x, batch_size=16, noise_std=noise_std)
    t.run_epoch()
    real_in, fake_in, gen_in = D.seen[0], D.seen[1], D.seen[2]  # critic step (real, fake), generator step
    binary = lambda v: ((v == 0) | (v == 1)).float().mean().item()  # noqa: E731
    if noise_std == 0:
        assert binary(real_in) == 1.0 and binary(fake_in) == 0.0
        assert t.config["noise_std"] == 0.0
    else:
        assert binary(real_in) == 0.0
        assert (real_in - real_in.clamp(0, 1).round()).abs().max() > 0.3  # far from 0/1, not a rounding error
        assert (gen_in.min() < 0) and (fake_in.max() > 1)  # noise spills out of [0, 1] for the fakes too
    assert len(D.seen) == 2 * 3  # 2 generator steps, each scoring (real, fake) then the generator fake


# ----------------------------------------------------------------------------- gradient penalty (autograd)
def test_gradient_penalty_matches_per_sample_autograd_on_a_dcgan_critic():
    g = torch.Generator().manual_seed(0)
    C = gan.init_weights(gan.DCGANCritic(width=4, norm="layer"), std=0.3)
    real, fake = torch.rand(5, 1, 28, 28, generator=g), torch.rand(5, 1, 28, 28, generator=g)
    eps = torch.rand(5, generator=g)
    want = []
    for i in range(5):  # one image at a time: the gradient of its own score
        xi = (eps[i] * real[i:i + 1] + (1 - eps[i]) * fake[i:i + 1]).requires_grad_(True)
        (gi,) = torch.autograd.grad(C(xi).sum(), xi)
        want.append((gi.norm() - 1) ** 2)
    torch.testing.assert_close(gan.gradient_penalty(C, real, fake, eps=eps), torch.stack(want).mean())


# ----------------------------------------------------------------------------- epoch trainer
def _tiny(kind, seed=0):
    torch.manual_seed(seed)
    G = gan.init_weights(gan.DCGANGenerator(8, 4))
    norm = {"gan": "batch", "wgan": "batch", "wgan-gp": "layer"}[kind]
    D = gan.init_weights((gan.DCGANDiscriminator if kind == "gan" else gan.DCGANCritic)(width=4, norm=norm))
    return G, D


@pytest.mark.parametrize("kind", gan.KINDS)
def test_trainer_two_step_smoke(kind):
    n_critic = 1 if kind == "gan" else 5
    x = (torch.rand(2 * 8 * n_critic, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    G, D = _tiny(kind)
    before = [p.detach().clone() for p in G.parameters()]
    t = gan.GANTrainer(kind, G, D, x, batch_size=8, seed=1)
    out = t.run_epoch()
    assert out["epoch"] == 1 and out["generator_steps"] == 2 and out["cpu_seconds"] > 0
    assert all(np.isfinite(out[k]) for k in ("loss_d", "loss_g"))
    assert ("w_estimate" in out) == (kind != "gan") and ("gp" in out) == (kind == "wgan-gp")
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
    if kind == "wgan":
        assert all((p.abs() <= 0.01).all() for p in D.parameters())
    assert t.history["epoch"] == [1] and t.config["n_critic"] == n_critic


def test_step_cost_times_the_steps_after_the_warmup():
    x = (torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    G, D = _tiny("gan")
    t = gan.GANTrainer("gan", G, D, x, batch_size=8, seed=1)
    cost = gan.step_cost(t, 3, warmup=2)
    assert t.generator_steps == 5 and len(t.history["step"]) == 2 and t.history["step"][-1] == 5
    assert cost["cpu_ms"] > 0 and cost["wall_ms"] > 0
    assert cost["wall_ms"] == pytest.approx(1000 * t.history["wall_seconds"][-1] / 3)
    with pytest.raises(ValueError, match="steps"):
        gan.step_cost(t, 0)


@pytest.mark.parametrize("kind,noise", [("gan", 0.1), ("wgan", 0.0), ("wgan-gp", 0.0)])
def test_trainer_resumes_exactly(kind, noise, tmp_path):
    x = (torch.rand(80, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    G, D = _tiny(kind)
    straight = gan.GANTrainer(kind, G, D, x, batch_size=8, seed=2, noise_std=noise)
    straight.run_epoch(), straight.run_epoch()
    G1, D1 = _tiny(kind)
    first = gan.GANTrainer(kind, G1, D1, x, batch_size=8, seed=2, noise_std=noise)
    first.run_epoch()
    torch.save(first.state_dict(), tmp_path / "state.pt")
    G2, D2 = _tiny(kind, seed=99)  # different weights: the state must overwrite them all
    resumed = gan.GANTrainer(kind, G2, D2, x, batch_size=8, seed=2, noise_std=noise)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    resumed.run_epoch()
    assert resumed.epoch == 2 and resumed.history["epoch"] == [1, 2]
    for a, b in zip(list(G.state_dict().values()) + list(D.state_dict().values()),
                    list(G2.state_dict().values()) + list(D2.state_dict().values())):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert resumed.history["loss_g"] == straight.history["loss_g"]


@pytest.mark.parametrize("kind", gan.KINDS)
def test_trainer_steps_in_pieces_equal_one_run(kind):
    """run(3) + run(4) = run(7): the position in the data and the RNG carry over (7 x n_critic batches cross
    the end of a pass over the 80 images, so the reshuffle is exercised)."""
    x = (torch.rand(80, 1, 28, 28, generator=torch.Generator().manual_seed(0)) > 0.8).float()
    G1, D1 = _tiny(kind)
    one = gan.GANTrainer(kind, G1, D1, x, batch_size=8, seed=4)
    one.run(7)
    G2, D2 = _tiny(kind)
    pieces = gan.GANTrainer(kind, G2, D2, x, batch_size=8, seed=4)
    pieces.run(3), pieces.run(4)
    assert one.generator_steps == pieces.generator_steps == 7 and pieces.history["step"] == [3, 7]
    for a, b in zip(G1.state_dict().values(), G2.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    G3, D3 = _tiny(kind)
    other = gan.GANTrainer(kind, G3, D3, x, batch_size=8, seed=5)
    other.run(7)
    assert any(not torch.equal(a, b) for a, b in zip(G1.state_dict().values(), G3.state_dict().values()))


def test_trainer_rejects_a_state_with_another_config():
    x = torch.zeros(80, 1, 28, 28)
    G, D = _tiny("wgan-gp")
    state = gan.GANTrainer("wgan-gp", G, D, x, batch_size=8, seed=2).state_dict()
    with pytest.raises(ValueError, match="different config"):
        gan.GANTrainer("wgan-gp", G, D, x, batch_size=8, seed=3).load_state_dict(state)
    with pytest.raises(ValueError, match="batch_size"):
        gan.GANTrainer("wgan-gp", G, D, torch.zeros(16, 1, 28, 28), batch_size=8)  # fewer than n_critic batches


# ----------------------------------------------------------------------------- Hoda preprocessing
def test_hoda_preprocessing_keeps_small_digits_small(data_root):
    images, labels = data.read_cdb(data_root / "hoda" / "Test 20000.cdb")
    images, labels = images[::10], labels[::10]  # the file is sorted by label
    x = data.hoda_to_28(images)
    small = [i for i, im in enumerate(images) if max(im.shape) <= 20]
    assert len(small) > 50
    for i in small:  # never enlarged: the digit is copied pixel for pixel
        assert x[i].sum().item() == (images[i] > 0).sum()
    rows = lambda im: (im[0].sum(1) > 0).nonzero()  # noqa: E731
    height = torch.tensor([(r.max() - r.min() + 1).item() for r in map(rows, x)]).float()
    y = torch.as_tensor(labels)
    assert height[y == 0].median() < 0.7 * height[y != 0].median()  # a Persian 0 stays small (was 1.0: 22 vs 22)
    assert height.max() <= 20
    ys = torch.arange(28.0)
    ink = x[:, 0]
    cy = (ink.sum(2) * ys).sum(1) / ink.sum((1, 2))
    cx = (ink.sum(1) * ys).sum(1) / ink.sum((1, 2))
    assert ((cy - 13.5).abs().median() < 0.5) and ((cx - 13.5).abs().median() < 0.5)  # centred by mass


def test_hoda_preprocessing_enlarge_fills_the_box(data_root):
    images, _ = data.read_cdb(data_root / "hoda" / "Test 20000.cdb")
    zeros = images[:50]  # the file is sorted by label: these are 0s, small dots in the scans
    rows = lambda im: (im[0].sum(1) > 0).nonzero()  # noqa: E731
    kept = [(r.max() - r.min() + 1).item() for r in map(rows, data.hoda_to_28(zeros))]
    blown = [(r.max() - r.min() + 1).item() for r in map(rows, data.hoda_to_28(zeros, enlarge=True))]
    assert np.median(kept) < 16 and np.median(blown) >= 19


def test_hoda_recipes_follow_the_papers():
    x = torch.zeros(64 * 5, 1, 28, 28)
    t = {name: gan.make_hoda_trainer(name, x, seed=0, width=4, critic_width=4) for name in gan.HODA_RECIPES}
    assert isinstance(t["gan"].opt_d, torch.optim.Adam) and t["gan"].opt_d.defaults["betas"] == (0.5, 0.999)
    assert t["gan"].opt_d.defaults["lr"] == 2e-4 and t["gan-noise"].config["noise_std"] == 0.1
    assert isinstance(t["wgan"].opt_d, torch.optim.RMSprop) and t["wgan"].opt_d.defaults["lr"] == 5e-5
    assert t["wgan"].config["clip"] == 0.01 and t["wgan"].config["n_critic"] == 5
    assert all((p.abs() <= 0.01).all() for p in t["wgan"].D.parameters())  # clipped from the start
    assert t["wgan-gp"].opt_d.defaults["betas"] == (0.5, 0.9) and t["wgan-gp"].config["gp_weight"] == 10.0
    assert t["wgan-gp"].D.norm == "layer" and isinstance(t["gan"].D, gan.DCGANDiscriminator)
    assert t["wgan"].D.norm == "none"  # no norm layer escapes the clip: it bounds every layer
    again = gan.make_hoda_trainer("wgan-gp", x, seed=0, width=4, critic_width=4)
    assert all(torch.equal(a, b) for a, b in zip(again.G.parameters(), t["wgan-gp"].G.parameters()))
    with pytest.raises(ValueError, match="unknown model"):
        gan.make_hoda_trainer("vae", x)


# ----------------------------------------------------------------------------- the training script
def test_training_script_records_resumes_and_publishes(tmp_path, monkeypatch, load_script):
    """Runs of the script on tiny random data (2 generator steps scored after each, then --resume to 3, then
    --publish): the state, the record with its curves and final metrics, and the copy into checkpoints/."""
    from helpers import checkpoints, classifier, referee

    monkeypatch.setenv("GENMODELS_ROOT", str(tmp_path))
    script = load_script("train_hoda_gans")
    g = torch.Generator().manual_seed(0)
    split = lambda n: ((torch.rand(n, 1, 28, 28, generator=g) > 0.8).float(), torch.arange(n) % 10)  # noqa: E731
    splits = {"train": split(64 * 5 * 2), "val": split(100), "test": split(100)}
    monkeypatch.setattr(script, "load_splits", lambda: splits)
    monkeypatch.setattr(script, "load_classifier", lambda: classifier.SmallCNN(width=4).eval())
    monkeypatch.setattr(script, "load_referee", lambda: referee.LeNet5(11).eval())
    for k, v in (("N_EVAL", 100), ("N_MONITOR", 100), ("N_C2ST", 50), ("C2ST_STEPS", 4)):
        monkeypatch.setattr(script, k, v)
    args = ["--models", "wgan", "--seed", "3", "--eval-every", "1", "--steps"]
    script.main(args + ["2"])
    work = tmp_path / "runs" / "hoda_gans"
    rec = checkpoints.load_record(work / "hoda_wgan_seed3_G.pt")
    assert rec["generator_steps"] == 2 and rec["complete"] and rec["metrics"]["critic"]["weights_at_clip"] > 0
    assert rec["seed"] == 3 and len(rec["history"]["fd_val"]) == 2 and rec["history"]["step"] == [1, 2]
    assert len(rec["history"]["digit_share_val"]) == 2 and rec["cpu_seconds"] > 0
    m = rec["metrics"]
    assert m["c2st_n"] == 100 and 0 <= m["c2st_accuracy"] <= 1 and {"fd", "fd_referee", "digit_share"} <= set(m)
    assert not (tmp_path / "checkpoints" / "hoda_wgan_seed3_G.pt").exists()  # nothing shipped before --publish
    with pytest.raises(FileExistsError, match="--resume"):
        script.main(args + ["3"])
    script.main(args + ["3", "--resume"])
    rec = checkpoints.load_record(work / "hoda_wgan_seed3_G.pt")
    assert rec["generator_steps"] == 3 and rec["history"]["step"] == [1, 2, 3] and len(rec["commands"]) == 2
    assert "--resume" in rec["command"] and (tmp_path / rec["state_file"]).exists()
    assert len(list((work / "snapshots").glob("hoda_wgan_seed3_G_step*.pt"))) == 3
    script.main(["--models", "gan", "--seed", "3", "--steps", "2", "--eval-every", "1", "--max-minutes", "0"])
    assert checkpoints.load_record(work / "hoda_gan_seed3_G.pt")["generator_steps"] == 1  # stopped after one round
    script.main(["--publish"])  # the WGAN is finished (3 of 3), the GAN is not (1 of 2)
    assert checkpoints.load_record("hoda_wgan_seed3_G.pt")["generator_steps"] == 3
    assert "are in runs/hoda_gans/" in checkpoints.load_record("hoda_wgan_seed3_G.pt")["stored"]  # no state_commit
    shipped, trained = checkpoints.load_state_dict("hoda_wgan_seed3_G.pt"), checkpoints.load_state_dict(work / "hoda_wgan_seed3_G.pt")
    assert all(v.dtype == (torch.float16 if trained[k].is_floating_point() else trained[k].dtype) for k, v in shipped.items())
    assert max((shipped[k].float() - v).abs().max().item() for k, v in trained.items() if v.is_floating_point()) < 1e-3
    G = checkpoints.load_into(gan.DCGANGenerator(script.Z_DIM, script.WIDTH), "hoda_wgan_seed3_G.pt")
    assert next(G.parameters()).dtype == torch.float32  # loaded into a float32 model as usual
    assert not (tmp_path / "checkpoints" / "hoda_gan_seed3_G.pt").exists()
    script.main(["--models", "wgan", "--seed", "3", "--rescore"])  # scores along training, from the snapshots
    h = checkpoints.load_record(work / "hoda_wgan_seed3_G.pt")["history"]
    assert all(len(h[k]) == 3 and None not in h[k] for k in script.MONITOR_KEYS)
    late = {"step": [1, 2, 3]}
    script.append_aligned(late, "fd_referee_val", 5.0)  # a score first computed at the third turn
    assert late["fd_referee_val"] == [None, None, 5.0]
    script.main(["--models", "gan", "--seed", "3", "--steps", "1", "--eval-every", "1", "--widths", "8", "4"])
    other = tmp_path / "runs" / "hoda_gans_g8_d4"  # other widths: a run directory of their own
    rec = checkpoints.load_record(other / "hoda_gan_seed3_G.pt")
    assert "width=8" in rec["model"] and "(width=4," in rec["critic"] and rec["generator_steps"] == 1
    checkpoints.load_into(gan.DCGANGenerator(script.Z_DIM, 8), other / "hoda_gan_seed3_G.pt")
    assert checkpoints.load_record(work / "hoda_gan_seed3_G.pt")["generator_steps"] == 1  # the default run untouched
    with pytest.raises(SystemExit):
        script.main(["--publish", "--widths", "8", "4"])  # only notebook 09's widths are shipped
    park = ["--models", "gan", "--seed", "3", "--widths", "8", "4", "--park-as", "w8_1"]
    script.main(park)  # copies for scripts/park_state.py, the record naming the copies
    parked = tmp_path / "checkpoints" / "training_state"
    rec = checkpoints.load_record(parked / "hoda_gan_seed3_w8_1_G.pt")
    assert rec["state_file"] == "checkpoints/training_state/hoda_gan_seed3_w8_1_state.pt" and "width=8" in rec["model"]
    assert checkpoints.sha256sum(parked / "hoda_gan_seed3_w8_1_G.pt") == rec["sha256"]
    assert (parked / "hoda_gan_seed3_w8_1_state.pt").read_bytes() == (other / "state" / "hoda_gan_seed3_state.pt").read_bytes()
    with pytest.raises(FileExistsError, match="another --park-as"):
        script.main(park)
    with pytest.raises(FileNotFoundError, match="no such run"):
        script.main(["--models", "wgan-gp", "--seed", "3", "--park-as", "x"])
    # --device auto trains on CUDA where there is one (the GPU check runs this test there), else on the CPU
    script.main(["--models", "wgan", "--seed", "4", "--steps", "1", "--eval-every", "1", "--device", "auto"])
    rec = checkpoints.load_record(work / "hoda_wgan_seed4_G.pt")
    assert rec["device"] == str(utils.get_device()) and rec["metrics"]["critic"]["weights_at_clip"] > 0
    assert checkpoints.load_record(work / "hoda_wgan_seed3_G.pt")["device"] == "cpu"  # the default
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            script.main(["--models", "wgan", "--seed", "4", "--steps", "2", "--resume", "--device", "cuda"])


def test_ema_pilot_leaves_training_unchanged_and_scores_both(tmp_path, monkeypatch, load_script):
    """scripts/pilot_gan_ema.py on tiny random data: continuing a parked GAN state with an EMA copy of G gives the
    same raw G as a plain --resume (the average never feeds back), and the record holds raw and EMA scores; a record
    of another seed or a decay outside (0, 1) is refused."""
    from helpers import checkpoints, classifier, referee

    monkeypatch.setenv("GENMODELS_ROOT", str(tmp_path))
    pilot = load_script("pilot_gan_ema")
    T = pilot.T
    g = torch.Generator().manual_seed(0)
    split = lambda n: ((torch.rand(n, 1, 28, 28, generator=g) > 0.8).float(), torch.arange(n) % 10)  # noqa: E731
    splits = {"train": split(64 * 4), "val": split(100), "test": split(100)}
    monkeypatch.setattr(T, "load_splits", lambda: splits)
    monkeypatch.setattr(T, "load_classifier", lambda: classifier.SmallCNN(width=4).eval())
    monkeypatch.setattr(T, "load_referee", lambda: referee.LeNet5(11).eval())
    for k, v in (("N_EVAL", 100), ("N_MONITOR", 100), ("N_C2ST", 50), ("C2ST_STEPS", 4)):
        monkeypatch.setattr(T, k, v)
    T.main(["--models", "gan", "--seed", "2", "--steps", "1", "--eval-every", "1"])
    work = tmp_path / "runs" / "hoda_gans"
    state = work / "state" / "hoda_gan_seed2_state.pt"
    start = tmp_path / "runs" / "ema_pilot" / state.name
    start.parent.mkdir(parents=True)
    start.write_bytes(state.read_bytes())
    rec = {"config": {"kind": "gan"}, "seed": 2, "state_file": f"checkpoints/training_state/{state.name}",
           "state_commit": {"commit": "0" * 7, "files": {f"checkpoints/training_state/{state.name}":
                                                          checkpoints.sha256sum(start)}}}
    rec_path = tmp_path / "start.json"
    rec_path.write_text(json.dumps(rec))
    trajectory = []
    run = T.gan.GANTrainer.run
    monkeypatch.setattr(T.gan.GANTrainer, "run", lambda self, n, **kw: (
        run(self, n, **kw), trajectory.append([p.detach().clone() for p in self.G.parameters()]))[0])
    pilot.main(["--seed", "2", "--from-record", str(rec_path), "--steps", "3", "--eval-every", "2", "--decay", "0.5"])
    out = json.loads((tmp_path / "checkpoints" / "training_state" / "hoda_gan_seed2_ema_pilot.json").read_text())
    assert out["start_generator_steps"] == 1 and [e["generator_steps"] for e in out["evaluations"]] == [3, 4]
    assert {"digit_share_val", "fd_referee_val"} <= set(out["evaluations"][0]["ema"]) and out["cpu_seconds"] > 0
    assert set(out["final_test"]) == {"raw", "ema"} and "c2st_accuracy" in out["final_test"]["ema"]
    monkeypatch.setattr(T.gan.GANTrainer, "run", run)
    T.main(["--models", "gan", "--seed", "2", "--steps", "4", "--eval-every", "3", "--resume"])  # plain, no EMA
    plain = checkpoints.load_state_dict(work / "hoda_gan_seed2_G.pt")
    names = [n for n, _ in T.make_trainer("gan", 2, splits["train"][0]).G.named_parameters()]
    assert all(torch.equal(plain[n], p) for n, p in zip(names, trajectory[-1]))  # identical training
    assert out["ema_decay"] == 0.5 and len(trajectory) == 3
    for bad in (["--seed", "3"], ["--seed", "2", "--decay", "1"]):
        with pytest.raises(SystemExit):
            pilot.main(bad + ["--from-record", str(rec_path)])
