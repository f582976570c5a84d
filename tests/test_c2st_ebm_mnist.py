"""The classifier two-sample test (helpers.classifier.c2st) and the unconditional MNIST EBM training script."""
import argparse
import json

import pytest
import torch

from helpers import checkpoints as ckpt, data, ebm
from helpers.classifier import c2st


def test_c2st_identical_distributions_is_near_chance(data_root, one_thread):
    """Two disjoint halves of the same 400 test digits: accuracy within chance's binomial spread."""
    x, _ = data.mnist(train=False)
    x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:400]]
    out = c2st(x[:200], x[200:], steps=150, seed=0)
    assert out["n"] == 400
    assert 0.4 <= out["accuracy"] <= 0.6  # chance: 0.5 +- 2 s.e. (s.e. = 0.025)
    assert out["ci95"][0] < 0.5 < out["ci95"][1]


def test_c2st_tells_noise_from_digits(data_root, one_thread):
    x, _ = data.mnist(train=False)
    noise = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    out = c2st(x[:200], noise, steps=150, seed=0)
    assert out["accuracy"] >= 0.98 and out["ci95"][0] > 0.9


def test_c2st_rejects_bad_input():
    x = torch.rand(10, 1, 28, 28)
    with pytest.raises(ValueError, match="one shape"):
        c2st(x, torch.rand(10, 1, 14, 14))
    with pytest.raises(ValueError, match="NaN"):
        c2st(x, x.clone().fill_(float("nan")))
    with pytest.raises(ValueError, match="at least"):
        c2st(x[:1], x[:1])


@pytest.mark.parametrize("variant, lr_args", [("noise", []), ("decay", ["--lr-gamma", "0.5", "--lr-decay-every", "1"])])
def test_training_script_resumes_exactly(variant, lr_args, tmp_path, data_root, one_thread, load_script):
    """4 iterations in one run == 2 iterations, then --resume to 4: same curves and weights (also with the learning
    rate decaying every iteration); record has the bars."""
    script = load_script("train_ebm_mnist")
    common = ["--variant", variant, "--steps", "3", "--eval-steps", "3", "--eval-chains", "8", "--buffer", "64",
              "--eval-every", "2", "--state-every", "2", "--snapshot-every", "2", "--c2st-steps", "10"] + lr_args
    script.main(common + ["--iters", "4", "--out", str(tmp_path / "a.pt"), "--state", str(tmp_path / "a_state.pt")])
    b = ["--out", str(tmp_path / "b.pt"), "--state", str(tmp_path / "b_state.pt")]
    script.main(common + ["--iters", "2"] + b)
    script.main(common + ["--iters", "4", "--resume"] + b)
    ra, rb = (json.loads((tmp_path / f"{k}.json").read_text()) for k in "ab")
    assert ra["curves"] == rb["curves"] and len(ra["curves"]["loss"]) == 4
    wa, wb = torch.load(tmp_path / "a.pt"), torch.load(tmp_path / "b.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert set(ra["metrics"]) == {"mean_max_prob", "min_class", "c2st_accuracy"}
    assert ra["variant"] == variant and ra["iterations"] == 4 and ra["evaluations_during_training"][0]["iteration"] == 2
    snaps = torch.load(tmp_path / ra["snapshots_file"])
    assert snaps[0].dtype == torch.uint8 and snaps[0].shape[1:] == (1, 28, 28)
    model = ebm.load(str(tmp_path / "a.pt"))
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2,)
    assert [c["from_iteration"] for c in rb["commands"]] == [0, 2]
    lr_last = torch.load(tmp_path / "b_state.pt", weights_only=True)["optimizer"]["param_groups"][0]["lr"]
    assert lr_last == pytest.approx(1e-4 * (0.5 ** 3 if lr_args else 1.0))  # set at the 4th iteration (index 3)


def test_compact_state_resumes_close_to_the_run(tmp_path, data_root, one_thread, load_script):
    """A compact state (buffer as zlib-compressed uint8) is smaller and resumes with the buffer within 1/255."""
    script = load_script("train_ebm_mnist")
    common = ["--variant", "buffer", "--steps", "3", "--eval-steps", "3", "--eval-chains", "8", "--buffer", "256",
              "--eval-every", "0", "--state-every", "2", "--snapshot-every", "2", "--c2st-steps", "10"]
    full, compact = tmp_path / "full.pt", tmp_path / "compact.pt"
    script.main(common + ["--iters", "2", "--out", str(tmp_path / "a.pt"), "--state", str(full),
                          "--compact-state", str(compact)])
    assert compact.stat().st_size < full.stat().st_size
    s_full = torch.load(full, weights_only=True)
    script.main(common + ["--iters", "3", "--resume", "--out", str(tmp_path / "b.pt"), "--state", str(compact),
                          "--buffer-sample", "5"])
    s_next = torch.load(compact, weights_only=True)  # overwritten by the resumed run (full precision again)
    assert s_next["iteration"] == 3 and s_next["buffer"]["x"].dtype == torch.float32
    # the 3rd iteration overwrote 128 of the 256 buffer images; the others were restored within 1/255
    diff = (s_next["buffer"]["x"] - s_full["buffer"]["x"]).abs().amax(dim=(1, 2, 3))
    assert (diff <= 2 / 255 + 1e-6).sum() >= 256 - 128
    rec = json.loads((tmp_path / "b.json").read_text())
    kept = torch.load(tmp_path / rec["buffer_sample_file"])  # 5 images of the final buffer, as uint8
    assert kept.dtype == torch.uint8 and kept.shape == (5, 1, 28, 28)
    assert rec["buffer_sample_sha256"] == ckpt.sha256sum(tmp_path / rec["buffer_sample_file"])
    final_buffer = torch.load(compact, weights_only=True)["buffer"]["x"]
    assert all(((final_buffer + 1) / 2 * 255 - k.float()).abs().amax(dim=(1, 2, 3)).min() <= 0.5 + 1e-4 for k in kept)
    assert rec["evaluation"]["replay_buffer"]["c2st_n"] == 16 and "mean_max_prob" in rec["evaluation"]["replay_buffer"]
    before = compact.read_bytes()
    scored = script.main(common + ["--score-state", str(compact)])  # scores a saved state, writes nothing
    assert compact.read_bytes() == before and scored["iteration"] == 3
    assert scored["replay_buffer"] == rec["evaluation"]["replay_buffer"]  # the same images and seeds as the run's end
    assert {k: scored[k] for k in rec["metrics"]} == rec["metrics"]
    with pytest.raises(SystemExit):  # no buffer to sample in the noise variant
        script.main(["--variant", "noise", "--buffer-sample", "4", "--iters", "1", "--out", str(tmp_path / "n.pt")])
    with pytest.raises(SystemExit, match="no training state"):
        script.main(common + ["--score-state", str(tmp_path / "missing.pt")])


def test_chain_length_scores_the_chain_after_each_length(data_root, one_thread, load_script, tmp_path, monkeypatch):
    """scripts/ebm_chain_length.py: the state it scores at k steps is the chain after exactly k steps (the same
    energy as a k-step run of the sampler from the same start and seed), at every doubling, and --merge sums
    the seeds' class counts."""
    script = load_script("ebm_chain_length")
    assert script.lengths(4, 20) == [4, 8, 16]
    a = argparse.Namespace(ckpt="ebm_mnist_buffer_lrdecay.pt", seed=7, chains=6, first=4, max_steps=8, c2st_steps=5, images=0)
    part = script.run_seed(a)
    model = ebm.load(a.ckpt, device="cpu").eval().requires_grad_(False)
    for k in (4, 8):
        g = torch.Generator().manual_seed(script.SEED_OFFSET + a.seed)
        x0 = ebm.uniform_noise(a.chains, (1, 28, 28), g, "cpu")
        xk = ebm.SamplerConfig(n_steps=k).run(model, x0, generator=g)
        assert part["by_length"][k]["mean_energy"] == pytest.approx(ebm.energy_scores(model, xk).mean().item(),
                                                                    abs=1e-4)
        assert sum(part["by_length"][k]["class_counts"]) == a.chains
    monkeypatch.setattr(script, "part_path", lambda ckpt, seed: tmp_path / f"part_seed{seed}.json")
    for s in (7, 8):  # the parts as they are written and read back (JSON: string keys)
        script.part_path(a.ckpt, s).write_text(json.dumps({**part, "seed": s}))
    out = script.merge(argparse.Namespace(ckpt=a.ckpt, merge=[7, 8]))
    assert out["pooled"][8]["chains"] == 2 * a.chains
    assert out["pooled"][8]["class_counts"] == [2 * c for c in part["by_length"][8]["class_counts"]]
