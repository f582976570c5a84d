"""Device safety, checked on a CPU: the `meta` device plays the GPU.

Some bugs only show on CUDA: a CPU torch.Generator feeding a draw on the GPU ("Expected a 'cuda' device type
for generator but found 'cpu'"), .numpy() (hence sklearn and scipy) on a device tensor, a model and its data on
different devices. The fixture `accelerator` turns the `meta` device into a stand-in GPU that fails the same
ways, on any machine:

- every random draw given a generator checks that the generator lives on the device the draw is made on
  (the `device` argument, the like-tensor's or the in-place tensor's device), as CUDA does, and raises
  CUDA's message otherwise; `torch.Generator(device="meta")` gives a generator on the stand-in device;
- meta tensors compute shapes only and refuse to mix with CPU tensors in one operation, as CUDA tensors do;
  `.numpy()` on them raises, as on CUDA;
- reading a value back to the host (.item(), float(), .tolist(), .cpu(), .to("cpu")) gives zeros, so that
  training loops run to the end: the test checks where tensors and draws live, not what they hold.

Then every training loop and sampler of the project runs a few iterations with its model on the stand-in GPU.
`helpers.utils` draws on the generator's device and moves the result, so CPU generators are safe; the training
loops that own their generator put it on the model's device (no host round trip per Langevin step).
The last tests scan the sources for CUDA-only failures the runs above would not reach.
"""
from __future__ import annotations

import ast
import functools
import json
import sys
from pathlib import Path

import pytest
import torch

from helpers import utils

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
META = torch.device("meta")
_RealGenerator = torch.Generator


class _StandInGenerator(_RealGenerator):
    """torch.Generator that also accepts device='meta' (a CPU generator underneath that reports the meta device)."""

    def __new__(cls, device=None):
        d = torch.device(device if device is not None else "cpu")
        return _RealGenerator.__new__(cls) if d.type == "meta" else _RealGenerator.__new__(cls, device=d)

    def __init__(self, device=None):
        self._device = torch.device(device if device is not None else "cpu")

    @property
    def device(self) -> torch.device:
        return self._device


def _device_of(d) -> torch.device:
    return torch.device(d) if d is not None else torch.get_default_device()


def _check(gen, target: torch.device, what: str) -> None:
    if gen is not None and gen.device.type != target.type:
        raise RuntimeError(f"Expected a '{target.type}' device type for generator but found '{gen.device.type}' "
                           f"(in {what}; stand-in GPU of tests/test_device.py)")


def _factory(fn, name):
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        _check(kwargs.get("generator"), _device_of(kwargs.get("device")), f"torch.{name}")
        return fn(*args, **kwargs)
    return wrapped


def _like(fn, name):
    @functools.wraps(fn)
    def wrapped(x, *args, **kwargs):
        target = _device_of(kwargs["device"]) if kwargs.get("device") is not None else x.device
        _check(kwargs.get("generator"), target, f"torch.{name}")
        return fn(x, *args, **kwargs)
    return wrapped


def _on_input(fn, name):
    @functools.wraps(fn)
    def wrapped(x, *args, **kwargs):
        if isinstance(x, torch.Tensor):
            _check(kwargs.get("generator"), x.device, name)
        return fn(x, *args, **kwargs)
    return wrapped


def _normal(fn):
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        tensors = [a for a in (*args, kwargs.get("mean"), kwargs.get("std")) if isinstance(a, torch.Tensor)]
        target = tensors[0].device if tensors else _device_of(kwargs.get("device"))
        _check(kwargs.get("generator"), target, "torch.normal")
        return fn(*args, **kwargs)
    return wrapped


def _zeros_like_host(x: torch.Tensor, device="cpu", dtype=None) -> torch.Tensor:
    return torch.zeros(x.shape, dtype=dtype or x.dtype, device=device)


@pytest.fixture
def accelerator(monkeypatch) -> torch.device:
    """The meta device as a stand-in GPU (see the module's docstring); returns torch.device('meta')."""
    monkeypatch.setattr(torch, "Generator", _StandInGenerator)
    for name in ("randn", "rand", "randint", "randperm"):
        monkeypatch.setattr(torch, name, _factory(getattr(torch, name), name))
    for name in ("randn_like", "rand_like", "randint_like"):
        monkeypatch.setattr(torch, name, _like(getattr(torch, name), name))
    for name in ("multinomial", "bernoulli", "poisson"):
        monkeypatch.setattr(torch, name, _on_input(getattr(torch, name), f"torch.{name}"))
    monkeypatch.setattr(torch, "normal", _normal(torch.normal))
    for name in ("normal_", "uniform_", "random_", "bernoulli_", "exponential_", "geometric_", "log_normal_",
                 "cauchy_", "multinomial", "bernoulli"):
        monkeypatch.setattr(torch.Tensor, name, _on_input(getattr(torch.Tensor, name), f"Tensor.{name}"))

    real_item, real_tolist, real_cpu, real_to = torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.cpu, torch.Tensor.to
    real_float, real_int, real_bool = torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.__bool__

    def item(self):
        return real_item(_zeros_like_host(self)) if self.is_meta else real_item(self)

    def tolist(self):
        return real_tolist(_zeros_like_host(self)) if self.is_meta else real_tolist(self)

    def cpu(self, *args, **kwargs):
        return _zeros_like_host(self) if self.is_meta else real_cpu(self, *args, **kwargs)

    def to(self, *args, **kwargs):
        if self.is_meta:
            parse = {k: v for k, v in kwargs.items() if k != "copy"}
            device, dtype, _, _ = torch._C._nn._parse_to(*args, **parse)
            if device is not None and device.type != "meta":
                return _zeros_like_host(self, device, dtype)
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "item", item)
    monkeypatch.setattr(torch.Tensor, "tolist", tolist)
    monkeypatch.setattr(torch.Tensor, "cpu", cpu)
    monkeypatch.setattr(torch.Tensor, "to", to)
    monkeypatch.setattr(torch.Tensor, "__float__", lambda self: item(self) if self.is_meta else real_float(self))
    monkeypatch.setattr(torch.Tensor, "__int__", lambda self: item(self) if self.is_meta else real_int(self))
    monkeypatch.setattr(torch.Tensor, "__bool__", lambda self: bool(item(self)) if self.is_meta else real_bool(self))
    real_setitem = torch.Tensor.__setitem__

    def setitem(self, key, value):  # host_tensor[i] = device_value copies across devices, as on CUDA
        if isinstance(value, torch.Tensor) and value.is_meta and not self.is_meta:
            value = _zeros_like_host(value, self.device)
        return real_setitem(self, key, value)

    monkeypatch.setattr(torch.Tensor, "__setitem__", setitem)
    real_autocast = torch.autocast  # CUDA has autocast; the stand-in borrows the CPU's
    monkeypatch.setattr(torch, "autocast", lambda device_type, *a, **k: real_autocast(
        "cpu" if device_type == "meta" else device_type, *a, **k))
    return META


def _images(n=16, channels=1, size=28, seed=0, signed=True):
    x = torch.rand(n, channels, size, size, generator=_RealGenerator().manual_seed(seed))
    return x * 2 - 1 if signed else x


# ----------------------------------------------------------------------------- the stand-in fails like CUDA

def test_stand_in_rejects_a_cpu_generator_on_the_device(accelerator):
    g = torch.Generator().manual_seed(0)
    with pytest.raises(RuntimeError, match="Expected a 'meta' device type for generator but found 'cpu'"):
        torch.randn(3, generator=g, device=accelerator)
    with pytest.raises(RuntimeError, match="found 'cpu'"):
        torch.rand_like(torch.zeros(3, device=accelerator), generator=g)
    with pytest.raises(RuntimeError, match="found 'cpu'"):
        torch.empty(3, device=accelerator).normal_(generator=g)
    with pytest.raises(RuntimeError, match="found 'meta'"):
        torch.randn(3, generator=torch.Generator(device=accelerator))  # a device generator for a host draw


def test_stand_in_rejects_mixed_devices_and_numpy(accelerator):
    with pytest.raises(RuntimeError):
        torch.ones(2, device=accelerator) + torch.ones(2)
    with pytest.raises((RuntimeError, TypeError, NotImplementedError)):
        torch.ones(2, device=accelerator).numpy()
    assert torch.ones(2, device=accelerator).sum().item() == 0.0  # host reads give zeros
    assert torch.ones(2, device=accelerator).cpu().device.type == "cpu"


def test_utils_draw_with_any_generator_on_the_device(accelerator):
    for g in (utils.generator(0), utils.generator(0, accelerator), None):
        assert utils.randn(2, 3, generator=g, device=accelerator).device == accelerator
        assert utils.rand(4, generator=g, device=accelerator).device == accelerator
        assert utils.randint(0, 5, (4,), generator=g, device=accelerator).device == accelerator
        assert utils.randperm(6, generator=g, device=accelerator).device == accelerator
        assert utils.randn_like(torch.empty(2, device=accelerator), g).device == accelerator
        assert utils.rand_like(torch.empty(2, device=accelerator), g).device == accelerator
    probs = torch.tensor([0.2, 0.8])
    assert utils.multinomial(probs, 5, True, generator=utils.generator(0, accelerator)).device.type == "cpu"


def test_utils_draws_keep_the_cpu_numbers():
    """Drawing on the generator's device, then moving, gives exactly the plain CPU draws."""
    ref = torch.Generator().manual_seed(5)
    g = utils.generator(5)
    assert torch.equal(utils.randn(3, 4, generator=g, device="cpu"), torch.randn(3, 4, generator=ref))
    assert torch.equal(utils.rand(7, generator=g), torch.rand(7, generator=ref))
    assert torch.equal(utils.randint(0, 9, (5,), generator=g), torch.randint(0, 9, (5,), generator=ref))
    assert torch.equal(utils.randperm(8, generator=g), torch.randperm(8, generator=ref))
    w = torch.tensor([0.1, 0.3, 0.6])
    assert torch.equal(utils.multinomial(w, 6, True, generator=g), torch.multinomial(w, 6, True, generator=ref))


# ----------------------------------------------------------------------------- samplers

@pytest.mark.parametrize("gen_on", ["cpu", "device", "none"])
def test_samplers_on_the_device(accelerator, gen_on):
    from helpers import samplers

    g = {"cpu": utils.generator(0), "device": utils.generator(0, accelerator), "none": None}[gen_on]
    x0 = torch.zeros(8, 2, device=accelerator)
    assert samplers.langevin(x0, lambda x: -x, 0.1, 3, clamp=(-3, 3), generator=g).device == accelerator
    out, traj = samplers.langevin(x0, lambda x: -x, 0.1, 2, every=1, generator=g)
    assert out.device == accelerator and len(traj) == 3
    res = samplers.mala(x0, lambda x: -(x ** 2).sum(1) / 2, 0.1, 3, generator=g)
    assert res.samples.device == accelerator
    res = samplers.mala(x0, lambda x: -(x ** 2).sum(1) / 2, 0.1, 2, generator=g, score=lambda x: -x)
    assert res.samples.device == accelerator
    x, levels = samplers.annealed_langevin(x0, lambda x, s: -x / s ** 2, [1.0, 0.5], 0.01, 2, generator=g)
    assert x.device == accelerator and len(levels) == 3


# ----------------------------------------------------------------------------- EBMs (notebook 06, HW5)

def test_ebm_train_on_the_device(accelerator):
    from helpers import ebm

    model = ebm.CNNEnergy(hidden=4).to(accelerator)
    sampler = ebm.SamplerConfig(n_steps=2)
    for use_buffer in (True, False):
        hist = ebm.train(model, _images(), n_iters=3, batch_size=4, sampler=sampler, use_buffer=use_buffer,
                         buffer_size=8, show_progress=False, snapshot_every=1)
        assert hist.iterations == 3 and all(s.device.type == "cpu" for s in hist.snapshots.values())
    decay = ebm.SamplerConfig(n_steps=2, eps=(0.01, 0.001))
    model = ebm.ResNetEnergy(in_channels=3, width=4, blocks_per_stage=1).to(accelerator)
    ebm.train(model, _images(channels=3, size=32), n_iters=2, batch_size=4, sampler=decay, buffer_size=8,
              show_progress=False)


def test_ebm_conditional_train_and_sample_on_the_device(accelerator):
    from helpers import ebm

    model = ebm.ConditionalEnergy(ebm.CNNEnergy(hidden=4, n_outputs=10)).to(accelerator)
    y = torch.arange(16) % 10
    hist = ebm.train(model, _images(), y, n_iters=2, batch_size=4, sampler=ebm.SamplerConfig(n_steps=2),
                     buffer_size=8, show_progress=False, ce_weight=1.0)
    assert hist.iterations == 2
    x = ebm.sample_conditional(model, torch.arange(4), ebm.SamplerConfig(n_steps=2))
    assert x.device == accelerator and x.shape == (4, 1, 28, 28)
    x, traj = ebm.sample_conditional(model, torch.arange(4), ebm.SamplerConfig(n_steps=2), every=1)
    assert len(traj) == 3
    e = ebm.energy_scores(model, _images(8))
    assert e.device.type == "cpu"
    ebm.auroc(e[:4], e[4:])
    ebm.noisy(torch.zeros(2, 1, 28, 28, device=accelerator), generator=utils.generator(0))


def test_ebm_train_draws_its_noise_on_the_model_device(accelerator, monkeypatch):
    """ebm.train owns its generator: it lives on the model's device, so no Langevin step draws on the host."""
    from helpers import ebm

    seen = []
    real = ebm.langevin

    def spy(x0, *args, generator=None, **kwargs):
        seen.append((x0.device.type, generator.device.type))
        return real(x0, *args, generator=generator, **kwargs)

    monkeypatch.setattr(ebm, "langevin", spy)
    model = ebm.CNNEnergy(hidden=4).to(accelerator)
    ebm.train(model, _images(), n_iters=2, batch_size=4, sampler=ebm.SamplerConfig(n_steps=1), buffer_size=8,
              show_progress=False)
    ebm.sample_conditional(ebm.ConditionalEnergy(ebm.CNNEnergy(hidden=4, n_outputs=10)).to(accelerator),
                           torch.arange(2), ebm.SamplerConfig(n_steps=1))
    assert seen == [("meta", "meta")] * 3


# ----------------------------------------------------------------------------- JEM (notebook 07)

@pytest.mark.parametrize("method", ["jem", "jempp"])
def test_jem_fit_on_the_device(accelerator, method):
    from helpers import jem

    x, y = _images(32, signed=False), torch.arange(32) % 10
    if method == "jem":
        config, gmm = jem.SamplerConfig.jem(n_steps=2, buffer_size=16), None
    else:
        config, gmm = jem.SamplerConfig.jempp(n_steps=2), jem.ClassGaussianMixture().fit(x, y)
    g = utils.generator(0)
    sampler = jem.NegativeSampler(config, gmm=gmm, generator=g, device=accelerator)
    model = jem.JEMCNN(width=4).to(accelerator)
    assert sampler.sample(model, 4).device == accelerator
    res = jem.fit(model, x, y, x[:8], y[:8], sampler, iters=2, batch=4, eval_every=1, generator=g,
                  show_progress=False)
    assert res["iterations"] == 2
    assert jem.sgld(model, torch.zeros(2, 1, 28, 28, device=accelerator), 2, bound=0.03,
                    generator=utils.generator(1, accelerator)).device == accelerator


def test_classifier_training_on_the_device(accelerator):
    from helpers import classifier

    model = classifier.SmallCNN(width=4).to(accelerator)
    losses = classifier.train_classifier(model, _images(16, signed=False), torch.arange(16) % 10, epochs=1,
                                         batch_size=8, show_progress=False)
    assert len(losses) == 1
    assert classifier.augment(torch.zeros(3, 1, 28, 28, device=accelerator), 2,
                              utils.generator(0)).device == accelerator


# ----------------------------------------------------------------------------- score matching (notebooks 04, 05)

def test_score_matching_on_the_device(accelerator):
    from helpers import score_matching as sm

    net = sm.score_mlp(hidden=8).to(accelerator)
    x = torch.zeros(6, 2, device=accelerator)
    for g in (utils.generator(0), utils.generator(0, accelerator)):
        sm.sliced_score_matching(net, x, nv=2, generator=g)
        sm.denoising_score_matching(net, x, 0.1, generator=g)
    cond = sm.NoiseConditionalScoreNet(hidden=8).to(accelerator)
    sm.annealed_sliced_score_matching(cond, x, torch.full((6,), 0.5), generator=utils.generator(0))
    sample = lambda n: torch.randn(n, 2)  # noqa: E731  (CPU data, as the notebooks' samplers return)
    assert len(sm.train_sliced(net, sample, batch_size=4, n_steps=2, show_progress=False)) == 2
    assert len(sm.train_annealed_sliced(cond, sample, [1.0, 0.1], batch_size=4, n_steps=2,
                                        show_progress=False)) == 2
    assert len(sm.train_dsm(net, x, 0.1, n_steps=2, batch_size=4, show_progress=False)) == 2


def test_distributions_sample_with_any_generator(accelerator):
    from helpers import distributions as dist

    mix = dist.GaussianMixture([[0.0, 0.0], [2.0, 2.0]], 0.5)
    for g in (utils.generator(0), utils.generator(0, accelerator)):
        assert mix.sample(5, g).shape == (5, 2)
        assert dist.Gaussian([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]]).sample(5, g).shape == (5, 2)


# ----------------------------------------------------------------------------- GANs (notebook 09), VQ-VAE (08)

@pytest.mark.parametrize("kind", ["gan", "wgan", "wgan-gp"])
def test_gan_training_on_the_device(accelerator, kind):
    from helpers import gan

    G = gan.Generator(z_dim=4, hidden=(8, 8)).to(accelerator)
    D = (gan.Discriminator if kind == "gan" else gan.Critic)(hidden=(8, 8)).to(accelerator)
    t = gan.GANTrainer(kind, G, D, _images(16, signed=False), batch_size=4, n_critic=2,
                       noise_std=0.1 if kind == "gan" else 0.0)
    out = t.run(2)
    assert t.generator_steps == 2 and t.history["step"] == [2] and len(t.history["loss_g"]) == 1
    assert {"loss_d", "loss_g"} <= out.keys()
    assert G.sample(3, generator=utils.generator(0)).device.type in ("meta", "cpu")


def test_vqvae_training_on_the_device(accelerator):
    from helpers import vqvae

    model = vqvae.VQVAE(num_codes=8, dim=4, hidden=8).to(accelerator)
    hist = vqvae.train_vqvae(model, _images(16, signed=False), epochs=1, batch_size=4, restart_every=2,
                             show_progress=False)
    assert len(hist["rec"]) == 1


# ----------------------------------------------------------------------------- flows (01), CD (03), HW2 energy (02)

def test_flows_on_the_device(accelerator):
    from helpers import flows

    flow = flows.CouplingFlow(2, hidden=8).to(accelerator)
    for g in (utils.generator(0), utils.generator(0, accelerator)):
        x, log_q = flow.sample_x(5, generator=g)
        assert x.device == accelerator and len(flow.sample_x_each_step(3, generator=g)) >= 2
    flows.train_flow(flow, torch.randn(40, 2), epochs=1, batch_size=8, generator=utils.generator(0),
                     progress=False, engine="torch")
    assert all(p.device == accelerator for p in flow.parameters())  # trained where it lives (meta: no values)


@pytest.mark.parametrize("method", ["ml-direct", "ml-mcmc", "cd"])
def test_mixture_mean_estimation_on_the_device(accelerator, method):
    from helpers import estimation

    real = torch.zeros(50, 2, device=accelerator)
    fit = estimation.estimate_means(method, real, torch.ones(4, 2, device=accelerator), n_synthetic=10,
                                    chain_length=2, max_iters=3, generator=utils.generator(0))
    # the stand-in device holds no values: where the work ran and its shapes are what can be checked
    assert fit.means.device == accelerator and fit.samples.device == accelerator
    assert fit.history.shape == (fit.iterations + 1, 4, 2) and 1 <= fit.iterations <= 3


def test_hw2_energy_sampler_on_the_device(accelerator):
    from helpers import energy

    model = energy.ResNet(1).to(accelerator)
    assert energy.sample_hw2(model, 2, 2, device=accelerator).device == accelerator


# ----------------------------------------------------------------------------- static checks

SOURCES = sorted(p.relative_to(ROOT).as_posix() for d in ("helpers", "scripts", "notebooks/src", "benchmarks")
                 for p in (ROOT / d).glob("*.py"))
# Known offenders in modules owned elsewhere: strict xfails, to be removed when the module is converted.
KNOWN = {
}


def _params(kind: str, paths: list[str]) -> list:
    return [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN[(kind, p)])) if (kind, p) in KNOWN
            else p for p in paths]


DRAWS = {"randn", "rand", "randint", "randperm", "normal", "randn_like", "rand_like", "randint_like",
         "multinomial", "bernoulli", "poisson"}


def _calls(path: str):
    tree = ast.parse((ROOT / path).read_text(), filename=path)
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _name(func) -> str:
    return ast.unparse(func) if isinstance(func, (ast.Attribute, ast.Name)) else ""


def test_sources_are_found():
    assert "helpers/ebm.py" in SOURCES and "scripts/train_ebm_cifar.py" in SOURCES and len(SOURCES) > 20


@pytest.mark.parametrize("path", _params("map_location", SOURCES))
def test_torch_load_names_a_map_location(path):
    """torch.load without map_location puts CUDA-saved tensors back on CUDA, which fails on a CPU-only machine."""
    bad = [f"{path}:{c.lineno}" for c in _calls(path)
           if _name(c.func) == "torch.load" and not any(k.arg == "map_location" for k in c.keywords)]
    assert not bad, f"torch.load without map_location= at {bad}: pass map_location='cpu' (or the device)"


@pytest.mark.parametrize("path", _params("draw", [p for p in SOURCES if p != "helpers/utils.py"]))
def test_no_seeded_draw_names_its_own_device(path):
    """A torch draw given both a generator and a device (or a like-tensor) crashes on CUDA whenever the generator
    lives elsewhere: such draws go through helpers.utils (randn, rand, randint, randperm, *_like, multinomial)."""
    bad = []
    for c in _calls(path):
        name = _name(c.func)
        if not name.startswith("torch.") or name.split(".")[-1] not in DRAWS:
            continue
        kw = {k.arg for k in c.keywords}
        if "generator" in kw and ("device" in kw or name.endswith("_like")):
            bad.append(f"{path}:{c.lineno} {name}")
    assert not bad, f"seeded draws that name a device: {bad}; use helpers.utils.randn(..., generator=g, device=d)"


# ----------------------------------------------------------------------------- make gpu-check

def test_gpu_check_without_cuda_says_so_and_exits_0(monkeypatch, capsys, tmp_path):
    import gpu_check

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("gpu-check: no CUDA device here") and "nothing was run" in out[0]
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow  # a training subprocess: 25-35 s
def test_gpu_check_report_with_a_stand_in_gpu(monkeypatch, tmp_path):
    """The CUDA path of scripts/gpu_check.py with torch.cuda faked in this process (the training subprocesses run
    train_ebm_cifar.py --smoke on the CPU): the training step, recorded in the report."""
    import types

    import gpu_check

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "stand-in GPU")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda *_: types.SimpleNamespace(total_memory=2 ** 34))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *_: (2 ** 33, 2 ** 34))
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: None)
    monkeypatch.setenv("GENMODELS_OFFLINE", "1")
    report = tmp_path / "gpu_check.json"
    rc = gpu_check.main(["--skip-tests", "--skip-notebooks", "--variants", "noise", "--minutes", "1",
                         "--train-args=--smoke", "--out", str(report)])
    rec = json.loads(report.read_text())
    steps = rec["steps"]
    assert rc == 0 and rec["all_ok"] and rec["gpu"] == "stand-in GPU", steps
    assert [s["step"] for s in steps] == ["notebook 06: CIFAR-10 EBM training, noise"]
    assert all(s["iterations"] == 3 and s["data"].startswith("FakeData") and s["peak_gpu_memory_mib"] == 0
               for s in steps)
