"""Bad input gets a clear error at the public entry point, never a silent wrong answer (issue 32).

Every public sampler, density estimator and training entry point is fed the usual bad inputs: NaN, inf, the
wrong shape, the wrong dtype, an empty batch, negative or zero sizes and step sizes, and (for device choice)
a device string this machine cannot use. Each must raise ValueError or TypeError whose message names the
function or the argument and says what was wrong. The models are tiny and nothing trains: the whole module
runs in a few seconds on one thread. The last tests check that good input still works (n_steps = 0 returns
the start, "CPU" means the CPU, MALA still accepts) and the checkpoint errors (corrupt record, the fix text).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from helpers import checkpoints, ebm, estimation, flows, gan, jem, kde, samplers, utils
from helpers import score_matching as sm

ROOT = Path(__file__).resolve().parents[1]
NAN, INF = float("nan"), float("inf")


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def pts(n: int = 16, d: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def spoil(x: torch.Tensor, value: float, at: int = 3) -> torch.Tensor:
    x = x.clone()
    x.view(-1)[at] = value
    return x


def images(n: int = 16, lo: float = 0.0) -> torch.Tensor:
    return lo + (1 - lo) * torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


score = lambda x: -x  # noqa: E731  (standard normal)
log_prob = lambda x: -0.5 * (x ** 2).sum(1)  # noqa: E731
cond_score = lambda x, s: -x / (1 + s ** 2)  # noqa: E731


def flow():
    return flows.CouplingFlow(2, d=2, hidden=8)


def langevin(**kw):
    args = dict(x0=pts(), score=score, step_size=0.01, n_steps=3)
    args.update(kw)
    return lambda: samplers.langevin(**args)


def mala(**kw):
    args = dict(x0=pts(), log_prob=log_prob, step_size=0.01, n_steps=3)
    args.update(kw)
    return lambda: samplers.mala(**args)


def annealed(**kw):
    args = dict(x0=pts(), score=cond_score, sigmas=[1.0, 0.5, 0.1], step_size=0.01, n_steps_each=2)
    args.update(kw)
    return lambda: samplers.annealed_langevin(**args)


def kde_(points=None, samples=None, H=None):
    return lambda: kde.kde(pts(5) if points is None else points, pts(40, seed=1) if samples is None else samples,
                           0.5 * torch.eye(2) if H is None else H)


def train_flow(data=None, **kw):
    kw.setdefault("epochs", 1)
    return lambda: flows.train_flow(flow(), pts(60) if data is None else data, progress=False, **kw)


def density(points):
    return lambda: flows.density_on_grid(flow(), points)


def dsm(data=None, **kw):
    kw = {"n_steps": 2, "show_progress": False, **kw}
    return lambda: sm.train_dsm(sm.score_mlp(2, 8, 1), pts() if data is None else data, **kw)


def sliced(sample=None, **kw):
    kw = {"batch_size": 8, "n_steps": 2, "show_progress": False, **kw}
    return lambda: sm.train_sliced(sm.score_mlp(2, 8, 1), sample or (lambda n: pts(n)), **kw)


def annealed_ssm(sample=None, sigmas=(1.0, 0.1), **kw):
    kw = {"batch_size": 8, "n_steps": 2, "show_progress": False, **kw}
    return lambda: sm.train_annealed_sliced(sm.NoiseConditionalScoreNet(2, 8, 1), sample or (lambda n: pts(n)),
                                            list(sigmas), **kw)


def energy(x):
    return (x ** 2).flatten(1).sum(1)


def sgld(x0=None, **kw):
    kw = {"eps": 0.01, "n_steps": 2, **kw}
    return lambda: ebm.sgld(energy, images(4, -1.0) if x0 is None else x0, **kw)


def ebm_train(x=None, **kw):
    kw = {"n_iters": 1, "batch_size": 4, "sampler": ebm.SamplerConfig(n_steps=2), "show_progress": False,
          "snapshot_every": 0, **kw}
    return lambda: ebm.train(ebm.CNNEnergy(4), images(8, -1.0) if x is None else x, **kw)


def jem_sgld(x0=None, **kw):
    kw = {"n_steps": 2, **kw}
    return lambda: jem.sgld(jem.JEMCNN(10), images(2) if x0 is None else x0, **kw)


def gan_trainer(x=None, kind="gan", **kw):
    D = gan.Discriminator((8, 8)) if kind == "gan" else gan.Critic((8, 8))
    return lambda: gan.GANTrainer(kind, gan.Generator(4, (8, 8)), D, images(8) if x is None else x,
                                  **{"batch_size": 4, "n_critic": 1, **kw})


def means(method="ml-direct", real=None, init=None, **kw):
    kw = {"max_iters": 2, "window": 1, "n_synthetic": 8, **kw}
    return lambda: estimation.estimate_means(method, pts(40) if real is None else real,
                                             pts(2, seed=3) if init is None else init, **kw)


def wrong_score_b1(x):
    return -x[:, :1]  # (B, 1): would broadcast over the coordinates


def wrong_score_b(x):
    return -x.sum(1)  # (B,): broadcasts when B equals the dimension


CASES = [
    # ---------------------------------------------------------------- samplers.langevin / langevin_step
    ("langevin x0 NaN", langevin(x0=spoil(pts(), NAN)), ValueError, r"langevin: x0 holds 1 NaN"),
    ("langevin x0 inf", langevin(x0=spoil(pts(), -INF)), ValueError, r"langevin: x0 holds 0 NaN and 1 inf"),
    ("langevin x0 numpy", langevin(x0=pts().numpy()), TypeError, r"x0 must be a torch.Tensor"),
    ("langevin x0 int", langevin(x0=torch.ones(4, 2, dtype=torch.long)), TypeError, r"floating-point.*int64"),
    ("langevin x0 bool", langevin(x0=torch.ones(4, 2, dtype=torch.bool)), TypeError, r"floating-point"),
    ("langevin x0 complex", langevin(x0=torch.ones(4, 2, dtype=torch.complex64)), TypeError, r"real floating"),
    ("langevin x0 empty", langevin(x0=torch.empty(0, 2)), ValueError, r"x0 is an empty batch"),
    ("langevin x0 scalar", langevin(x0=torch.tensor(1.0)), ValueError, r"at least 1 dimension"),
    ("langevin score (B,1)", langevin(score=wrong_score_b1), ValueError, r"score returned shape \(16, 1\).*no broadcasting"),
    ("langevin score (B,) B=d", langevin(x0=pts(2), score=wrong_score_b), ValueError, r"score returned shape \(2,\) for x of shape \(2, 2\)"),
    ("langevin step 0", langevin(step_size=0.0), ValueError, r"step_size must be positive"),
    ("langevin step <0", langevin(step_size=-0.1), ValueError, r"step_size must be positive"),
    ("langevin step NaN", langevin(step_size=NAN), ValueError, r"step_size must be finite"),
    ("langevin step inf", langevin(step_size=INF), ValueError, r"step_size must be finite"),
    ("langevin step str", langevin(step_size="0.1"), TypeError, r"step_size must be a real number"),
    ("langevin schedule <0 at 2", langevin(step_size=lambda t: 0.01 - 0.01 * t), ValueError, r"at step 1"),
    ("langevin noise <0", langevin(noise_scale=-1.0), ValueError, r"noise_scale must be >= 0"),
    ("langevin n_steps <0", langevin(n_steps=-5), ValueError, r"n_steps must be >= 0, got -5"),
    ("langevin n_steps float", langevin(n_steps=2.5), TypeError, r"n_steps must be an integer"),
    ("langevin every 0", langevin(every=0), ValueError, r"every must be >= 1"),
    ("langevin clamp reversed", langevin(clamp=(1.0, 0.0)), ValueError, r"clamp must be a pair"),
    ("langevin_step step <0", lambda: samplers.langevin_step(pts(), score, -0.1), ValueError,
     r"langevin_step: step_size must be positive"),
    ("langevin_step score shape", lambda: samplers.langevin_step(pts(), wrong_score_b1, 0.1), ValueError,
     r"must have x's shape"),
    # ---------------------------------------------------------------- samplers.mala
    ("mala log_prob scalar", mala(log_prob=lambda x: log_prob(x).sum()), ValueError,
     r"log_prob returned shape \(\) for 16 chains.*one value per chain"),
    ("mala log_prob mean", mala(log_prob=lambda x: log_prob(x).mean()), ValueError, r"one value per chain"),
    ("mala log_prob (B,1)", mala(log_prob=lambda x: log_prob(x)[:, None]), ValueError, r"shape \(16, 1\)"),
    ("mala log_prob (B,d)", mala(log_prob=lambda x: -0.5 * x ** 2), ValueError, r"shape \(16, 2\)"),
    ("mala closed-form score shape", mala(score=wrong_score_b1), ValueError, r"mala: the score returned shape"),
    ("mala x0 NaN", mala(x0=spoil(pts(), NAN)), ValueError, r"mala: x0 holds 1 NaN"),
    ("mala x0 inf", mala(x0=spoil(pts(), INF)), ValueError, r"inf"),
    ("mala x0 int", mala(x0=torch.ones(4, 2, dtype=torch.int32)), TypeError, r"floating-point"),
    ("mala x0 empty", mala(x0=torch.empty(0, 2)), ValueError, r"empty batch"),
    ("mala step 0", mala(step_size=0.0), ValueError, r"mala: step_size must be positive"),
    ("mala step <0", mala(step_size=-0.01), ValueError, r"mala: step_size must be positive"),
    ("mala step NaN", mala(step_size=NAN), ValueError, r"finite"),
    ("mala step schedule", mala(step_size=lambda t: 0.1), TypeError, r"step_size must be a number"),
    ("mala n_steps <0", mala(n_steps=-1), ValueError, r"n_steps must be >= 0"),
    ("mala every 0", mala(every=0), ValueError, r"every must be >= 1"),
    ("mala_proposal_terms scalar", lambda: samplers.mala_proposal_terms(pts(), lambda x: log_prob(x).sum(), 0.1),
     ValueError, r"one value per chain"),
    # ---------------------------------------------------------------- samplers.annealed_langevin
    ("annealed x0 NaN", annealed(x0=spoil(pts(), NAN)), ValueError, r"annealed_langevin: x0 holds"),
    ("annealed sigmas empty", annealed(sigmas=[]), ValueError, r"sigmas is empty"),
    ("annealed sigma 0", annealed(sigmas=[1.0, 0.0]), ValueError, r"every sigma must be positive"),
    ("annealed sigma <0", annealed(sigmas=[1.0, -0.1]), ValueError, r"every sigma must be positive"),
    ("annealed sigma NaN", annealed(sigmas=[1.0, NAN]), ValueError, r"positive and finite"),
    ("annealed sigmas str", annealed(sigmas=["a"]), TypeError, r"sequence of numbers"),
    ("annealed step 0", annealed(step_size=0.0), ValueError, r"step_size must be positive"),
    ("annealed n_steps_each <0", annealed(n_steps_each=-2), ValueError, r"n_steps_each must be >= 0"),
    ("annealed score shape", annealed(score=lambda x, s: -x[:, :1]), ValueError, r"score returned shape"),
    # ---------------------------------------------------------------- kde
    ("kde samples NaN", kde_(samples=spoil(pts(40), NAN)), ValueError, r"kde: samples holds NaN or inf in 1 of 40 rows"),
    ("kde samples inf", kde_(samples=spoil(pts(40), INF)), ValueError, r"samples holds NaN or inf"),
    ("kde points NaN", kde_(points=spoil(pts(5), NAN)), ValueError, r"kde: points holds NaN or inf"),
    ("kde points -inf", kde_(points=spoil(pts(5), -INF)), ValueError, r"points holds NaN or inf"),
    ("kde samples empty", kde_(samples=torch.empty(0, 2)), ValueError, r"samples is empty"),
    ("kde points wrong d", kde_(points=pts(5, 3)), ValueError, r"points must have shape \(n, 2\)"),
    ("kde samples 1-D", kde_(samples=torch.randn(40)), ValueError, r"samples must have shape \(n, d\)"),
    ("kde samples complex", kde_(samples=torch.ones(4, 2, dtype=torch.complex64)), TypeError, r"real numbers"),
    ("kde samples strings", kde_(samples=[["a", "b"]]), TypeError, r"array of numbers"),
    ("kde H singular", kde_(H=torch.zeros(2, 2)), ValueError, r"singular"),
    ("kde H wrong size", kde_(H=torch.eye(3)), ValueError, r"2 x 2"),
    ("kde H NaN", kde_(H=torch.eye(2) * NAN), ValueError, r"non-finite"),
    ("kde bandwidth 0", lambda: kde.bandwidth(0.0), ValueError, r"must be positive"),
    ("kde bandwidth <0", lambda: kde.bandwidth(-0.3), ValueError, r"must be positive"),
    ("kde_grid samples NaN", lambda: kde.kde_grid(spoil(pts(40), NAN), kde.bandwidth(0.5), [0.0, 1.0], [0.0, 1.0]),
     ValueError, r"kde_grid: samples holds NaN"),
    ("kde_grid grid NaN", lambda: kde.kde_grid(pts(40), kde.bandwidth(0.5), [0.0, NAN], [0.0, 1.0]),
     ValueError, r"finite grid coordinates"),
    # ---------------------------------------------------------------- flows
    ("train_flow one NaN", train_flow(spoil(pts(600), NAN, at=777)), ValueError,
     r"train_flow: data holds 1 NaN and 0 inf value\(s\) in 1 of 600 rows"),
    ("train_flow inf", train_flow(spoil(pts(60), INF)), ValueError, r"train_flow: data holds 0 NaN and 1 inf"),
    ("train_flow wrong d", train_flow(pts(60, 3)), ValueError, r"\(n, 2\)"),
    ("train_flow empty", train_flow(torch.empty(0, 2)), ValueError, r"at least 2"),
    ("train_flow one point", train_flow(pts(1)), ValueError, r"at least 2"),
    ("train_flow complex", train_flow(torch.ones(8, 2, dtype=torch.complex64)), TypeError, r"real numbers"),
    ("train_flow epochs 0", train_flow(epochs=0), ValueError, r"epochs must be >= 1"),
    ("train_flow epochs <0", train_flow(epochs=-3), ValueError, r"epochs must be >= 1"),
    ("train_flow batch 0", train_flow(batch_size=0), ValueError, r"batch_size must be >= 1"),
    ("train_flow lr 0", train_flow(lr=0.0), ValueError, r"lr must be positive"),
    ("train_flow lr NaN", train_flow(lr=NAN), ValueError, r"lr must be finite"),
    ("train_flow fraction 1", train_flow(fraction=1.0), ValueError, r"fraction"),
    ("train_flow fraction 0", train_flow(fraction=0.0), ValueError, r"fraction"),
    ("train_flow engine", train_flow(engine="jax"), ValueError, r"engine must be"),
    ("train_flow not a flow", lambda: flows.train_flow(torch.nn.Linear(2, 2), pts(60)), TypeError, r"CouplingFlow"),
    ("density_on_grid NaN", density(spoil(pts(50), NAN)), ValueError, r"density_on_grid: points holds 1 NaN"),
    ("density_on_grid inf", density(spoil(pts(50), INF)), ValueError, r"density_on_grid: points holds"),
    ("density_on_grid wrong d", density(pts(50, 3)), ValueError, r"\(n, 2\)"),
    ("density_on_grid int", density(torch.ones(5, 2, dtype=torch.long)), TypeError, r"floating-point"),
    ("density_on_grid chunk 0", lambda: flows.density_on_grid(flow(), pts(5), chunk=0), ValueError, r"chunk"),
    # ---------------------------------------------------------------- score matching trainers
    ("train_dsm NaN", dsm(spoil(pts(), NAN)), ValueError, r"train_dsm: data holds 1 NaN"),
    ("train_dsm inf", dsm(spoil(pts(), INF)), ValueError, r"train_dsm: data holds"),
    ("train_dsm empty", dsm(torch.empty(0, 2)), ValueError, r"empty batch"),
    ("train_dsm int", dsm(torch.ones(8, 2, dtype=torch.long)), TypeError, r"floating-point"),
    ("train_dsm 1-D", dsm(torch.randn(8)), ValueError, r"\(B, d\)"),
    ("train_dsm sigma 0", dsm(sigma=0.0), ValueError, r"sigma must be a positive"),
    ("train_dsm sigma <0", dsm(sigma=-0.1), ValueError, r"sigma must be a positive"),
    ("train_dsm n_steps <0", dsm(n_steps=-1), ValueError, r"n_steps must be >= 0"),
    ("train_dsm lr <0", dsm(lr=-1e-3), ValueError, r"lr must be positive"),
    ("train_dsm batch 0", dsm(batch_size=0), ValueError, r"batch_size must be >= 1"),
    ("train_sliced NaN sample", sliced(lambda n: spoil(pts(n), NAN)), ValueError, r"train_sliced: sample\(batch_size\) holds"),
    ("train_sliced batch 0", sliced(batch_size=0), ValueError, r"batch_size must be >= 1"),
    ("train_sliced n_steps <0", sliced(n_steps=-3), ValueError, r"n_steps must be >= 0"),
    ("train_sliced nv 0", sliced(nv=0), ValueError, r"nv must be >= 1"),
    ("train_sliced lr 0", sliced(lr=0.0), ValueError, r"lr must be positive"),
    ("train_annealed_sliced NaN", annealed_ssm(lambda n: spoil(pts(n), NAN)), ValueError, r"train_annealed_sliced: sample"),
    ("train_annealed_sliced sigmas []", annealed_ssm(sigmas=()), ValueError, r"non-empty sequence"),
    ("train_annealed_sliced sigma <0", annealed_ssm(sigmas=(1.0, -0.1)), ValueError, r"positive, finite"),
    ("train_annealed_sliced batch 0", annealed_ssm(batch_size=0), ValueError, r"batch_size must be >= 1"),
    # ---------------------------------------------------------------- EBMs (ebm.sgld, ebm.train, jem.sgld)
    ("ebm.sgld x0 NaN", sgld(spoil(images(4, -1.0), NAN)), ValueError, r"x0 holds 1 NaN"),
    ("ebm.sgld x0 inf", sgld(spoil(images(4, -1.0), INF)), ValueError, r"x0 holds 0 NaN and 1 inf"),
    ("ebm.sgld x0 empty", sgld(torch.empty(0, 1, 28, 28)), ValueError, r"empty batch"),
    ("ebm.sgld x0 uint8", sgld((images(4) * 255).to(torch.uint8)), TypeError, r"floating-point"),
    ("ebm.sgld eps 0", sgld(eps=0.0), ValueError, r"ebm.sgld: eps must be positive"),
    ("ebm.sgld eps <0", sgld(eps=-0.01), ValueError, r"ebm.sgld: eps must be positive"),
    ("ebm.sgld n_steps <0", sgld(n_steps=-1), ValueError, r"n_steps must be >= 0"),
    ("ebm.sgld temperature 0", sgld(temperature=0.0), ValueError, r"temperature must be positive"),
    ("ebm.train NaN", ebm_train(spoil(images(8, -1.0), NAN)), ValueError, r"ebm.train: x holds 1 NaN"),
    ("ebm.train inf", ebm_train(spoil(images(8, -1.0), INF)), ValueError, r"ebm.train: x holds"),
    ("ebm.train empty", ebm_train(torch.empty(0, 1, 28, 28)), ValueError, r"empty batch"),
    ("ebm.train int", ebm_train(torch.zeros(8, 1, 28, 28, dtype=torch.long)), TypeError, r"floating-point"),
    ("ebm.train [0, 255]", ebm_train(images(8) * 255), ValueError, r"\[-1, 1\]"),
    ("ebm.train n_iters <0", ebm_train(n_iters=-1), ValueError, r"n_iters must be >= 0"),
    ("ebm.train batch 0", ebm_train(batch_size=0), ValueError, r"batch_size must be >= 1"),
    ("jem.sgld NaN", jem_sgld(spoil(images(2), NAN)), ValueError, r"x0 holds 1 NaN"),
    ("jem.sgld proximal NaN", jem_sgld(spoil(images(2), NAN), bound=0.03), ValueError, r"jem.sgld: x0 holds"),
    ("jem.sgld step <0", jem_sgld(step_size=-1.0), ValueError, r"step_size must be positive"),
    ("jem.sgld proximal n_steps <0", jem_sgld(n_steps=-1, bound=0.03), ValueError, r"n_steps must be >= 0"),
    ("jem.sgld proximal bound 0", jem_sgld(bound=0.0), ValueError, r"bound must be positive"),
    # ---------------------------------------------------------------- GANs
    ("GANTrainer NaN", gan_trainer(spoil(images(8), NAN)), ValueError, r"gan training: x holds 1 NaN"),
    ("GANTrainer batch 0", gan_trainer(batch_size=0), ValueError, r"batch_size must be >= 1"),
    ("GANTrainer run -1", lambda: gan_trainer()().run(-1), ValueError, r"GANTrainer.run: steps must be >= 0"),
    ("GANTrainer inf", gan_trainer(spoil(images(8), INF), kind="wgan-gp"), ValueError, r"gan training: x holds"),
    ("GANTrainer int", gan_trainer((images(8) * 255).long()), TypeError, r"gan training: x .*floating-point"),
    ("GANTrainer wrong shape", gan_trainer(torch.rand(8, 3, 32, 32)), ValueError,
     r"training images must be \(N, 1, 28, 28\), got \(8, 3, 32, 32\)"),
    ("GANTrainer empty", gan_trainer(torch.empty(0, 1, 28, 28)), ValueError, r"need at least batch_size=4 images, got 0"),
    ("GANTrainer kind", gan_trainer(kind="vae"), ValueError, r"kind must be 'gan', 'wgan' or 'wgan-gp', got 'vae'"),
    # ---------------------------------------------------------------- estimation
    ("estimate_means real NaN", means(real=spoil(pts(40), NAN)), ValueError, r"estimate_means: real holds 1 NaN"),
    ("estimate_means real inf", means(real=spoil(pts(40), INF)), ValueError, r"estimate_means: real holds"),
    ("estimate_means init NaN", means(init=spoil(pts(2), NAN)), ValueError, r"estimate_means: init holds"),
    ("estimate_means real empty", means(real=torch.empty(0, 2)), ValueError, r"empty batch"),
    ("estimate_means wrong d", means(init=pts(2, 3)), ValueError, r"same d"),
    ("estimate_means method", means(method="mle"), ValueError, r"method must be one of"),
    ("estimate_means max_iters <0", means(max_iters=-1), ValueError, r"max_iters must be >= 0"),
    ("estimate_means window 0", means(window=0), ValueError, r"window must be >= 1"),
    ("estimate_means n_synthetic 0", means(n_synthetic=0), ValueError, r"n_synthetic must be >= 1"),
    ("estimate_means cd step 0", means("cd", step_size=0.0), ValueError, r"mala: step_size must be positive"),
    ("estimate_means cd step <0", means("cd", step_size=-0.005), ValueError, r"mala: step_size must be positive"),
    ("em_means NaN", lambda: estimation.em_means(spoil(pts(40), NAN), pts(2)), ValueError, r"em_means: real holds"),
]


@pytest.mark.parametrize("call, error, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(call, error, pattern):
    with pytest.raises(error) as e:
        call()
    assert type(e.value) in (ValueError, TypeError) or issubclass(type(e.value), (ValueError, TypeError))
    assert re.search(pattern, str(e.value), re.S), f"message does not say {pattern!r}:\n{e.value}"


def test_the_case_ids_are_unique_and_cover_every_entry_point():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    for entry in ("langevin", "langevin_step", "mala", "mala_proposal_terms", "annealed", "kde", "kde_grid",
                  "train_flow", "density_on_grid", "train_dsm", "train_sliced", "train_annealed_sliced", "ebm.sgld",
                  "ebm.train", "jem.sgld", "GANTrainer", "estimate_means", "em_means"):
        assert any(i.split(" ")[0] == entry for i in ids), entry


# ----------------------------------------------------------------------------- devices

CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("name", ["cuda", "CUDA", "cuda:0", "gpu", "GPU"])
def test_an_unavailable_gpu_is_refused_at_once_with_the_choices(name):
    if CUDA:
        assert utils.get_device(name).type == "cuda"
        return
    with pytest.raises(ValueError) as e:
        utils.get_device(name)
    msg = str(e.value)
    assert repr(name) in msg and "not available" in msg and "'cpu'" in msg and "auto" in msg


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "cuda:", "cpu:a", "xla", "gpu:0 "])
def test_an_unknown_device_gets_the_projects_choices(name):
    with pytest.raises(ValueError) as e:
        utils.get_device(name)
    msg = str(e.value)
    assert "unknown device" in msg or "not available" in msg
    assert all(c in msg for c in utils.DEVICE_CHOICES)  # the project's list, not torch's


def test_cuda_beyond_the_device_count_and_mps_are_refused():
    with pytest.raises(ValueError, match="not available"):
        utils.get_device(f"cuda:{torch.cuda.device_count() + 3}")
    if not (torch.backends.mps.is_available()):
        with pytest.raises(ValueError, match="MPS"):
            utils.get_device("MPS")


@pytest.mark.parametrize("bad", [3, 1.5, ["cpu"]])
def test_a_device_that_is_not_a_string_is_a_type_error(bad):
    with pytest.raises(TypeError, match="string or a torch.device"):
        utils.get_device(bad)


def test_device_names_in_any_case_mean_the_device():
    assert utils.get_device("CPU") == torch.device("cpu") == utils.get_device(" Cpu ")
    assert utils.get_device(torch.device("cpu")) == torch.device("cpu")
    assert utils.get_device("auto") == utils.get_device() == utils.get_device("AUTO")
    assert utils.get_device() == torch.device("cuda" if CUDA else "cpu")


# ----------------------------------------------------------------------------- good input still works

def test_zero_steps_return_the_start_and_good_input_still_samples():
    x0 = pts()
    assert torch.equal(samplers.langevin(x0, score, 0.01, 0), x0)
    out = samplers.mala(x0, log_prob, 0.5, 0)
    assert torch.equal(out.samples, x0) and out.acceptance_rate == 0.0
    assert torch.equal(samplers.annealed_langevin(x0, cond_score, [1.0], 0.01, 0)[0], x0)
    one_d = torch.randn(8)  # a batch of scalars: the score has x's shape (8,)
    assert samplers.langevin(one_d, lambda x: -x, 0.01, 2).shape == (8,)
    res = samplers.mala(pts(200), log_prob, 0.5, 20, generator=utils.generator(0))
    assert res.acceptance_rate > 0.5  # a per-chain log_prob: chains move and are accepted
    assert samplers.langevin(pts(), score, 0.01, 3, noise_scale=0.0).shape == (16, 2)  # noise 0 is allowed


def test_mala_with_a_scalar_log_prob_is_refused_rather_than_stuck():
    """The silent failure of issue 32: with a scalar log_prob every proposal was rejected (acceptance 0.000)."""
    with pytest.raises(ValueError, match="one value per chain"):
        samplers.mala(pts(200), lambda x: log_prob(x).sum(), 0.5, 20)


def test_train_flow_raises_instead_of_returning_untrained_weights():
    """Issue 32: one NaN among 6,000 points gave best_epoch = -1 and the initial weights; now an error."""
    data = spoil(pts(6000), NAN, at=1001)
    model = flow()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="1 NaN"):
        flows.train_flow(model, data, epochs=1, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_density_on_grid_keeps_far_points_at_zero_but_refuses_nan_points():
    model = flow()
    far = torch.tensor([[1e30, 1e30], [0.0, 0.0]])
    d = flows.density_on_grid(model, far)
    assert d.shape == (2,) and torch.isfinite(d).all()
    with torch.no_grad():
        at_origin = model.log_probability(far[1:]).exp()
    assert d[0] == 0 and torch.allclose(d[1:], at_origin) and at_origin.item() > 0
    with pytest.raises(ValueError, match="points holds 1 NaN"):
        flows.density_on_grid(model, torch.tensor([[float("nan"), 0.0], [0.0, 0.0]]))


# ----------------------------------------------------------------------------- checkpoints

def test_a_corrupt_checkpoint_record_names_the_file_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_ROOT", str(tmp_path))
    checkpoints.save_checkpoint(torch.nn.Linear(2, 2), "tiny.pt", {"seed": 0})
    rec = tmp_path / "checkpoints" / "tiny.json"
    assert checkpoints.load_record("tiny.pt")["seed"] == 0
    rec.write_text(rec.read_text()[:40])  # cut short
    for load in (lambda: checkpoints.load_record("tiny.pt"), lambda: checkpoints.load_state_dict("tiny.pt")):
        with pytest.raises(checkpoints.CheckpointError) as e:
            load()
        msg = str(e.value)
        assert str(rec) in msg and "not valid JSON" in msg and re.search(r"line \d+, column \d+", msg)
        assert "git checkout -- checkpoints/tiny.json" in msg and "make checkpoints" in msg
        assert "JSONDecodeError" not in msg
    rec.write_text("[1, 2]")
    with pytest.raises(checkpoints.CheckpointError, match="holds a JSON list"):
        checkpoints.load_record("tiny.pt")


def test_the_corrupt_checkpoint_fix_names_a_path_that_exists(monkeypatch):
    """The fix printed for a corrupt shipped checkpoint is `git checkout -- checkpoints/<name>`, a real path."""
    monkeypatch.delenv("GENMODELS_ROOT", raising=False)
    name = "mnist_classifier.pt"
    assert (ROOT / "checkpoints" / name).exists()
    monkeypatch.setattr(checkpoints, "sha256sum", lambda path: "0" * 64)  # as if the file had changed
    with pytest.raises(checkpoints.CheckpointError) as e:
        checkpoints.load_state_dict(name)
    msg = str(e.value)
    fix = re.search(r"git checkout -- (\S+?)`", msg)
    assert fix, msg
    assert fix.group(1) == f"checkpoints/{name}" and (ROOT / fix.group(1)).exists()
    assert str(ROOT) in msg  # where to run it


def test_a_missing_checkpoint_says_how_to_restore_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_ROOT", str(tmp_path))
    with pytest.raises(checkpoints.CheckpointError) as e:
        checkpoints.load_state_dict("absent.pt")
    assert "git checkout -- checkpoints/absent.pt" in str(e.value) and "make checkpoints" in str(e.value)



def test_ebm_sgld_takes_numpy_and_tensor_step_sizes_and_names_a_bad_one():
    import numpy as np

    from helpers import ebm

    x0 = torch.zeros(2, 1, 4, 4)
    energy = lambda x: (x ** 2).flatten(1).sum(1)  # noqa: E731
    for eps in (np.float32(0.01), torch.tensor(0.01), 0.01):
        assert ebm.sgld(energy, x0, eps, 2, generator=torch.Generator().manual_seed(0)).shape == x0.shape
    with pytest.raises(TypeError, match="ebm.sgld: eps must be a number or a schedule"):
        ebm.sgld(energy, x0, "0.01x", 2)
