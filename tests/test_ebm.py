"""Energy-based models on images (helpers.ebm): the homework's Langevin step, the eps schedule, the replay
buffer, the energy networks (scalar output, input gradients, conditional dependence on y), the CD loss and
one CD step, and the out-of-distribution helpers."""
import math

import pytest
import torch
from sklearn.metrics import roc_auc_score

from helpers import ebm


def quadratic(x):
    """E(x) = 0.5 |x|^2 per image, grad E = x."""
    return 0.5 * (x ** 2).flatten(1).sum(1)


def test_one_sgld_step_is_the_homework_formula():
    x0 = torch.randn(5, 1, 4, 4)
    eps = 0.3
    got = ebm.sgld(quadratic, x0, eps, 1, clamp=None, generator=torch.Generator().manual_seed(7))
    eta = torch.randn(x0.shape, generator=torch.Generator().manual_seed(7))
    want = x0 - (eps ** 2 / 2) * x0 + eps * eta  # x - (eps^2/2) grad E(x) + eps eta
    torch.testing.assert_close(got, want)


def test_sgld_step_with_temperature_clip_and_clamp():
    torch.manual_seed(0)
    x0 = torch.rand(3, 1, 4, 4) * 2 - 1
    eps, temp, clip = 0.01, 1e-5, 0.2
    got = ebm.sgld(lambda x: 3.0 * quadratic(x), x0, eps, 1, temperature=temp, grad_clip=clip,
                   generator=torch.Generator().manual_seed(1))
    eta = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    grad = (3.0 * x0).clamp(-clip, clip)
    want = (x0 - eps ** 2 / (2 * temp) * grad + eps * eta).clamp(-1, 1)
    torch.testing.assert_close(got, want)
    assert ebm.temperature_for(10, 0.005) == pytest.approx(1.25e-6)


def test_sgld_follows_the_schedule_step_by_step():
    x0 = torch.randn(2, 3)
    sched = ebm.GeometricSchedule(0.5, 0.05, 3)
    got = ebm.sgld(quadratic, x0, sched, 3, clamp=None, generator=torch.Generator().manual_seed(3))
    g, x = torch.Generator().manual_seed(3), x0.clone()
    for t in range(3):
        e = sched(t)
        x = x - e ** 2 / 2 * x + e * torch.randn(x.shape, generator=g)
    torch.testing.assert_close(got, x)


def test_sgld_samples_a_gaussian():
    """Small eps: many chains of the rule on E = |x|^2 / 2 end near N(0, I) (bias of order eps^2)."""
    x = ebm.sgld(quadratic, torch.zeros(20_000, 2), 0.2, 300, clamp=None, generator=torch.Generator().manual_seed(0))
    assert x.mean(0).abs().max() < 0.05
    assert (x.var(0) - 1).abs().max() < 0.06


def test_schedule_hits_its_ends_and_decays_geometrically():
    s = ebm.GeometricSchedule(0.1, 0.001, 60)
    assert s(0) == pytest.approx(0.1)
    assert s(59) == pytest.approx(0.001)
    vals = [s(t) for t in range(60)]
    ratios = [b / a for a, b in zip(vals, vals[1:])]
    assert all(r == pytest.approx(ratios[0]) for r in ratios) and ratios[0] < 1
    assert s(30) == pytest.approx(0.1 * (0.01) ** (30 / 59))
    assert ebm.GeometricSchedule(0.2, 0.1, 1)(0) == 0.2
    with pytest.raises(ValueError, match="eps_start and eps_end must be positive"):
        ebm.GeometricSchedule(0.0, 0.1, 10)
    cfg = ebm.SamplerConfig(n_steps=10, eps=(0.02, 0.002))
    assert cfg.schedule()(0) == pytest.approx(0.02) and cfg.schedule()(9) == pytest.approx(0.002)


def test_replay_buffer_keeps_its_size_and_mix():
    buf = ebm.ReplayBuffer((1, 8, 8), size=500, fresh=0.05, seed=0)
    marker = 5.0  # buffer entries are in [-1, 1]; pushed ones are marked
    buf.push(torch.full((500, 1, 8, 8), marker))
    assert len(buf) == 500
    for _ in range(3):
        x0, k = buf.sample(200)
        assert x0.shape == (200, 1, 8, 8) and k == 10  # 5% fresh noise, 95% from the buffer
        from_buffer = (x0 == marker).flatten(1).all(1)
        assert from_buffer.sum() == 190 and not from_buffer[:10].any()
        assert x0[:10].abs().max() <= 1
        buf.push(torch.full((200, 1, 8, 8), marker))  # finished chains go back, still marked
        assert len(buf) == 500 and buf.x.shape == (500, 1, 8, 8)
    # FIFO: pushing 700 more keeps the size and the newest entries
    buf.push(torch.full((300, 1, 8, 8), -7.0))
    buf.push(torch.full((300, 1, 8, 8), -8.0))
    assert len(buf) == 500 and (buf.x == -8.0).flatten(1).all(1).sum() == 300
    with pytest.raises(ValueError, match="buffer holds"):
        buf.push(torch.zeros(4, 1, 28, 28))


def test_conditional_replay_buffer_carries_labels():
    buf = ebm.ReplayBuffer((1, 4, 4), size=100, n_classes=10, seed=1)
    buf.push(torch.full((100, 1, 4, 4), 3.0), torch.full((100,), 7))
    x0, y0, k = buf.sample(40)
    assert k == 2 and y0.shape == (40,) and (y0[2:] == 7).all()
    with pytest.raises(ValueError, match="labels"):
        buf.push(torch.zeros(3, 1, 4, 4))


@pytest.mark.parametrize("arch,shape", [("resnet", (3, 32, 32)), ("resnet", (1, 28, 28)), ("cnn", (1, 28, 28))])
def test_energy_network_gives_one_scalar_per_image_with_input_gradients(arch, shape):
    torch.manual_seed(0)
    m = ebm.build(arch, in_channels=shape[0]) if arch == "resnet" else ebm.build(arch)
    x = (torch.rand(4, *shape) * 2 - 1).requires_grad_(True)
    e = m(x)
    assert e.shape == (4,) and torch.isfinite(e).all()
    (g,) = torch.autograd.grad(e.sum(), x)
    assert g.shape == x.shape and g.abs().sum() > 0
    # per-image: the energy of an image does not depend on the others in the batch
    torch.testing.assert_close(m(x[:1]), e[:1])
    # score = -grad E matches autograd
    s = ebm.energy_score(m)(x.detach())
    torch.testing.assert_close(s, -g)


def test_resnet_has_nine_residual_blocks_and_smooth_activations():
    m = ebm.ResNetEnergy(3)
    assert sum(isinstance(b, ebm.ResBlock) for b in m.modules()) == 9
    with pytest.raises(ValueError, match="expects images"):
        m(torch.zeros(2, 1, 32, 32))


def test_cnn_is_the_tutorials_network_by_its_parameter_count():
    # the tutorial's CNNModel(hidden 32): convs 1->16 (5x5), 16->32, 32->64, 64->64 (3x3), linear 256->64->1
    convs = [(1, 16, 5), (16, 32, 3), (32, 64, 3), (64, 64, 3)]
    expected = sum(i * o * k * k + o for i, o, k in convs) + (256 * 64 + 64) + (64 + 1)
    assert expected == 76_993
    assert sum(p.numel() for p in ebm.build("cnn", hidden=32).parameters()) == expected


def test_conditional_energy_depends_on_y():
    torch.manual_seed(0)
    m = ebm.build("cnn", n_classes=10)
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    all_e = m.all_energies(x)
    assert all_e.shape == (6, 10)
    e0, e1 = m(x, torch.zeros(6, dtype=torch.long)), m(x, torch.ones(6, dtype=torch.long))
    assert e0.shape == (6,) and not torch.allclose(e0, e1)
    y = torch.tensor([0, 3, 9, 2, 2, 5])
    torch.testing.assert_close(m(x, y), all_e[torch.arange(6), y])
    torch.testing.assert_close(m(x, 4), all_e[:, 4])
    torch.testing.assert_close(m.marginal(x), -torch.logsumexp(-all_e, 1))
    # the gradient in x depends on y too, so a fixed label steers the sampler
    s0 = ebm.energy_score(ebm.energy_given(m, 0))(x)
    s1 = ebm.energy_score(ebm.energy_given(m, 1))(x)
    assert not torch.allclose(s0, s1)
    with pytest.raises(ValueError, match="labels"):
        m(x, torch.full((6,), 10))


def test_cd_loss_terms():
    er, ef = torch.tensor([0.5, -0.5, 1.0]), torch.tensor([2.0, 0.0])
    out = ebm.cd_loss(er, ef, alpha=0.1)
    assert out["cd"].item() == pytest.approx(er.mean() - ef.mean())
    assert out["reg"].item() == pytest.approx(0.1 * ((er ** 2).mean() + (ef ** 2).mean()))
    assert out["loss"].item() == pytest.approx(out["cd"].item() + out["reg"].item())


@pytest.mark.parametrize("variant", ["noise", "buffer", "decay", "conditional"])
def test_cd_steps_lower_real_energy_relative_to_fake(variant):
    """A few CD steps on one fixed batch widen E(fake) - E(real) on fresh negatives of the same sampler."""
    torch.manual_seed(0)
    conditional = variant == "conditional"
    model = ebm.build("cnn", hidden=16, n_classes=10 if conditional else 0)
    x_real = torch.zeros(32, 1, 28, 28) - 1
    x_real[:, :, 8:20, 12:16] = 1.0  # a fixed batch of bars
    y_real = torch.arange(32) % 10 if conditional else None
    sampler = ebm.SamplerConfig(n_steps=5, eps=(0.01, 0.002) if variant == "decay" else 0.005,
                                temperature=1.25e-6, grad_clip=0.03)
    buffer = ebm.ReplayBuffer((1, 28, 28), 256, n_classes=10 if conditional else 0) if variant in (
        "buffer", "conditional") else None
    opt = ebm.make_optimizer(model, lr=1e-3)
    g = torch.Generator().manual_seed(0)

    def gap():
        xf = ebm.uniform_noise(32, (1, 28, 28), torch.Generator().manual_seed(1))
        with torch.no_grad():
            if conditional:
                return (model(xf, y_real) - model(x_real, y_real)).mean().item()
            return (model(xf) - model(x_real)).mean().item()

    before = gap()
    for _ in range(15):
        out = ebm.train_step(model, opt, x_real, y_real, sampler, buffer, alpha=0.1, clip_norm=1.0, generator=g)
    assert out["x_fake"].shape == x_real.shape and out["x_fake"].abs().max() <= 1
    assert all(math.isfinite(out[k]) for k in ("loss", "cd", "reg", "e_real", "e_fake", "grad_norm"))
    assert gap() > before + 0.1
    assert out["e_fake"] > out["e_real"]
    if buffer is not None:
        assert len(buffer) == 256
    assert all(p.requires_grad for p in model.parameters())


def test_cross_entropy_term_of_the_conditional_step():
    torch.manual_seed(0)
    model = ebm.build("cnn", hidden=8, n_classes=10)
    x, y = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8)
    opt = ebm.make_optimizer(model)
    sampler = ebm.SamplerConfig(n_steps=1)
    out = ebm.train_step(model, opt, x, y, sampler, ce_weight=1.0, real_noise=0.0)
    assert out["ce"] > 0 and out["loss"] == pytest.approx(out["cd"] + out["reg"] + out["ce"], rel=1e-5)
    with pytest.raises(ValueError, match="ce_weight"):
        ebm.train_step(ebm.build("cnn", hidden=8), opt, x, None, sampler, ce_weight=1.0)


def test_train_loop_records_history():
    torch.manual_seed(0)
    model = ebm.build("cnn", hidden=8)
    x = torch.rand(40, 1, 28, 28) * 2 - 1
    hist = ebm.train(model, x, n_iters=3, batch_size=16, sampler=ebm.SamplerConfig(n_steps=2), buffer_size=64,
                     snapshot_every=2, n_snapshot=4, show_progress=False)
    assert hist.iterations == 3 and len(hist.loss) == 3 and set(hist.snapshots) == {0, 2}
    assert hist.snapshots[0].shape == (4, 1, 28, 28)
    assert hist.summary()["iterations"] == 3
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        ebm.train(model, x * 3, n_iters=1, show_progress=False)


def test_ood_helpers():
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    torch.testing.assert_close(ebm.flipped(ebm.flipped(x)), x)
    torch.testing.assert_close(ebm.flipped(x)[..., 0, 0], x[..., -1, -1])
    s = ebm.shrunken(x, 0.5)
    assert s.shape == x.shape and (s[..., :7, :] == -1).all() and (s[..., 21:, :] == -1).all()
    assert (s[..., :, :7] == -1).all() and (s[..., :, 21:] == -1).all()
    small = torch.nn.functional.interpolate(x, size=(14, 14), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(s[..., 7:21, 7:21], small)
    torch.testing.assert_close(ebm.shrunken(torch.full((1, 1, 28, 28), 0.25))[..., 7:21, 7:21],
                               torch.full((1, 1, 14, 14), 0.25))
    n = ebm.noisy(torch.zeros(5, 1, 28, 28), 0.3, torch.Generator().manual_seed(0))
    assert abs(n.mean().item()) < 0.015 and abs(n.std().item() - 0.3) < 0.015  # N(0, 0.3^2), clamping negligible
    assert ebm.noisy(x, 5.0).abs().max() <= 1 and torch.equal(ebm.noisy(x, 0.0), x)
    e_in, e_out = torch.randn(300), torch.randn(200) + 1.0
    want = roc_auc_score([0] * 300 + [1] * 200, torch.cat([e_in, e_out]).numpy())
    assert ebm.auroc(e_in, e_out) == pytest.approx(want)
    assert ebm.auroc(torch.zeros(10), torch.ones(10)) == 1.0
    u = torch.rand(3, 4)
    torch.testing.assert_close(ebm.to_unit(ebm.to_signed(u)), u)
    torch.testing.assert_close(ebm.to_signed(torch.tensor([0.0, 0.5, 1.0])), torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(ebm.to_unit(torch.tensor([-3.0, 0.0, 3.0])), torch.tensor([0.0, 0.5, 1.0]))  # clamped


def test_energy_scores_and_conditional_share():
    torch.manual_seed(0)
    m = ebm.build("cnn", n_classes=10)
    x = torch.rand(7, 1, 28, 28) * 2 - 1
    torch.testing.assert_close(ebm.energy_scores(m, x, batch_size=3), m.marginal(x).detach())

    class Fixed(torch.nn.Module):  # a "classifier" that always says class 3
        def forward(self, v):
            return torch.nn.functional.one_hot(torch.full((len(v),), 3), 10).float() * 10

    Fixed.parameters = lambda self: iter([torch.zeros(1)])
    y = torch.tensor([3, 3, 3, 1, 2, 3, 0])
    assert ebm.conditional_share(Fixed(), x, y) == pytest.approx(4 / 7)


def test_recipe_flags_give_the_tutorials_sampler():
    """ebm.add_recipe_args / sampler_from_args: the tutorial's defaults, the decay schedule, and overrides."""
    import argparse

    p = argparse.ArgumentParser()
    ebm.add_recipe_args(p)
    args = p.parse_args([])
    cfg = ebm.sampler_from_args(args)
    assert (cfg.n_steps, cfg.eps, cfg.temperature, cfg.grad_clip) == (60, 0.005, 1.25e-6, 0.03)
    assert (args.batch, args.alpha, args.lr, args.clip_norm, args.buffer, args.fresh) == (128, 0.1, 1e-4, 0.1, 8192, 0.05)
    assert ebm.sampler_from_args(args, 256, decay=True).eps == (0.005, 0.001)
    assert ebm.sampler_from_args(p.parse_args(["--eps", "0.01", "--steps", "7"])).eps == 0.01
    assert ebm.sampler_from_args(p.parse_args(["--steps", "7"])).n_steps == 7
    q = argparse.ArgumentParser()
    ebm.add_recipe_args(q, buffer=10_000, eps_end=None)
    assert q.parse_args([]).buffer == 10_000 and q.parse_args([]).eps_end is None


def test_step_decay_lr_follows_torchs_steplr():
    """ebm.step_decay_lr(lr, gamma, every, it) is the lr torch's StepLR gives at iteration it (stepped per iteration)."""
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.97)
    for it in range(40):
        assert ebm.step_decay_lr(1e-4, 0.97, 7, it) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        sched.step()
    assert ebm.step_decay_lr(1e-4, 1.0, 469, 10**6) == 1e-4
    with pytest.raises(ValueError, match="every >= 1"):
        ebm.step_decay_lr(1e-4, 0.97, 0, 5)


def test_auroc_standard_error_matches_the_bootstrap():
    """ebm.auroc_standard_error (Hanley and McNeil, 1982) agrees with the bootstrap s.d. of sklearn's AUROC."""
    import numpy as np

    rng = np.random.default_rng(0)
    neg, pos = rng.normal(0.0, 1.0, 300), rng.normal(1.0, 1.0, 300)
    labels = np.r_[np.zeros(300), np.ones(300)]
    auc = roc_auc_score(labels, np.r_[neg, pos])
    boot = [roc_auc_score(labels, np.r_[rng.choice(neg, 300), rng.choice(pos, 300)]) for _ in range(400)]
    se = ebm.auroc_standard_error(auc, 300, 300)
    assert se == pytest.approx(np.std(boot, ddof=1), rel=0.2)
    assert ebm.auroc_standard_error(1.0, 50, 50) == 0.0 and ebm.auroc_standard_error(0.5, 1, 1) > 0
    for bad in ((1.2, 10, 10), (-0.1, 10, 10), (float("nan"), 10, 10)):
        with pytest.raises(ValueError, match=r"auc must be in \[0, 1\]"):
            ebm.auroc_standard_error(*bad)
    with pytest.raises(ValueError, match="at least 1"):
        ebm.auroc_standard_error(0.8, 0, 10)


def test_recorded_snapshots_and_buffer_sample_load_checked(tmp_path):
    """load_snapshots / load_buffer_sample give the uint8 files a record names back in [-1, 1] and refuse a file
    whose sha256 differs from the record's."""
    from helpers import checkpoints as ckpt

    g = torch.Generator().manual_seed(0)
    images = torch.rand(5, 1, 28, 28, generator=g) * 2 - 1
    u8 = ebm.to_uint8(images)
    assert u8.dtype == torch.uint8 and torch.equal(ebm.to_uint8(ebm.from_uint8(u8)), u8)  # exact on uint8
    assert torch.equal(ebm.to_uint8(torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0])), torch.tensor([0, 0, 128, 255, 255],
                                                                                               dtype=torch.uint8))
    torch.save({10: u8[:2], 3: u8[2:]}, tmp_path / "m_snapshots.pt")
    torch.save(u8, tmp_path / "m_buffer.pt")
    record = {f"{k}_file": f"m_{n}.pt" for k, n in (("snapshots", "snapshots"), ("buffer_sample", "buffer"))}
    record.update({f"{k}_sha256": ckpt.sha256sum(tmp_path / record[f"{k}_file"]) for k in ("snapshots", "buffer_sample")})
    ckpt.save_checkpoint(torch.nn.Linear(2, 1), tmp_path / "m.pt", record)
    snaps, buf = ebm.load_snapshots(str(tmp_path / "m.pt")), ebm.load_buffer_sample(str(tmp_path / "m.pt"))
    assert list(snaps) == [3, 10] and snaps[10].shape == (2, 1, 28, 28)
    assert torch.allclose(buf, images, atol=1 / 255 + 1e-6) and torch.equal(snaps[3], buf[2:])
    torch.save(u8[:4], tmp_path / "m_buffer.pt")  # changed after the record was written
    with pytest.raises(ckpt.CheckpointError, match="does not match the sha256"):
        ebm.load_buffer_sample(str(tmp_path / "m.pt"))
    ckpt.save_checkpoint(torch.nn.Linear(2, 1), tmp_path / "n.pt", {})
    with pytest.raises(ckpt.CheckpointError, match="names no buffer_sample file"):
        ebm.load_buffer_sample(str(tmp_path / "n.pt"))
