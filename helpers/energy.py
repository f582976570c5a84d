"""HW2's ResNet energy E(x) for 28x28 MNIST digits in [0, 1], its checkpoint, the held-out split,
the denoising attachment, and the sample-quality bar measured with the shipped MNIST classifier.

The architecture is the homework's, parameter for parameter, with one fix: the printed shortcut
convolution of a down-sampling block (kernel 2, stride 2, padding 1) gives 17x17 maps where the
main path (kernel 4, stride 2, padding 1) gives 16x16, so the network as printed cannot run.
Padding 0 on that shortcut makes the shapes agree and changes no parameter shape.
"""
from __future__ import annotations

import math
import operator
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import checkpoints as ckpt
from . import data
from .classifier import SmallCNN, predict_proba
from .samplers import langevin, score_from_energy
from . import utils
from .utils import repo_root

ENERGY_CKPT = "hw2_energy.pt"
CLASSIFIER_CKPT = "mnist_classifier.pt"
HELDOUT_SEED = 2022  # fixes which 1,000 MNIST test digits are never trained on
N_HELDOUT = 1000
HW2_NOISE = 2 / 256  # sqrt(2 eps) of Task 5
ATTACHMENT_FILE = "hw2_attachment.pt"


class ResNet(torch.nn.Module):
    """HW2's wide-ResNet energy: (B, C, 28, 28) -> E(x) of shape (B,) (down-sampling shortcut padding 0)."""

    def __init__(self, n_channels: int = 1):
        super().__init__()
        levels_params = [
            {"n_channels": 16, "n_blocks": 2, "downsample": False},
            {"n_channels": 32, "n_blocks": 2, "downsample": True},
            {"n_channels": 64, "n_blocks": 2, "downsample": True},
            {"n_channels": 64, "n_blocks": 2, "downsample": True},
        ]
        self._el = torch.nn.ModuleDict()
        self._el["in_conv"] = torch.nn.Conv2d(n_channels, 16, kernel_size=3, padding=3)
        n_channels = 16
        levels = torch.nn.ModuleList()
        for level_params in levels_params:
            level = torch.nn.ModuleDict()
            res_blocks = torch.nn.ModuleList()
            res_block = torch.nn.ModuleDict()
            n_out = level_params["n_channels"]
            if level_params["downsample"]:
                # the fix: padding 0 (printed: 1), so that 2x2/2 halves the map like the 4x4/2 main path
                res_block["shortcut_conv"] = torch.nn.Conv2d(n_channels, n_out, kernel_size=2, stride=2, padding=0)
            else:
                res_block["shortcut_conv"] = torch.nn.Conv2d(n_channels, n_out, kernel_size=1)
            res_block["conv_1"] = torch.nn.Conv2d(n_channels, n_out, kernel_size=3, padding=1)
            n_channels = n_out
            if level_params["downsample"]:
                res_block["conv_2"] = torch.nn.Conv2d(n_channels, n_channels, kernel_size=4, stride=2, padding=1)
            else:
                res_block["conv_2"] = torch.nn.Conv2d(n_channels, n_channels, kernel_size=3, stride=1, padding=1)
            res_blocks.append(res_block)
            for _ in range(level_params["n_blocks"] - 1):
                res_block = torch.nn.ModuleDict()
                res_block["conv_1"] = torch.nn.Conv2d(n_channels, n_channels, kernel_size=3, padding=1)
                res_block["conv_2"] = torch.nn.Conv2d(n_channels, n_channels, kernel_size=3, padding=1)
                res_blocks.append(res_block)
            level["res_blocks"] = res_blocks
            levels.append(level)
        self._el["levels"] = levels
        self._el["out_fc"] = torch.nn.Linear(n_channels, 1, bias=False)
        for module in self.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.xavier_uniform_(module.weight, gain=2 ** 0.5)
                if module.bias is not None:
                    module.bias.data.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[-2:] != (28, 28):
            raise ValueError(f"ResNet energy expects images (B, C, 28, 28), got {tuple(x.shape)}")
        x = self._el["in_conv"](x)
        for level in self._el["levels"]:
            for res_block in level["res_blocks"]:
                shortcut = x
                x = F.leaky_relu(x, 0.2)
                x = res_block["conv_1"](x)
                x = F.leaky_relu(x, 0.2)
                x = res_block["conv_2"](x)
                if "shortcut_conv" in res_block:
                    shortcut = res_block["shortcut_conv"](shortcut)
                x = x + shortcut
        x = F.leaky_relu(x, 0.2)
        x = x.reshape(x.shape[0], x.shape[1], -1).sum(dim=2)
        return self._el["out_fc"](x)[:, 0]


# ----------------------------------------------------------------------------- the box penalty, built in

BOX_CARRIER = 2  # the channel that carries sum_i [relu(x_i - 1) + relu(-x_i)] from level 1 to the output
_LEAKY = 0.2


def box_penalty(x: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """sum_i [relu(x_i - 1 - m) + relu(-m - x_i)] over each image's pixels, (B,): how far x lies outside
    [-m, 1 + m]^D, the box widened by the margin m on each side."""
    return (torch.relu(x - 1 - margin) + torch.relu(-margin - x)).reshape(x.shape[0], -1).sum(1)


def prox_box(y: torch.Tensor, t: float, margin: float = 0.0) -> torch.Tensor:
    """argmin_x |x - y|^2 / 2 + t * box_penalty(x, margin), pixel by pixel: y moved towards [-m, 1 + m] by at most t."""
    lo, hi = -margin, 1.0 + margin
    return torch.where(y < lo, (y + t).clamp(max=lo), torch.where(y > hi, (y - t).clamp(min=hi), y))


def box_slope(model: ResNet) -> float:
    """The slope c of a box built into the model by box_constraints, read from out_fc's weight on BOX_CARRIER."""
    return model._el["out_fc"].weight[0, BOX_CARRIER].item()


def box_margin(model: ResNet) -> float:
    """The margin m of a box built into the model by box_constraints, read from in_conv's bias on channel 1 (-m)."""
    return -model._el["in_conv"].bias[1].item()


def box_constraints(model: ResNet, c: float, margin: float = 0.0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{parameter name: (mask, value)}: the entries that make E(x) = c * box_penalty(x, margin) + (the rest) exactly.

    in_conv's channels 0 and 1 compute x - 1 - m and -m - x; level 1's first block turns them into their ReLUs
    (relu(h) = a leaky(leaky(h)) + b leaky(-leaky(h)), with a = (1 - s/(1+s))/(1-s), b = (s/(1+s))/(1-s) for
    the leaky slope s), summed into channel BOX_CARRIER; every later block adds nothing to that channel, the
    down-sampling shortcuts sum-pool it (2x2 ones), and out_fc weighs it by c. Padded border positions give 0.
    """
    s = _LEAKY
    a, b = (1 - s / (1 + s)) / (1 - s), (s / (1 + s)) / (1 - s)
    params = dict(model.named_parameters())
    out = {}

    def fix(name, rows, value_fn):
        p = params[name]
        mask, value = torch.zeros_like(p, dtype=torch.bool), torch.zeros_like(p)
        mask[rows] = True
        value_fn(value)
        out[name] = (mask, value)

    k = BOX_CARRIER

    def in_conv(v):
        v[0, 0, 1, 1], v[1, 0, 1, 1] = 1.0, -1.0
    fix("_el.in_conv.weight", slice(0, 2), in_conv)
    if margin < 0:
        raise ValueError(f"margin must be >= 0 (the walls sit at -margin and 1 + margin), got {margin}")

    def in_bias(v):
        v[0], v[1] = -1.0 - margin, -margin
    fix("_el.in_conv.bias", slice(0, 2), in_bias)

    def conv_1(v):  # rows 2..5: +l0, -l0, +l1, -l1 (centre taps), l = leaky(in_conv channel)
        v[2, 0, 1, 1], v[3, 0, 1, 1], v[4, 1, 1, 1], v[5, 1, 1, 1] = 1.0, -1.0, 1.0, -1.0
    fix("_el.levels.0.res_blocks.0.conv_1.weight", slice(2, 6), conv_1)
    fix("_el.levels.0.res_blocks.0.conv_1.bias", slice(2, 6), lambda v: None)

    def conv_2(v):  # row k: relu(l0) + relu(l1) from the four leaky units
        v[k, 2, 1, 1], v[k, 3, 1, 1], v[k, 4, 1, 1], v[k, 5, 1, 1] = a, b, a, b
    fix("_el.levels.0.res_blocks.0.conv_2.weight", k, conv_2)
    for name in params:
        if name.startswith("_el.levels.") and name not in out:
            level, block = int(name.split(".")[2]), int(name.split(".")[4])
            if "conv_2" in name or ("shortcut_conv" in name and level == 0):
                fix(name, k, lambda v: None)  # adds nothing to the carrier
            elif "shortcut_conv.weight" in name:  # a 2x2 sum pool of the carrier
                fix(name, k, lambda v: v[k, k].fill_(1.0))
            elif "shortcut_conv.bias" in name:
                fix(name, k, lambda v: None)
    fix("_el.out_fc.weight", (0, k), lambda v: v[0, k].fill_(c))
    return out


@torch.no_grad()
def impose(model: torch.nn.Module, constraints: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.nn.Module:
    """Set the constrained entries of the model's parameters to their values (after every optimizer step)."""
    params = dict(model.named_parameters())
    for name, (mask, value) in constraints.items():
        p = params[name]
        p.copy_(torch.where(mask.to(p.device), value.to(p.device, p.dtype), p))
    return model


# ----------------------------------------------------------------------------- sampling

def freeze(model: torch.nn.Module, channels_last: bool = True) -> torch.nn.Module:
    """Eval mode, no parameter gradients (only grad_x is needed), channels-last weights: the fast sampling set-up."""
    model.eval().requires_grad_(False)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def energy_fn(model: torch.nn.Module, channels_last: bool = True, bf16: bool = False):
    """x -> E(x) (B,) in float32, feeding the model channels-last input when asked.

    bf16=True runs the network under bfloat16 autocast (about 1.7x faster on CPUs with AMX/AVX512-BF16; the
    score is then off by a few percent, far below the Langevin noise, but energies lose their units digit, so
    never use it for MALA's acceptance test). The project uses it only for the negatives of the training loop.
    """
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def e(x):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            return model(x.contiguous(memory_format=fmt)).float()
    return e


CPU_CHUNK = 64  # chains per forward-backward pass on a CPU: 1.37 ms/chain at 60, 2.08 at 600 (2 cores, cache-bound)


def chunked(fn, chunk: int | None):
    """x -> fn applied to slices of at most `chunk` chains, concatenated (None: one pass over the whole batch)."""
    if chunk is None:
        return fn
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive number of chains or None, got {chunk}")
    # near-equal slices (600 -> 10 x 60, 100 -> 2 x 50), never more than `chunk` chains each
    return lambda x: fn(x) if len(x) <= chunk else torch.cat([fn(c) for c in x.chunk(math.ceil(len(x) / chunk))])


def energy_score(model: torch.nn.Module, channels_last: bool = True, bf16: bool = False,
                 chunk: int | None | str = "auto"):
    """x -> grad_x log p(x) = -grad_x E(x) by autograd (freeze the model first for speed).

    The sampler still moves all chains together; only the network sees them in slices of `chunk` chains
    ("auto": CPU_CHUNK on a CPU, where big batches fall out of cache; the whole batch on a GPU).
    """
    if chunk == "auto":
        device = next(model.parameters()).device
        chunk = CPU_CHUNK if device.type == "cpu" else None
    return chunked(score_from_energy(energy_fn(model, channels_last, bf16)), chunk)


def hw2_step_size(noise: float = HW2_NOISE) -> float:
    """eps from sqrt(2 eps) = noise."""
    return noise ** 2 / 2


def sample_hw2(model: torch.nn.Module, n: int, n_steps: int, noise: float = HW2_NOISE, seed: int = 0,
               device=None, show_progress: bool = False, channels_last: bool = False) -> torch.Tensor:
    """Task 5's sampler: n chains from U[0, 1], n_steps of x + eps grad log p + sqrt(2 eps) N, no clamping."""
    device = device or next(model.parameters()).device
    g = utils.generator(seed, device)
    x0 = utils.rand((n, 1, 28, 28), generator=g, device=device)
    return langevin(x0, energy_score(model, channels_last), hw2_step_size(noise), n_steps, generator=g,
                    show_progress=show_progress, desc="Langevin (quality bar)")


# ----------------------------------------------------------------------------- data

def heldout_split(n_test: int = 10_000, n_heldout: int = N_HELDOUT, seed: int = HELDOUT_SEED):
    """(train_idx, heldout_idx) into the MNIST test set: 1,000 digits kept out of all training."""
    perm = utils.randperm(n_test, generator=utils.generator(seed))
    return perm[n_heldout:].sort().values, perm[:n_heldout].sort().values


class MNISTSplit(NamedTuple):
    x_train: torch.Tensor  # the training set (offline: the 5k subset) + the test digits not held out
    y_train: torch.Tensor
    x_heldout: torch.Tensor  # the 1,000 held-out test digits
    y_heldout: torch.Tensor
    n_test_in_train: int  # how many test digits joined the training set


def mnist_split() -> MNISTSplit:
    """The MNIST split every model of the project trains and evaluates on (see heldout_split)."""
    x_tr, y_tr = data.mnist(True)
    xt, yt = data.mnist(False)
    train_idx, held_idx = heldout_split(len(xt))
    return MNISTSplit(torch.cat([x_tr, xt[train_idx]]), torch.cat([y_tr, yt[train_idx]]),
                      xt[held_idx], yt[held_idx], len(train_idx))


def attachment_dir() -> Path:
    return repo_root() / "data" / "hw2_attachment"


def load_attachment(path: str | Path | None = None) -> dict:
    """The 30 clean held-out digits and their noisy versions (sigma 50/256 and 100/256), as a dict of tensors."""
    path = Path(path) if path else attachment_dir() / ATTACHMENT_FILE
    if not path.exists():
        raise FileNotFoundError(f"HW2 attachment {path} is missing; rebuild it with "
                                f"`python scripts/make_hw2_attachment.py` (needs MNIST, see README)")
    return torch.load(path, map_location="cpu", weights_only=True)


# ----------------------------------------------------------------------------- checkpoints

def load_energy(path: str | Path = ENERGY_CKPT, device=None) -> ResNet:
    """The shipped HW2 energy (weights_only=True), frozen for sampling."""
    model = ckpt.load_into(ResNet(1), path)
    return freeze(model.to(device or "cpu"))


def load_classifier(path: str | Path = CLASSIFIER_CKPT, device=None) -> SmallCNN:
    """The shipped MNIST classifier (SmallCNN), in eval mode."""
    model = ckpt.load_into(SmallCNN(10), path)
    return model.to(device or "cpu").eval().requires_grad_(False)


# ----------------------------------------------------------------------------- quality bar

def quality(classifier: torch.nn.Module, samples: torch.Tensor) -> dict:
    """Classifier-based sample quality: mean max-probability, class fractions, smallest class fraction.

    Samples are clamped to [0, 1] for the classifier only (it was trained on images in [0, 1]).
    """
    p = predict_proba(classifier, samples.detach().clamp(0, 1).float())
    labels = p.argmax(1)
    frac = torch.bincount(labels, minlength=p.shape[1]).float() / len(labels)
    return {"n": len(labels), "mean_max_prob": p.max(1).values.mean().item(),
            "class_fractions": [round(v, 4) for v in frac.tolist()], "min_class_fraction": frac.min().item(),
            "labels": labels.tolist()}


def passes_bar(q: dict, min_conf: float = 0.9, min_frac: float = 0.03) -> bool:
    """The issue's bar: mean max-probability >= 0.9 and every class >= 3% of the samples."""
    return q["mean_max_prob"] >= min_conf and q["min_class_fraction"] >= min_frac


# What a good HW2 energy reaches on hw2_bars' measurements (scripts/train_hw2_energy.py): (comparison, target).
# The denoising targets apply per noise level: the MMSE gain at sigma = 50 and 100 / 256, the class kept at each.
HW2_BAR_TARGETS = {
    "mean_max_prob": (">=", 0.9), "min_class_fraction": (">=", 0.05), "pixels_outside_box": ("<=", 0.01),
    "ray_rises_share": (">=", 0.95), "task6_mean_max_prob": (">=", 0.8), "task6_max_class_fraction": ("<=", 0.3),
    "blank_energy_quantile": (">=", 0.95), "mala_accept_2_256": (">=", 0.3), "mala_accept_task10": (">=", 0.05),
    "mmse_psnr_gain_db": (">", 0.0), "class_kept_50": (">=", 0.7), "class_kept_100": (">=", 0.5)}
_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt}


def meets_target(key: str, value: float) -> bool:
    """Whether a measurement reaches its target in HW2_BAR_TARGETS."""
    op, target = HW2_BAR_TARGETS[key]
    return _COMPARE[op](value, target)


def hw2_bar_passes(q: dict) -> dict[str, bool]:
    """Which of HW2_BAR_TARGETS the measurements of hw2_bars pass, keyed as hw2_bars' `passes`."""
    den = q["denoise"]
    out = {k: meets_target(k, q[k]) for k in HW2_BAR_TARGETS if not k.startswith(("mmse_", "class_kept_"))}
    out["denoise_mmse_gain"] = all(meets_target("mmse_psnr_gain_db", d["mmse_psnr_gain_db"]) for d in den.values())
    out["denoise_class_kept"] = all(meets_target(f"class_kept_{s}", den[s]["class_kept"]) for s in ("50", "100"))
    return out


def psnr(x: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB, (B,)."""
    mse = ((x - ref) ** 2).reshape(x.shape[0], -1).mean(1)
    return 10 * torch.log10(data_range ** 2 / mse.clamp_min(1e-12))


def denoise_score(model: torch.nn.Module, y: torch.Tensor, sigma: torch.Tensor | float, channels_last: bool = True,
                  chunk: int | None | str = "auto"):
    """x -> grad_x log p(x | y) = -grad E(x) + (y - x) / sigma^2 (sigma may be per-image, shape (B,))."""
    prior = energy_score(model, channels_last, chunk=chunk)
    s2 = torch.as_tensor(sigma, dtype=y.dtype, device=y.device) ** 2
    if s2.dim() == 1:
        s2 = s2.view(-1, 1, 1, 1)
    return lambda x: prior(x) + (y - x) / s2


@torch.no_grad()
def ray_energy(model: torch.nn.Module, x: torch.Tensor, lams) -> torch.Tensor:
    """E(lam * x) for each lam: (L,) x (B, C, H, W) -> (L, B).

    The ResNet is piecewise affine in x (convolutions, leaky ReLU, sum pooling, a linear layer), so for large lam
    E(lam x) is affine in lam: if it falls, exp(-E) has infinite mass along that ray and cannot be normalised.
    """
    return torch.stack([model(lam * x) for lam in lams])


RAY_LAMS = (1.5, 2.0, 4.0, 8.0)  # the ray test's brightening factors (issue 18's confinement bar)


def ray_rises_share(model: torch.nn.Module, x: torch.Tensor, lams=RAY_LAMS) -> float:
    """Share of the digits x whose energy rises along the ray: E(lam x) > E(x) for every lam in `lams`."""
    e = ray_energy(model, x, (1.0,) + tuple(lams))
    return (e[1:] > e[:1]).all(0).float().mean().item()


@torch.no_grad()
def blank_energy_quantile(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Share of the digits x whose energy is below that of the all-black image (1: the blank is less likely than all)."""
    e = model(torch.cat([torch.zeros_like(x[:1]), x]))
    return (e[1:] < e[0]).float().mean().item()


def share_outside(x: torch.Tensor, margin: float = 0.1) -> float:
    """Share of pixels outside [-margin, 1 + margin] (issue 18's confinement bar: at most 1% with margin 0.1)."""
    return ((x < -margin) | (x > 1 + margin)).float().mean().item()


__all__ = ["ResNet", "freeze", "energy_fn", "energy_score", "chunked", "CPU_CHUNK", "hw2_step_size", "sample_hw2", "heldout_split", "mnist_split", "MNISTSplit",
           "load_attachment", "load_energy", "load_classifier", "quality", "passes_bar", "psnr",
           "denoise_score", "ray_energy", "RAY_LAMS", "ray_rises_share", "blank_energy_quantile", "share_outside", "box_penalty", "prox_box", "box_slope", "box_margin", "box_constraints", "HW2_BAR_TARGETS", "meets_target", "hw2_bar_passes", "impose", "BOX_CARRIER"]


def ssim(x: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0, win: int = 7) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) with a uniform win x win window, (B,); images (B, 1, H, W)."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    x, ref = x.float(), ref.float()
    mean = lambda t: F.avg_pool2d(t, win, stride=1)  # noqa: E731
    mx, my = mean(x), mean(ref)
    vx, vy, cxy = mean(x * x) - mx ** 2, mean(ref * ref) - my ** 2, mean(x * ref) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.reshape(s.shape[0], -1).mean(1)
