"""HW1 Part II: affine coupling layers (Real NVP), a coupling flow on 2-D data and a fast trainer.

A layer with mask m (1 = passed through) maps x to
    y = m * x + (1 - m) * (x * exp(s) + t),   s = scale_factor * s_net(m * x),  t = t_net(m * x),
with log|det dy/dx| = sum((1 - m) * s). The flow is x = f_K o ... o f_1(z), z ~ N(0, I).

`train_flow` follows the assignment's procedure (random 90/10 split, Adam 1e-3, batch 64, the same
fixed batch order every epoch, the best-validation weights kept, or the final weights when the
validation set has fewer than 500 points) but slices a pre-split tensor instead of running a
DataLoader over per-item tensors, evaluates validation in one batched pass and keeps the best
weights in memory: the same optimizer steps, many times faster (benchmarks/bench_flows.py).

Judging a fit against a known true density p: `nll_gap_summary` (median and trimmed mean of the per-point
gaps log p - log q on points from p, robust to the rare point where q collapses) and `reverse_kl`
(KL(q || p) from the model's own samples). `show_flows` / `show_densities` draw several models on one
colour scale and one extent.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats
from torch import nn

from . import utils

Tensor = torch.Tensor
LOG_2PI = math.log(2 * math.pi)


def mlp(d: int = 2, hidden: int = 32) -> nn.Sequential:
    """The assignment's s and t networks: 3 linear layers with LeakyReLU in between."""
    return nn.Sequential(nn.Linear(d, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden), nn.LeakyReLU(),
                         nn.Linear(hidden, d))


def _check_points(x: Tensor, d: int) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != d:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"expected a tensor of points shaped (n, {d}), got {shape}")
    return x


class CouplingLayer(nn.Module):
    """Affine coupling layer: the mask's 1-entries pass unchanged and parametrise s, t of the rest."""

    def __init__(self, mask, hidden: int = 32):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.float32).flatten()
        if not bool(((mask == 0) | (mask == 1)).all()) or float(mask.sum()) in (0.0, float(mask.numel())):
            raise ValueError(f"mask must be 0/1 with both values present, got {mask.tolist()}")
        d = mask.numel()
        self.mask = nn.Parameter(mask, requires_grad=False)  # fixed, as in the assignment
        self.s_func = mlp(d, hidden)
        self.scale_factor = nn.Parameter(torch.zeros(d))  # exp(0 * s) = 1: starts as the identity scale
        self.t_func = mlp(d, hidden)

    def scale_shift(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """s = scale_factor * s_net(m x) and t = t_net(m x), both zeroed on the passed-through part."""
        xm = x * self.mask
        keep = 1 - self.mask
        return keep * self.scale_factor * self.s_func(xm), keep * self.t_func(xm)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """y = f(x) and log|det df/dx| per point, shape (n,)."""
        _check_points(x, self.mask.numel())
        s, t = self.scale_shift(x)
        return x * torch.exp(s) + t, s.sum(1)

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """x = f^{-1}(y) and log|det df^{-1}/dy| = -log|det df/dx| per point."""
        _check_points(y, self.mask.numel())
        s, t = self.scale_shift(y)  # the masked part of y equals that of x
        return (y - t) * torch.exp(-s), -s.sum(1)


def alternating_masks(num_layers: int, d: int = 2) -> Tensor:
    """Masks [1, 0], [0, 1], [1, 0], ... (the assignment's one_hot(i % 2)); (num_layers, d)."""
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")
    first = torch.zeros(d)
    first[: d // 2] = 1
    return torch.stack([first if i % 2 == 0 else 1 - first for i in range(num_layers)])


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I) per row, shape (n,)."""
    return -0.5 * (z ** 2).sum(1) - 0.5 * z.shape[1] * LOG_2PI


class CouplingFlow(nn.Module):
    """x = f_K o ... o f_1(z) with z ~ N(0, I) and alternating masks; exact log p(x) and sampling."""

    def __init__(self, num_layers: int, d: int = 2, hidden: int = 32):
        super().__init__()
        self.num_layers, self.d = num_layers, d
        self.layers = nn.ModuleList([CouplingLayer(m, hidden) for m in alternating_masks(num_layers, d)])

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I), shape (n, d), on the model's device."""
        return utils.randn(n, self.d, generator=generator, device=self.layers[0].mask.device)

    def log_probability(self, x: Tensor) -> Tensor:
        """log p(x) = log N(f^{-1}(x); 0, I) + sum_k log|det df_k^{-1}|, applying f_K^{-1} first; (n,)."""
        log_det = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for layer in reversed(self.layers):
            x, ld = layer.inverse(x)
            log_det = log_det + ld
        return standard_normal_log_prob(x) + log_det

    def forward(self, x: Tensor) -> Tensor:
        """Same as log_probability (so the module can be called on data)."""
        return self.log_probability(x)

    @torch.no_grad()
    def sample_x(self, num_samples: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Samples x = f(z), z ~ N(0, I), and their log p(x) = log N(z) - sum_k log|det df_k|."""
        z = self.prior_sample(num_samples, generator)
        log_prob = standard_normal_log_prob(z)
        for layer in self.layers:
            z, ld = layer(z)
            log_prob = log_prob - ld
        return z, log_prob

    @torch.no_grad()
    def sample_x_each_step(self, num_samples: int, generator: torch.Generator | None = None) -> list[Tensor]:
        """[z, f_1(z), f_2(f_1(z)), ..., x]: K + 1 sets of samples, the first from the prior."""
        z = self.prior_sample(num_samples, generator)
        samples = [z]
        for layer in self.layers:
            z, _ = layer(z)
            samples.append(z)
        return samples


# ----------------------------------------------------------------------------- training


class PackedFlow:
    """A CouplingFlow's weights in one flat tensor, with its NLL loss and hand-written gradient.

    Per layer the s and t networks are stacked (index 0 = s, 1 = t) so each of their three linear
    layers is one batched matmul: W1 (2, d, H), b1 (2, 1, H), W2 (2, H, H), b2, W3 (2, H, d), b3 and
    the scale factor (d,), all views of `flat`. `loss_and_grad` computes the mean NLL of a batch and
    writes its gradient into `grad` (a view layout of the same shape) without autograd: a few dozen
    small tensor operations per step instead of autograd's few hundred. tests/test_flows.py checks it
    against autograd on the module.
    """

    def __init__(self, model: "CouplingFlow"):
        self.model, self.d, self.slope = model, model.d, 0.01
        ref = model.layers[0].scale_factor
        self.masks = [layer.mask.detach().to(ref) for layer in model.layers]
        self.keeps = [1 - m for m in self.masks]
        shapes = []
        for layer in model.layers:
            h = layer.s_func[0].out_features
            shapes.append([(2, self.d, h), (2, 1, h), (2, h, h), (2, 1, h), (2, h, self.d), (2, 1, self.d),
                           (self.d,)])
        sizes = [math.prod(s) for layer_shapes in shapes for s in layer_shapes]
        self._layout = shapes, sizes
        self.flat = torch.zeros(sum(sizes), dtype=ref.dtype, device=ref.device)
        self.grad = torch.zeros_like(self.flat)
        self.params = self._views(self.flat, shapes, sizes)
        self.grads = self._views(self.grad, shapes, sizes)
        self.transposed = [[w.transpose(1, 2) for w in (v[0], v[2], v[4])] for v in self.params]  # live views
        self.pull()

    @staticmethod
    def _views(buf, shapes, sizes):
        parts = iter(torch.split(buf, sizes))
        return [[next(parts).view(s) for s in layer_shapes] for layer_shapes in shapes]

    @staticmethod
    def _pairs(layer):
        s, t = layer.s_func, layer.t_func
        return [(s[0].weight, t[0].weight, True), (s[0].bias, t[0].bias, False), (s[2].weight, t[2].weight, True),
                (s[2].bias, t[2].bias, False), (s[4].weight, t[4].weight, True), (s[4].bias, t[4].bias, False)]

    @torch.no_grad()
    def _pack(self, value, out_views) -> None:
        """Write value(p) for each module parameter p into out_views (views of a flat tensor in this layout)."""
        for layer, views in zip(self.model.layers, out_views):
            for (ws, wt, is_w), v in zip(self._pairs(layer), views):
                v[0].copy_(value(ws).T if is_w else value(ws).view(1, -1))
                v[1].copy_(value(wt).T if is_w else value(wt).view(1, -1))
            views[6].copy_(value(layer.scale_factor))

    def pull(self) -> None:
        """Copy the module's weights into the flat tensor."""
        self._pack(lambda p: p, self.params)

    def autograd_loss_and_grad(self, x) -> tuple[float, Tensor]:
        """The mean NLL of x and its gradient by autograd through the module's log_probability (at the module's
        weights), the gradient in the flat layout: the reference loss_and_grad must agree with."""
        x = torch.as_tensor(x).to(self.flat)
        params = [p for p in self.model.parameters() if p.requires_grad]
        with torch.enable_grad():
            loss = -self.model.log_probability(x).mean()
            grads = dict(zip(params, torch.autograd.grad(loss, params)))
        flat = torch.zeros_like(self.flat)
        self._pack(lambda p: grads[p], self._views(flat, *self._layout))
        return float(loss.detach()), flat

    @torch.no_grad()
    def push(self) -> None:
        """Copy the flat tensor's weights back into the module."""
        for layer, views in zip(self.model.layers, self.params):
            for (ws, wt, is_w), v in zip(self._pairs(layer), views):
                ws.copy_(v[0].T if is_w else v[0].view(-1))
                wt.copy_(v[1].T if is_w else v[1].view(-1))
            layer.scale_factor.copy_(views[6])

    @torch.no_grad()
    def nll(self, x: Tensor) -> Tensor:
        """Mean negative log-likelihood of x (nats per point), forward only."""
        return self.loss_and_grad(x, backward=False)

    @torch.no_grad()
    def loss_and_grad(self, x: Tensor, backward: bool = True) -> Tensor:
        """Mean NLL of the batch x; with `backward`, its gradient is written into self.grad."""
        n, d = x.shape
        total_s = torch.zeros_like(x)
        cache = []
        for k in reversed(range(len(self.masks))):  # log p(x) applies f_K^{-1} first
            w1, b1, w2, b2, w3, b3, sf = self.params[k]
            m, keep = self.masks[k], self.keeps[k]
            xin = (x * m).expand(2, n, d)
            a1 = torch.baddbmm(b1, xin, w1)
            h1 = torch.nn.functional.leaky_relu(a1, self.slope)
            a2 = torch.baddbmm(b2, h1, w2)
            h2 = torch.nn.functional.leaky_relu(a2, self.slope)
            o = torch.baddbmm(b3, h2, w3)
            c = sf * keep
            s = o[0] * c
            e = torch.exp(-s)
            x = (x - o[1] * keep) * e
            total_s += s
            cache.append((k, xin, a1, h1, a2, h2, o, c, e, x))
        loss = 0.5 * (x * x).sum() / n + total_s.sum() / n + 0.5 * d * LOG_2PI
        if not backward:
            return loss
        lrelu_bwd = torch.ops.aten.leaky_relu_backward
        gx = x / n  # d loss / d z
        for i, (k, xin, a1, h1, a2, h2, o, c, e, y) in enumerate(reversed(cache)):  # f_1^{-1}'s output first
            w1t, w2t, w3t = self.transposed[k]
            g1, gb1, g2, gb2, g3, gb3, gsf = self.grads[k]
            gs = 1.0 / n - gx * y  # loss has + s / n; y = (x - t) e^{-s}
            torch.mul((gs * o[0]).sum(0), self.keeps[k], out=gsf)
            ge = gx * e
            go = torch.stack([gs * c, ge * -self.keeps[k]])
            torch.bmm(h2.transpose(1, 2), go, out=g3)
            torch.sum(go, 1, keepdim=True, out=gb3)
            ga2 = lrelu_bwd(torch.bmm(go, w3t), a2, self.slope, False)
            torch.bmm(h1.transpose(1, 2), ga2, out=g2)
            torch.sum(ga2, 1, keepdim=True, out=gb2)
            ga1 = lrelu_bwd(torch.bmm(ga2, w2t), a1, self.slope, False)
            torch.bmm(xin.transpose(1, 2), ga1, out=g1)
            torch.sum(ga1, 1, keepdim=True, out=gb1)
            if i < len(cache) - 1:  # the data's own gradient is not needed
                gx = ge + torch.bmm(ga1, w1t).sum(0) * self.masks[k]
        return loss


class NumpyPackedFlow(PackedFlow):
    """PackedFlow's loss and gradient in numpy on the same (CPU) memory: numpy's per-call overhead on
    arrays of a few thousand numbers is a fraction of torch's, and that overhead is all there is here."""

    def __init__(self, model: "CouplingFlow"):
        super().__init__(model)
        if self.flat.device.type != "cpu":
            raise ValueError("NumpyPackedFlow needs a model on the CPU; use PackedFlow on other devices")
        self.np_params = [[v.numpy() for v in layer] for layer in self.params]  # views of self.flat
        self.np_grads = [[v.numpy() for v in layer] for layer in self.grads]
        self.np_masks = [m.cpu().numpy() for m in self.masks]
        self.np_keeps = [k.cpu().numpy() for k in self.keeps]

    def nll(self, x) -> float:
        return self.loss_and_grad(x, backward=False)

    def loss_and_grad(self, x, backward: bool = True) -> float:
        """Mean NLL of the batch x (a float32 numpy array); with `backward`, its gradient goes to self.grad."""
        if isinstance(x, Tensor):
            x = x.detach().cpu().numpy()
        n, d = x.shape
        sl = np.float32(self.slope)
        total_s = np.zeros_like(x)
        cache = []
        for k in reversed(range(len(self.np_masks))):
            w1, b1, w2, b2, w3, b3, sf = self.np_params[k]
            m, keep = self.np_masks[k], self.np_keeps[k]
            xin = x * m
            a1 = xin @ w1 + b1
            h1 = np.maximum(a1, sl * a1)
            a2 = h1 @ w2 + b2
            h2 = np.maximum(a2, sl * a2)
            o = h2 @ w3 + b3
            c = sf * keep
            s = o[0] * c
            e = np.exp(-s)
            x = (x - o[1] * keep) * e
            total_s += s
            cache.append((k, xin, a1, h1, a2, h2, o, c, e, x))
        loss = float(0.5 * (x * x).sum() / n + total_s.sum() / n + 0.5 * d * LOG_2PI)
        if not backward:
            return loss
        gx = x / np.float32(n)
        inv_n = np.float32(1.0 / n)
        for i, (k, xin, a1, h1, a2, h2, o, c, e, y) in enumerate(reversed(cache)):
            w1, b1, w2, b2, w3, b3, sf = self.np_params[k]
            g1, gb1, g2, gb2, g3, gb3, gsf = self.np_grads[k]
            keep = self.np_keeps[k]
            gs = inv_n - gx * y
            np.multiply((gs * o[0]).sum(0), keep, out=gsf)
            ge = gx * e
            go = np.stack((gs * c, ge * -keep))
            np.matmul(h2.transpose(0, 2, 1), go, out=g3)
            go.sum(1, keepdims=True, out=gb3)
            gh = go @ w3.transpose(0, 2, 1)
            ga2 = np.where(a2 > 0, gh, sl * gh)
            np.matmul(h1.transpose(0, 2, 1), ga2, out=g2)
            ga2.sum(1, keepdims=True, out=gb2)
            gh = ga2 @ w2.transpose(0, 2, 1)
            ga1 = np.where(a1 > 0, gh, sl * gh)
            np.matmul(xin.T, ga1, out=g1)
            ga1.sum(1, keepdims=True, out=gb1)
            if i < len(cache) - 1:
                gx = ge + (ga1 @ w1.transpose(0, 2, 1)).sum(0) * self.np_masks[k]
        return loss


class NumpyAdam:
    """Adam's update (as torch.optim.Adam) on numpy views of one flat float32 tensor, in place."""

    def __init__(self, param: np.ndarray, grad: np.ndarray, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.grad, self.lr, self.betas, self.eps = param, grad, lr, betas, eps
        self.m, self.v, self.t = np.zeros_like(param), np.zeros_like(param), 0
        self.tmp = np.empty_like(param)

    def step(self) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m += np.float32(1 - b1) * (self.grad - self.m)
        self.v *= np.float32(b2)
        self.v += np.float32(1 - b2) * self.grad * self.grad
        np.sqrt(self.v, out=self.tmp)
        self.tmp *= np.float32(1 / math.sqrt(1 - b2 ** self.t))
        self.tmp += np.float32(self.eps)
        self.param -= np.float32(self.lr / (1 - b1 ** self.t)) * self.m / self.tmp


@dataclass
class TrainResult:
    """What train_flow returns besides the model: losses per epoch, the best epoch, timing."""
    train_losses: list = field(default_factory=list)
    valid_losses: list = field(default_factory=list)
    best_valid: float = float("inf")
    best_epoch: int = -1
    final_valid: float = float("nan")
    kept: str = "best"  # "best" or "final" (the assignment keeps the final weights when n_valid < 500)
    steps: int = 0
    seconds: float = 0.0
    snapshots: dict = field(default_factory=dict)

    @property
    def returned_valid(self) -> float:
        """Validation NLL (nats per point) of the weights the trainer returned."""
        return self.best_valid if self.kept == "best" else self.final_valid


def split_indices(n: int, fraction: float = 0.9, generator: torch.Generator | None = None):
    """torch.utils.data.random_split's permutation: the first int(fraction n) indices train, the rest validate."""
    perm = utils.randperm(n, generator=generator)
    n_train = int(n * fraction)
    return perm[:n_train], perm[n_train:]


class Adam:
    """torch.optim.Adam's update (betas 0.9, 0.999, eps 1e-8, no weight decay) on one flat tensor, in place."""

    def __init__(self, param: Tensor, grad: Tensor, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.grad, self.lr, self.betas, self.eps = param, grad, lr, betas, eps
        self.m, self.v, self.t = torch.zeros_like(param), torch.zeros_like(param), 0

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.lerp_(self.grad, 1 - b1)
        self.v.mul_(b2).addcmul_(self.grad, self.grad, value=1 - b2)
        denom = (self.v.sqrt() / math.sqrt(1 - b2 ** self.t)).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - b1 ** self.t))


class _single_thread:
    """Run tiny-tensor loops on one CPU thread (thread hand-offs cost more than the work)."""

    def __enter__(self):
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.n)


def train_flow(model: CouplingFlow, data: Tensor, epochs: int = 100, batch_size: int = 64, lr: float = 1e-3,
               fraction: float = 0.9, min_valid_for_best: int = 500, generator: torch.Generator | None = None,
               progress: bool = True, desc: str = "epochs", snapshots=(), engine: str = "auto",
               ) -> tuple[CouplingFlow, TrainResult]:
    """Maximum likelihood training, the assignment's procedure with the data pipeline removed.

    Split like random_split (torch's global generator unless `generator`), Adam(lr), batches of
    `batch_size` in the same order every epoch (the assignment's DataLoader does not shuffle),
    validation NLL each epoch; returns the best-validation weights, or the final ones when the
    validation set is smaller than `min_valid_for_best` (as the assignment does), and a TrainResult.
    The gradient is PackedFlow's hand-written one; Adam updates the one flat tensor. `engine`: "numpy"
    (NumpyPackedFlow, the fastest on a CPU), "torch" (PackedFlow, any device) or "auto" (numpy on a CPU
    for float32 models, else torch).

    `snapshots`: epoch counts E < epochs at which to keep what a run of E epochs would have returned
    (the run is deterministic, so it is that run's model): res.snapshots[E] = (flat weights, valid NLL),
    turned into a model by `from_snapshot`.
    """
    where = "train_flow"
    if not isinstance(model, CouplingFlow):
        raise TypeError(f"{where}: model must be a CouplingFlow, got {type(model).__name__}")
    if isinstance(data, Tensor) and (data.dtype.is_complex or data.dtype == torch.bool):
        raise TypeError(f"{where}: data must hold real numbers, got dtype {data.dtype}")
    data = torch.as_tensor(data, dtype=torch.float32)
    _check_points(data, model.d)
    if len(data) < 2:
        raise ValueError(f"need at least 2 points to split into training and validation, got {len(data)}")
    utils.check_finite(data, "data", where)  # one NaN point makes every loss NaN: untrained or NaN weights
    epochs = utils.check_count(epochs, "epochs", where, minimum=1)
    batch_size = utils.check_count(batch_size, "batch_size", where, minimum=1)
    lr = utils.check_number(lr, "lr", where)
    if not 0 < fraction < 1 or int(len(data) * fraction) < 1 or int(len(data) * fraction) == len(data):
        raise ValueError(f"{where}: fraction (the training share) must leave at least one point on each side of "
                         f"the split, got fraction={fraction} for {len(data)} points")
    if engine not in ("auto", "numpy", "torch"):
        raise ValueError(f"engine must be 'auto', 'numpy' or 'torch', got {engine!r}")
    dev = model.layers[0].mask.device
    tr_idx, va_idx = split_indices(len(data), fraction, generator)
    x_train, x_valid = data[tr_idx].to(dev), data[va_idx].to(dev)
    batches = list(torch.split(x_train, batch_size))  # fixed order, last batch smaller, as the DataLoader's
    if engine == "auto":
        engine = "numpy" if dev.type == "cpu" and model.layers[0].scale_factor.dtype == torch.float32 else "torch"
    if engine == "numpy":
        packed = NumpyPackedFlow(model)
        adam = NumpyAdam(packed.flat.numpy(), packed.grad.numpy(), lr)
        batches = [b.numpy() for b in batches]
        x_valid_eval = x_valid.numpy()
    elif engine == "torch":
        packed = PackedFlow(model)
        adam = Adam(packed.flat, packed.grad, lr)
        x_valid_eval = x_valid
    else:
        raise ValueError(f"engine must be 'auto', 'numpy' or 'torch', got {engine!r}")
    res = TrainResult()
    small_valid = len(x_valid) < min_valid_for_best
    snapshots = set(int(e) for e in snapshots)
    best = packed.flat.clone()
    train_hist, valid_hist = torch.empty(epochs), torch.empty(epochs)
    epochs_iter = range(epochs)
    if progress:
        epochs_iter = utils.progress(epochs_iter, desc=desc, leave=False)
    start = time.perf_counter()
    with _single_thread():
        for epoch in epochs_iter:
            total = 0.0
            for xb in batches:
                total += float(packed.loss_and_grad(xb))
                adam.step()
            valid = packed.nll(x_valid_eval)
            train_hist[epoch] = total / len(batches)
            valid_hist[epoch] = valid
            v = float(valid)
            if v < res.best_valid:
                res.best_valid, res.best_epoch = v, epoch
                best.copy_(packed.flat)
            if epoch + 1 in snapshots:
                res.snapshots[epoch + 1] = ((packed.flat if small_valid else best).clone(),
                                            v if small_valid else res.best_valid)
    res.seconds = time.perf_counter() - start
    res.steps = epochs * len(batches)
    res.train_losses, res.valid_losses = train_hist.tolist(), valid_hist.tolist()
    res.final_valid = res.valid_losses[-1]
    res.kept = "final" if small_valid else "best"
    if (res.kept == "best" and res.best_epoch < 0) or not math.isfinite(res.returned_valid):
        raise FloatingPointError(
            f"{where}: training diverged: the validation NLL was {res.returned_valid} (never finite: "
            f"{sum(math.isfinite(v) for v in res.valid_losses)} finite epochs of {epochs}); the weights are not "
            f"usable. Lower lr (now {lr}) or standardise the data (now mean {data.mean(0).tolist()}, "
            f"std {data.std(0).tolist()})")
    if res.kept == "best":
        packed.flat.copy_(best)
    packed.push()
    model.train(False)
    return model, res


def from_snapshot(model: CouplingFlow, snapshot) -> CouplingFlow:
    """A copy of `model`'s architecture holding a snapshot's weights (see train_flow's `snapshots`)."""
    import copy

    new = copy.deepcopy(model)
    packed = PackedFlow(new)
    packed.flat.copy_(snapshot[0] if isinstance(snapshot, tuple) else snapshot)
    packed.push()
    return new


@torch.no_grad()
def density_on_grid(model: CouplingFlow, points: Tensor, chunk: int = 65536) -> Tensor:
    """p(x) = exp(log_probability(x)) on (m, 2) points in chunks, on the CPU; (m,).

    Far from the data the inverse's scales exp(-s) can overflow to inf, and log N(z) + log|det| to
    -inf + inf = nan, where the true density is vanishingly small (|z| grows like exp(s)): those
    points get density 0. NaN or inf among the points themselves is an error (not density 0).
    """
    where = "density_on_grid"
    if not isinstance(points, Tensor):
        points = torch.as_tensor(np.asarray(points), dtype=torch.float32)
    if points.dtype.is_complex or not points.dtype.is_floating_point:
        raise TypeError(f"{where}: points must be a floating-point tensor, got dtype {points.dtype}; use "
                        f"points.float()")
    _check_points(points, model.d)
    utils.check_finite(points, "points", where)
    chunk = utils.check_count(chunk, "chunk", where, minimum=1)
    dev = model.layers[0].mask.device
    out = [torch.nan_to_num(model.log_probability(p.to(dev)), nan=-math.inf).exp().cpu()
           for p in torch.split(points, chunk)]
    return torch.cat(out)


# ----------------------------------------------------------------------------- evaluation


@dataclass
class GapSummary:
    """Per-point NLL gaps log p(x) - log q(x) (model NLL minus true NLL) at points x ~ p, summarised."""
    mean: float  # a Monte-Carlo estimate of KL(p || q): dominated by the few points where q nearly vanishes
    median: float
    trimmed: float  # the mean after removing the fraction `trim` at each end
    max: float
    trim: float


def nll_gap_summary(log_q: Tensor, log_p: Tensor, trim: float = 0.01) -> GapSummary:
    """Mean, median, `trim`-trimmed mean (scipy's trim_mean, `trim` cut at each end) and largest of the
    per-point gaps log p - log q; a nan log q (the flow's inverse overflowed, far from the data) counts as
    log q = -inf."""
    log_q, log_p = torch.as_tensor(log_q).detach().cpu().double(), torch.as_tensor(log_p).detach().cpu().double()
    if log_q.shape != log_p.shape or log_q.dim() != 1:
        raise ValueError(f"log_q and log_p must be 1-D and of one length, got {tuple(log_q.shape)} "
                         f"and {tuple(log_p.shape)}")
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim is the fraction cut at each end, in [0, 0.5); got {trim}")
    gap = (log_p - torch.nan_to_num(log_q, nan=-math.inf)).numpy()
    return GapSummary(float(gap.mean()), float(np.median(gap)), float(stats.trim_mean(gap, trim)),
                      float(gap.max()), trim)


@torch.no_grad()
def reverse_kl(model, log_p, n: int = 10_000, generator: torch.Generator | None = None) -> tuple[float, float]:
    """KL(q || p) = E_q[log q(x) - log p(x)] from n samples x of the model q (anything with
    `sample_x(n, generator)` returning samples and their log q) and the true log-density `log_p`
    (called on float64 CPU points); returns the estimate and its standard error."""
    x, log_q = model.sample_x(n, generator=generator)
    d = log_q.detach().cpu().double() - log_p(x.detach().cpu().double()).double()
    return float(d.mean()), float(d.std() / math.sqrt(n))


def _extent(xs, margin: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y limits around the union of the point sets xs, widened by `margin`."""
    x = torch.cat([torch.as_tensor(v).detach().cpu().float() for v in xs])
    lo, hi = x.min(0).values - margin, x.max(0).values + margin
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def show_flows(models: dict, x, n_samples: int = 1000, grid_n: int = 150, margin: float = 0.75, seed: int = 0,
               quantile: float = 0.999):
    """One row per model (label -> CouplingFlow): its density p(x) on a grid around the data x (a tensor or a
    list of tensors; the extent covers them all), then the samples after each layer (z ~ N(0, I), f_1(z), ...,
    x), the same prior draws for every model. All densities share one extent and one colour scale (clipped at
    the largest of the models' `quantile`s of their grid values), all sample panels one square extent.
    Returns the figure."""
    from . import plotting

    xlim, ylim = _extent(_as_list(x), margin)
    pts, _, _ = plotting.grid_2d(xlim, ylim, grid_n)
    dens = {label: density_on_grid(m, pts) for label, m in models.items()}
    vmax = max(float(d.quantile(quantile)) for d in dens.values())
    steps = {label: [s.cpu() for s in m.sample_x_each_step(n_samples, generator=utils.generator(seed))]
             for label, m in models.items()}
    ncols = 1 + max(len(s) for s in steps.values())
    lim = torch.cat([torch.cat(s) for s in steps.values()]).abs().quantile(0.995).item() * 1.05
    fig, axes = plotting.subplots(ncols * len(models), ncols=ncols, size=2.9)
    axes = axes.reshape(len(models), ncols)
    for row, label in zip(axes, models):
        plotting.density(dens[label], xlim, ylim, ax=row[0], title=f"{label}: p(x)", vmin=0, vmax=vmax)
        row[0].set_aspect("auto")
        for i, (ax, s) in enumerate(zip(row[1:], steps[label])):
            plotting.scatter(s, ax=ax, s=2, title="z ~ N(0, I)" if i == 0 else f"after layer {i}")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
        for ax in row[1 + len(steps[label]):]:
            ax.set_visible(False)
    fig.tight_layout()
    return fig


def show_flow(model: CouplingFlow, x: Tensor, title: str = "", **kw):
    """show_flows for one model: its density and its samples after each layer, in one row."""
    return show_flows({title: model}, x, **kw)


def show_densities(models: dict, x, ncols: int, grid_n: int = 120, margin: float = 0.75, quantile: float = 0.999):
    """The densities of several models (label -> CouplingFlow) in a grid of `ncols` columns, one extent around
    the data x (a tensor or a list of tensors) and one colour scale (clipped at the largest of the models'
    `quantile`s of their grid values) with one colour bar. Returns the figure."""
    from . import plotting

    xlim, ylim = _extent(_as_list(x), margin)
    pts, _, _ = plotting.grid_2d(xlim, ylim, grid_n)
    dens = {label: density_on_grid(m, pts) for label, m in models.items()}
    vmax = max(float(d.quantile(quantile)) for d in dens.values())
    fig, axes = plotting.subplots(len(models), ncols=ncols, size=2.6, layout="constrained")
    for ax, (label, d) in zip(axes, dens.items()):
        plotting.density(d, xlim, ylim, ax=ax, title=label, colorbar=False, vmin=0, vmax=vmax)
        ax.set_aspect("auto")
    fig.colorbar(axes[0].images[0], ax=list(axes[:len(models)]), fraction=0.02, pad=0.01,
                 label=f"p(x), clipped at {vmax:.3g}")
    return fig
