"""JEM / JEM++: the energy reading of logits, BatchNorm folding, proximal SGLD, the GMM start, the loss."""
import pytest
import torch
import torch.nn.functional as F

from helpers import jem
from helpers.classifier import SmallCNN


@pytest.fixture(scope="module")
def mnist_small():
    from helpers import data

    x, y = data.mnist(True)  # offline: the 5k subset, sorted by label
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm], y[perm]


def test_energy_is_minus_logsumexp_of_the_logits():
    torch.manual_seed(0)
    m = jem.JEMCNN(10, width=8)
    x = torch.rand(5, 1, 28, 28)
    logits = m(x)
    by_hand = -torch.log(torch.exp(logits.double()).sum(1))
    torch.testing.assert_close(m.energy(x).double(), by_hand, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(jem.energy_fn(m)(x), jem.energy_from_logits(logits))
    # large logits: logsumexp stays finite where the naive formula overflows
    big = torch.tensor([[1000.0, 999.0, -5.0]])
    assert torch.isfinite(jem.energy_from_logits(big)).all()
    torch.testing.assert_close(jem.energy_from_logits(big), -(1000 + torch.log1p(torch.exp(torch.tensor(-1.0))))[None])


def test_class_probabilities_are_unchanged_by_the_energy_reading():
    torch.manual_seed(1)
    logits = torch.randn(7, 10) * 3
    e = jem.energy_from_logits(logits)
    # p(y|x) = p(x, y) / p(x) = exp(f(x)[y]) / exp(-E(x)): Z cancels, and it is the softmax
    p_from_energy = torch.exp(jem.joint_log_prob(logits) + e[:, None])
    torch.testing.assert_close(p_from_energy, F.softmax(logits, 1))
    torch.testing.assert_close(jem.class_probs(logits), F.softmax(logits, 1))
    # shifting all logits changes the energy but not p(y|x)
    torch.testing.assert_close(jem.class_probs(logits + 5.0), jem.class_probs(logits))
    torch.testing.assert_close(jem.energy_from_logits(logits + 5.0), e - 5.0)


def test_folding_batchnorm_keeps_the_pretrained_function():
    torch.manual_seed(2)
    cnn = SmallCNN(10, width=8)
    for m in cnn.modules():  # non-trivial running statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    cnn.eval()
    folded = jem.JEMCNN.from_small_cnn(cnn)
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.Dropout)) for m in folded.modules())
    x = torch.rand(6, 1, 28, 28)
    torch.testing.assert_close(folded(x), cnn(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="28, 28"):
        folded(torch.rand(2, 1, 32, 32))


def test_one_proximal_sgld_step_moves_no_pixel_more_than_its_bound():
    torch.manual_seed(3)
    m = jem.JEMCNN(10, width=8)
    x = torch.rand(16, 1, 28, 28)
    score = jem.sgld_score(m)
    g = torch.Generator().manual_seed(0)
    for bound in (1e-3, 0.01, 0.05):
        # a huge step so that the unbounded move would be far larger than the bound
        x1 = jem.proximal_sgld_step(x, score, step_size=100.0, noise_scale=0.5, bound=bound, generator=g)
        move = (x1 - x).abs()
        assert move.max().item() <= bound + 1e-7
        assert move.max().item() > 0.5 * bound  # the bound is reached, so the test means something
        assert x1.min() >= 0 and x1.max() <= 1
    # without the bound the same step moves pixels much further
    unbounded = jem.sgld(m, x, 1, step_size=100.0, noise_scale=0.5, bound=None, clamp=None)
    assert (unbounded - x).abs().max().item() > 0.2
    with pytest.raises(ValueError, match="positive"):
        jem.proximal_sgld_step(x, score, bound=0.0)
    # a multi-step proximal chain: after n steps no pixel is further than n * bound
    xn = jem.sgld(m, x, 5, step_size=100.0, noise_scale=0.5, bound=0.01)
    assert (xn - x).abs().max().item() <= 5 * 0.01 + 1e-6


def test_plain_sgld_is_the_shared_langevin_with_jem_step_and_noise():
    torch.manual_seed(4)
    m = jem.JEMCNN(10, width=8)
    x = torch.rand(4, 1, 28, 28)
    a = jem.sgld(m, x, 3, generator=torch.Generator().manual_seed(5))
    # by hand: x <- clamp(x + 1 * grad logsumexp f(x) + 0.01 z)
    g = torch.Generator().manual_seed(5)
    b = x.clone()
    for _ in range(3):
        b = b.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(torch.logsumexp(m(b), 1).sum(), b)
        b = (b + 1.0 * grad + 0.01 * torch.randn(b.shape, generator=g)).clamp(0, 1).detach()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cov", ["diag", "full"])
def test_gmm_samples_match_the_per_class_means(mnist_small, cov):
    x, y = mnist_small
    x, y = x[:2000], y[:2000]
    gmm = jem.ClassGaussianMixture(cov, seed=0).fit(x, y)
    flat = x.reshape(len(x), -1)
    class_means = torch.stack([flat[y == c].mean(0) for c in range(10)])
    torch.testing.assert_close(gmm.means, class_means, rtol=0, atol=1e-5)  # the fit: one component per class
    n_per = 400
    labels = torch.arange(10).repeat_interleave(n_per)
    s, sy = gmm.sample(len(labels), y=labels, generator=torch.Generator().manual_seed(1), clamp=None)
    assert s.shape == (len(labels), 1, 28, 28) and torch.equal(sy, labels)
    sflat = s.reshape(len(s), -1)
    for c in range(10):
        sd = flat[y == c].std(0)
        err = (sflat[sy == c].mean(0) - class_means[c]).abs()
        # 5 standard errors per pixel (plus the reg_covar floor), and close on average
        assert (err <= 5 * (sd + 0.04) / n_per ** 0.5).all(), f"class {c}: max error {err.max():.3f}"
        assert err.mean() < 0.01
    # unlabelled draws follow the class frequencies; clamped draws stay in [0, 1]
    s2, sy2 = gmm.sample(3000, generator=torch.Generator().manual_seed(2))
    assert s2.min() >= 0 and s2.max() <= 1
    freq = torch.bincount(sy2, minlength=10).float() / 3000
    assert (freq - gmm.weights.float()).abs().max() < 0.03
    with pytest.raises(RuntimeError, match="before fit"):
        jem.ClassGaussianMixture().sample(2)


def test_replay_buffer_reinitialises_about_five_percent():
    buf = jem.ReplayBuffer(lambda n: torch.full((n, 1, 2, 2), -1.0), size=100, reinit=0.05)
    buf.data.fill_(7.0)
    g = torch.Generator().manual_seed(0)
    x0, idx = buf.starts(20000, g)
    fresh = (x0 == -1.0).all(dim=(1, 2, 3)).float().mean().item()
    assert abs(fresh - 0.05) < 0.01
    buf.update(idx[:3], torch.zeros(3, 1, 2, 2))
    assert (buf.data[idx[:3]] == 0).all()


def test_jem_loss_decreases_on_a_tiny_fixed_batch(mnist_small):
    torch.manual_seed(5)
    x, y = mnist_small[0][:32], mnist_small[1][:32]
    m = jem.JEMCNN(10, width=8)
    x_fake = jem.sgld(m, jem.uniform_noise(32, generator=torch.Generator().manual_seed(0)), 5)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    first, _ = jem.jem_loss(m, x, y, x_fake)
    for _ in range(40):
        loss, stats = jem.jem_loss(m, x, y, x_fake)
        opt.zero_grad()
        loss.backward()
        opt.step()
    last, stats = jem.jem_loss(m, x, y, x_fake)
    assert last.item() < first.item() - 0.5, (first.item(), last.item())
    assert stats["gap"] < 0  # real data now has the lower energy
    # the loss is CE plus the energy gap
    logits = m(x)
    expect = F.cross_entropy(logits, y) + jem.energy_from_logits(logits).mean() - m.energy(x_fake).mean()
    torch.testing.assert_close(last, expect, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("method", ["jem", "jempp"])
def test_one_training_step_of_each_method_runs(mnist_small, method):
    torch.manual_seed(6)
    x, y = mnist_small[0][:16], mnist_small[1][:16]
    m = jem.JEMCNN(10, width=8)
    g = torch.Generator().manual_seed(0)
    if method == "jem":
        sampler = jem.NegativeSampler(jem.SamplerConfig.jem(n_steps=2, buffer_size=50), generator=g)
        before = sampler.buffer.data.clone()
    else:
        gmm = jem.ClassGaussianMixture().fit(mnist_small[0][:500], mnist_small[1][:500])
        sampler = jem.NegativeSampler(jem.SamplerConfig.jempp(n_steps=2), gmm=gmm, generator=g)
        assert sampler.buffer is None
    opt = torch.optim.Adam(m.parameters(), lr=1e-4)
    stats = jem.train_step(m, opt, x, y, sampler)
    assert not jem.diverged(stats) and set(stats) >= {"ce", "acc", "e_real", "e_fake", "gap"}
    if method == "jem":
        assert not torch.equal(before, sampler.buffer.data)  # the chains' end states were written back
    assert jem.diverged({"loss": float("nan")}) and jem.diverged({"loss": 1.0, "gap": 1e6})
    with pytest.raises(ValueError, match="Gaussian mixture"):
        jem.NegativeSampler(jem.SamplerConfig.jempp())


def test_fit_records_curves_and_restores_after_a_divergence(mnist_small):
    torch.manual_seed(7)
    x, y = mnist_small[0][:64], mnist_small[1][:64]
    m = jem.JEMCNN(10, width=4)
    sampler = jem.NegativeSampler(jem.SamplerConfig.jem(n_steps=1, buffer_size=32), generator=torch.Generator().manual_seed(0))
    res = jem.fit(m, x, y, x[:16], y[:16], sampler, iters=2, batch=8, eval_every=1, show_progress=False)
    assert res["iterations"] == 2 and len(res["curves"]) == 2 and not res["divergences"]
    assert {"test_acc", "gap", "ce", "seconds"} <= set(res["curves"][0]) and res["seconds_per_iteration"] > 0
    # every step "diverges" when the allowed gap is tiny: the model is put back each time
    before = {k: v.clone() for k, v in m.state_dict().items()}
    res = jem.fit(m, x, y, x[:16], y[:16], sampler, iters=2, batch=8, max_gap=1e-12, show_progress=False)
    assert len(res["divergences"]) == 2 and not res["curves"]
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k
    # the plain classifier (no sampler) goes through the same loop
    res = jem.fit(m, x, y, x[:16], y[:16], None, iters=1, batch=8, eval_every=1, show_progress=False)
    assert "gap" in res["curves"][0]  # NaN for the plain classifier: no negatives


def test_train_jem_rejects_proximal_with_jempp(load_script, capsys):
    """--proximal is JEM's ablation; with --method jempp it would change nothing, so the script says so and stops."""
    script = load_script("train_jem")
    assert script.parse(["--method", "jem", "--proximal"]).proximal
    with pytest.raises(SystemExit):
        script.parse(["--method", "jempp", "--proximal"])
    assert "JEM++ always takes it" in capsys.readouterr().err
