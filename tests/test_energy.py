"""HW2's ResNet energy, its checkpoint, the posterior score, PSNR/SSIM, the held-out split and the attachment."""
import copy
import sys
import pytest
import numpy as np
import torch

from helpers import checkpoints as ckpt
from helpers import energy
from helpers.samplers import score_from_log_prob


def test_resnet_shapes_and_the_padding_fix():
    torch.manual_seed(0)
    m = energy.ResNet(1)
    x = torch.rand(3, 1, 28, 28)
    assert m(x).shape == (3,)
    # the printed shortcut (padding 1) gives 17x17 maps where the main path gives 16x16: it cannot run
    blk = m._el["levels"][1]["res_blocks"][0]
    printed = torch.nn.Conv2d(16, 32, kernel_size=2, stride=2, padding=1)
    h = torch.rand(1, 16, 32, 32)  # the 28x28 input after in_conv (padding 3)
    assert m._el["in_conv"](x).shape[-1] == 32
    assert printed(h).shape[-1] == 17 and blk["conv_2"](blk["conv_1"](h)).shape[-1] == 16
    assert blk["shortcut_conv"](h).shape[-1] == 16
    assert blk["shortcut_conv"].weight.shape == printed.weight.shape  # same parameters as printed
    with pytest.raises(ValueError, match="28, 28"):
        m(torch.rand(2, 1, 32, 32))


def test_channels_last_and_frozen_give_the_same_score():
    torch.manual_seed(0)
    m = energy.ResNet(1)
    x = torch.rand(4, 1, 28, 28)
    s_ref = score_from_log_prob(lambda v: -m(v))(x)
    energy.freeze(m, channels_last=True)
    s_fast = energy.energy_score(m, channels_last=True)(x)
    assert not any(p.requires_grad for p in m.parameters())
    torch.testing.assert_close(s_fast, s_ref, rtol=1e-4, atol=1e-4 * s_ref.abs().max().item())


def test_chunked_score_equals_one_pass_and_bf16_is_close():
    torch.manual_seed(2)
    m = energy.freeze(energy.ResNet(1), channels_last=True)
    with torch.no_grad():
        m._el["out_fc"].weight.mul_(100)  # the trained scale
    x = torch.rand(10, 1, 28, 28)
    whole = energy.energy_score(m, chunk=None)(x)
    for c in (1, 3, 64):  # oneDNN picks other conv kernels per batch size: agreement to float32 round-off, ~1e-3
        rel = (energy.energy_score(m, chunk=c)(x) - whole).norm() / whole.norm()
        assert rel < 1e-2, (c, rel)
    swapped = torch.cat([energy.energy_score(m, chunk=None)(x[5:]), whole[:5]])  # what a slice mix-up would give
    assert (swapped - whole).norm() / whole.norm() > 0.5
    with pytest.raises(ValueError, match="chunk"):
        energy.energy_score(m, chunk=0)(x)
    # bfloat16 autocast: off by a few percent on the trained energy, ~13% on this random one (training negatives only)
    rel = (energy.energy_score(m, bf16=True)(x) - whole).norm() / whole.norm()
    assert 0 < rel < 0.25


def test_denoise_score_is_autograd_of_log_posterior():
    torch.manual_seed(1)
    m = energy.freeze(energy.ResNet(1), channels_last=False)
    x, y = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    sigma = torch.tensor([0.1, 0.2, 0.3, 0.4])

    def log_post(v):
        return -m(v) - ((y - v) ** 2).flatten(1).sum(1) / (2 * sigma ** 2)

    want = score_from_log_prob(log_post)(x)
    got = energy.denoise_score(m, y, sigma, channels_last=False)(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    got = energy.denoise_score(m, y, sigma, channels_last=False, chunk=3)(x)  # slices see their own y and sigma
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_psnr_and_ssim():
    torch.manual_seed(2)
    x = torch.rand(5, 1, 28, 28)
    noisy = x + 0.1 * torch.randn_like(x)
    mse = ((noisy - x) ** 2).flatten(1).mean(1)
    torch.testing.assert_close(energy.psnr(noisy, x), -10 * torch.log10(mse))
    torch.testing.assert_close(energy.ssim(x, x), torch.ones(5))
    assert (energy.ssim(noisy, x) < 0.99).all()


def _ssim_by_loops(a: np.ndarray, b: np.ndarray, win: int = 7, c1: float = 1e-4, c2: float = 9e-4) -> float:
    """Wang et al.'s SSIM written out: every win x win window (population moments), averaged."""
    vals = []
    for i in range(a.shape[0] - win + 1):
        for j in range(a.shape[1] - win + 1):
            p, q = a[i:i + win, j:j + win], b[i:i + win, j:j + win]
            mp, mq = p.mean(), q.mean()
            vp, vq, cpq = p.var(), q.var(), ((p - mp) * (q - mq)).mean()
            vals.append((2 * mp * mq + c1) * (2 * cpq + c2) / ((mp ** 2 + mq ** 2 + c1) * (vp + vq + c2)))
    return float(np.mean(vals))


def test_ssim_equals_the_windowed_definition():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 1, 12, 10, generator=g, dtype=torch.float64)
    y = (x + 0.2 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    want = [_ssim_by_loops(y[k, 0].numpy(), x[k, 0].numpy()) for k in range(2)]
    torch.testing.assert_close(energy.ssim(y, x).double(), torch.tensor(want, dtype=torch.float64), rtol=1e-5, atol=1e-6)
    a, b = 0.01, 0.03  # two dark constant images: (2ab + c1) / (a^2 + b^2 + c1) = 0.636 (0.6 without c1)
    want_const = (2 * a * b + 1e-4) / (a * a + b * b + 1e-4)
    got = energy.ssim(torch.full((1, 1, 9, 9), a), torch.full((1, 1, 9, 9), b))
    torch.testing.assert_close(got, torch.tensor([want_const], dtype=got.dtype), rtol=1e-3, atol=0)  # float32 inside


def test_heldout_split_is_fixed_and_disjoint():
    tr, held = energy.heldout_split()
    tr2, held2 = energy.heldout_split()
    assert len(held) == 1000 and len(tr) == 9000
    assert torch.equal(held, held2) and not set(tr.tolist()) & set(held.tolist())


def test_attachment():
    att = energy.load_attachment()
    _, held = energy.heldout_split()
    assert att["clean"].shape == (30, 1, 28, 28)
    assert set(att["test_index"].tolist()) <= set(held.tolist())
    assert torch.bincount(att["labels"], minlength=10).tolist() == [3] * 10
    for s in (50, 100):
        std = (att[f"noisy_{s}"] - att["clean"]).std().item()
        assert abs(std - s / 256) < 0.02 * s / 256 + 0.005


def test_quality_bar_metric():
    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):  # logits: class = image index mod 10 (pixel value index / 19), very confident
            idx = (x.flatten(1)[:, 0] * 19).round().long()
            return torch.nn.functional.one_hot(idx % 10, 10).float() * 20

    x = torch.arange(20).float().view(20, 1, 1, 1).expand(20, 1, 28, 28) / 19
    q = energy.quality(Fixed(), x)  # two images per class
    top = torch.softmax(torch.tensor([20.0] + [0.0] * 9), 0).max().item()
    assert q["class_fractions"] == [0.1] * 10 and q["min_class_fraction"] == pytest.approx(0.1)
    assert q["mean_max_prob"] == pytest.approx(top) and q["labels"] == [i % 10 for i in range(20)]
    assert energy.passes_bar(q)
    q = energy.quality(Fixed(), x * 0)  # every image labelled 0
    assert q["class_fractions"] == [1.0] + [0.0] * 9 and q["min_class_fraction"] == 0 and not energy.passes_bar(q)
    assert not energy.passes_bar(q | {"min_class_fraction": 0.1, "mean_max_prob": 0.89})  # confidence short


def test_energy_checkpoint_loads_and_wrong_shapes_fail(tmp_path):
    path = ckpt.resolve(energy.ENERGY_CKPT)
    if not path.exists():
        pytest.skip("checkpoints/hw2_energy.pt not built yet (scripts/train_hw2_energy.py)")
    m = energy.load_energy()
    assert m(torch.rand(2, 1, 28, 28)).shape == (2,)
    rec = ckpt.load_record(energy.ENERGY_CKPT)
    assert {"seed", "command", "data", "sha256"} <= set(rec)
    # a trained checkpoint records its training time; an average of snapshots records the runs that made them
    assert "train_seconds" in rec or (rec["stages"] and all({"seed", "command", "train_cpu_seconds"} <= set(st)
                                                          for st in rec["stages"]))
    bad = {k: v for k, v in ckpt.load_state_dict(path).items()}
    bad["_el.out_fc.weight"] = torch.zeros(1, 32)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(ckpt.CheckpointError, match="bad.pt.*wrong shapes.*out_fc"):
        ckpt.load_into(energy.ResNet(1), tmp_path / "bad.pt")
    with pytest.raises(ckpt.CheckpointError, match="missing"):
        energy.load_energy(tmp_path / "nothing.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ckpt.CheckpointError, match="corrupt.pt"):
        energy.load_energy(tmp_path / "corrupt.pt")


def test_ray_energy_is_eventually_affine_in_lambda():
    torch.manual_seed(4)
    m = energy.freeze(energy.ResNet(1), channels_last=False)
    x = torch.rand(3, 1, 28, 28)
    # with zero biases (the initialisation) the network is positively homogeneous: E(lam x) = lam E(x)
    e = energy.ray_energy(m, x, [1.0, 2.5])
    assert e.shape == (2, 3)
    torch.testing.assert_close(e[1], 2.5 * e[0], rtol=1e-4, atol=1e-4 * e.abs().max().item())
    # with biases it is piecewise affine: far along the ray the second difference in lam vanishes,
    # while near the origin it does not
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.Conv2d):
                mod.bias.normal_(0, 1.0)
    far = energy.ray_energy(m, x, [1e3, 2e3, 3e3]).double()
    curv_far = (far[2] - 2 * far[1] + far[0]).abs() / (far[2] - far[0]).abs()
    assert curv_far.max() < 1e-3
    near = energy.ray_energy(m, x, [0.0, 0.05, 0.1]).double()
    curv_near = (near[2] - 2 * near[1] + near[0]).abs() / (near[2] - near[0]).abs()
    assert curv_near.max() > 1e-3
    torch.testing.assert_close(far[1], m(2e3 * x).double())


@pytest.mark.parametrize("m", [0.0, 0.1])
def test_box_constraints_build_the_box_penalty_exactly(m):
    """With every other weight zero, the imposed entries make E(x) = c * sum_i [relu(x_i - 1 - m) + relu(-m - x_i)]."""
    torch.manual_seed(0)
    model = energy.ResNet(1)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    energy.impose(model, energy.box_constraints(model, 1000.0, margin=m))
    assert energy.box_margin(model) == pytest.approx(m)
    x = torch.rand(6, 1, 28, 28) * 4 - 1.5
    want = 1000.0 * (torch.relu(x - 1 - m) + torch.relu(-m - x)).flatten(1).sum(1)
    torch.testing.assert_close(model(x), want, rtol=1e-5, atol=0.5)
    torch.testing.assert_close(energy.box_penalty(x, m), want / 1000.0)
    inside = torch.rand(3, 1, 28, 28) * (1 + 2 * m) - m  # anywhere in [-m, 1 + m]: no wall, no kink
    assert model(inside).abs().max() < 1e-3


def test_shipped_energy_has_its_walls_built_in_and_its_record_every_bar():
    """The shipped weights satisfy box_constraints exactly (with the c and margin read from them), and the record's
    quality_bar holds every key notebook 02 prints."""
    if not ckpt.resolve(energy.ENERGY_CKPT).exists():
        pytest.skip("checkpoints/hw2_energy.pt not built yet (scripts/train_hw2_energy.py)")
    m = energy.load_energy()
    c, margin = energy.box_slope(m), energy.box_margin(m)
    assert c > 0 and margin >= 0
    params = dict(m.named_parameters())
    for name, (mask, value) in energy.box_constraints(m, c, margin).items():
        torch.testing.assert_close(params[name][mask], value[mask], rtol=0, atol=1e-6)
    qb = ckpt.load_record(energy.ENERGY_CKPT)["quality_bar"]
    keys = {"mean_max_prob", "min_class_fraction", "pixels_outside_box", "ray_rises_share", "task6_mean_max_prob",
            "task6_max_class_fraction", "blank_energy_quantile", "mala_accept_2_256", "mala_accept_task10", "denoise"}
    assert keys <= set(qb) and qb["n"] >= 100 and not qb.get("quick")
    assert {"mmse_psnr_gain_db", "mmse_psnr_gain_se", "class_kept"} <= set(qb["denoise"]["50"]) <= set(qb["denoise"]["100"])
    assert energy.hw2_bar_passes(qb) == qb["passes"]  # the targets the notebook prints are the ones that were applied


def test_hw2_bar_passes_applies_each_target_on_its_side():
    """A measurement on a target passes (>=, <=) or fails (> 0), one step past it flips the bar, and the denoising bars
    need both noise levels."""
    q = {k: t for k, (_, t) in energy.HW2_BAR_TARGETS.items()}
    q["denoise"] = {s: {"mmse_psnr_gain_db": 0.1, "class_kept": energy.HW2_BAR_TARGETS[f"class_kept_{s}"][1]}
                    for s in ("50", "100")}
    p = energy.hw2_bar_passes(q)
    assert p["mean_max_prob"] and p["pixels_outside_box"] and p["denoise_mmse_gain"] and p["denoise_class_kept"]
    q["mean_max_prob"], q["pixels_outside_box"] = 0.899, 0.011
    q["denoise"]["100"]["mmse_psnr_gain_db"], q["denoise"]["50"]["class_kept"] = 0.0, 0.69
    p = energy.hw2_bar_passes(q)
    assert not (p["mean_max_prob"] or p["pixels_outside_box"] or p["denoise_mmse_gain"] or p["denoise_class_kept"])
    assert p["ray_rises_share"] and p["mala_accept_task10"] and len(p) == 11


def test_box_margin_moves_the_walls_and_only_them():
    """Walls at -0.1 and 1.1: E is flat in a pixel up to the wall, then rises with slope c; the margin must be >= 0."""
    torch.manual_seed(2)
    model = energy.ResNet(1)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    energy.impose(model, energy.box_constraints(model, 200.0, margin=0.1))
    v = torch.tensor([-0.3, -0.1, 0.0, 0.5, 1.0, 1.1, 1.4])
    x = torch.zeros(len(v), 1, 28, 28)
    x[:, 0, 14, 14] = v
    torch.testing.assert_close(model(x), 200.0 * torch.tensor([0.2, 0, 0, 0, 0, 0, 0.3]), rtol=0, atol=1e-3)
    with pytest.raises(ValueError, match="margin"):
        energy.box_constraints(model, 200.0, margin=-0.1)


def test_box_constraints_confine_a_random_network_along_rays():
    """A default-initialised ResNet with the box built in rises along lam*x for lam > 1 (the ray test)."""
    torch.manual_seed(1)
    model = energy.ResNet(1)
    cons = energy.box_constraints(model, 1000.0)
    energy.impose(model, cons)
    x = torch.rand(16, 1, 28, 28)
    e = energy.ray_energy(model, x, [1.0, 1.5, 2.0, 8.0])
    assert (e[1:] > e[:1]).all()
    # imposing is idempotent and touches only the masked entries
    before = {k: v.clone() for k, v in model.state_dict().items()}
    energy.impose(model, cons)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


@pytest.mark.parametrize("t,m", [(0.05, 0.0), (0.7, 0.0), (0.05, 0.1), (0.7, 0.1)])
def test_prox_box_is_the_minimiser_of_the_proximal_objective(t, m):
    y = torch.linspace(-2.0, 3.0, 101, dtype=torch.float64)
    grid = torch.linspace(-3.0, 4.0, 70_001, dtype=torch.float64)  # brute force: argmin over a fine grid, pixel by pixel
    obj = (grid[None] - y[:, None]) ** 2 / 2 + t * (torch.relu(grid - 1 - m) + torch.relu(-m - grid))[None]
    torch.testing.assert_close(energy.prox_box(y, t, m), grid[obj.argmin(1)], atol=2e-4, rtol=0)


def test_blank_energy_quantile_counts_digits_below_the_black_image():
    """Against a direct count, with an energy whose blank image lies between the digits' energies."""
    class Bright(torch.nn.Module):  # E(x) = 3 - sum of pixels: the blank image has E = 3
        def forward(self, x):
            return 3.0 - x.flatten(1).sum(1)
    x = torch.zeros(5, 1, 28, 28)
    for i, v in enumerate([0.0, 1.0, 2.0, 4.0, 5.0]):
        x[i, 0, 0, 0] = v
    assert energy.blank_energy_quantile(Bright(), x) == pytest.approx(4 / 5)  # E = 3, 2, 1, -1, -2 against 3: ties do not count


def test_ray_rises_share_and_share_outside_against_direct_counts():
    torch.manual_seed(4)
    m = energy.freeze(energy.ResNet(1), channels_last=False)
    x = torch.rand(20, 1, 28, 28)
    # zero biases: E(lam x) = lam E(x), so the energy rises along every ray exactly where E(x) > 0
    with torch.no_grad():
        positive = (m(x) > 0).float().mean().item()
    assert energy.ray_rises_share(m, x) == pytest.approx(positive)
    with torch.no_grad():
        m._el["out_fc"].weight.neg_()  # E -> -E: still homogeneous, the signs flip
    assert energy.ray_rises_share(m, x) == pytest.approx(1 - positive)
    y = torch.tensor([[-0.2, -0.1, 0.0, 0.5, 1.0, 1.1, 1.2, 3.0]])
    assert energy.share_outside(y) == pytest.approx(3 / 8)
    assert energy.share_outside(y, margin=0.0) == pytest.approx(5 / 8)


def test_compact_adam_state_resumes_exactly_when_beta1_is_zero(load_script):
    """train_hw2_energy drops Adam's exp_avg from a saved state (beta1 = 0); the next step is the same either way."""
    mod = load_script("train_hw2_energy")
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5))
    opt = torch.optim.Adam([w], lr=0.1, betas=(0.0, 0.999))
    for _ in range(3):
        opt.zero_grad()
        (w ** 3).sum().backward()
        opt.step()
    sd = mod.compact_optimizer_state(opt)
    assert "exp_avg" not in sd["state"][0] and "exp_avg_sq" in sd["state"][0]
    w2 = torch.nn.Parameter(w.detach().clone())
    opt2 = torch.optim.Adam([w2], lr=0.1, betas=(0.0, 0.999))
    opt2.load_state_dict(mod.full_optimizer_state(copy.deepcopy(sd)))
    for p, o in ((w, opt), (w2, opt2)):
        o.zero_grad()
        (p ** 3).sum().backward()
        o.step()
    torch.testing.assert_close(w2, w)
    opt3 = torch.optim.Adam([torch.nn.Parameter(torch.randn(5))], betas=(0.9, 0.999))
    opt3.zero_grad()
    (opt3.param_groups[0]["params"][0] ** 2).sum().backward()
    opt3.step()
    assert "exp_avg" in mod.compact_optimizer_state(opt3)["state"][0]  # kept when beta1 > 0


def test_recorded_command_is_shell_quoted(load_script, monkeypatch):
    """train_hw2_energy records its command so that a shell splits it back into the same arguments."""
    import shlex
    mod = load_script("train_hw2_energy")
    argv = ["--out", "my energy.pt", "--lr", "1e-4"]
    monkeypatch.setattr(sys, "argv", ["/abs/path/train_hw2_energy.py", *argv])
    cmd = mod.command_line()
    assert shlex.split(cmd) == ["python", "scripts/train_hw2_energy.py", *argv]


def test_packed_state_names_the_shipped_weights_and_refuses_other_ones(load_script, tmp_path):
    """pack_state drops the weights only when they equal the checkpoint's; resuming reloads exactly those weights and
    refuses a checkpoint that changed since."""
    mod = load_script("train_hw2_energy")
    weights = {"w": torch.randn(3, 4), "b": torch.randn(4)}
    ckpt.save_checkpoint(weights, tmp_path / "e.pt", {"note": "test"})
    state = tmp_path / "state.pt"
    torch.save({"model": {k: v.clone() for k, v in weights.items()}, "iteration": torch.tensor(7)}, state)
    mod.pack_state(str(state), str(tmp_path / "e.pt"))
    st = torch.load(state, weights_only=True)
    assert "model" not in st and st["model_file"] == str(tmp_path / "e.pt") and int(st["iteration"]) == 7
    got = mod.weights_of_packed_state(str(state))
    assert all(torch.equal(got[k], weights[k]) for k in weights)
    torch.save({"model": {"w": torch.zeros(3, 4), "b": torch.zeros(4)}}, tmp_path / "other.pt")
    with pytest.raises(SystemExit, match="not those of"):
        mod.pack_state(str(tmp_path / "other.pt"), str(tmp_path / "e.pt"))
    ckpt.save_checkpoint({k: v + 1 for k, v in weights.items()}, tmp_path / "e.pt", {"note": "changed"})
    with pytest.raises(SystemExit, match="differs"):
        mod.weights_of_packed_state(str(state))
