"""A small CNN classifier for 28x28 grey images (MNIST, Fashion-MNIST, Hoda digits): training,
accuracy, probabilities and penultimate features (for Frechet distances and sample-quality scores)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import utils
from .utils import progress


class SmallCNN(nn.Module):
    """conv(32)-conv(32)-pool-conv(64)-conv(64)-pool-fc(128)-fc(n_classes); input (B, 1, 28, 28) in [0, 1]."""

    def __init__(self, n_classes: int = 10, width: int = 32, dropout: float = 0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * w * 7 * 7, 128), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(128, n_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, 128)."""
        if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"SmallCNN expects images (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_classes)."""
        return self.head(self.embed(x))


def augment(x: torch.Tensor, max_shift: int = 2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random translations by up to max_shift pixels (zero padding), one per image."""
    b = x.shape[0]
    pad = F.pad(x, (max_shift,) * 4)
    dx = utils.randint(0, 2 * max_shift + 1, (b,), generator=generator, device=x.device)
    dy = utils.randint(0, 2 * max_shift + 1, (b,), generator=generator, device=x.device)
    h, w = x.shape[-2:]
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None])[:, :, None].expand(b, h, w)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None])[:, None, :].expand(b, h, w)
    idx = torch.arange(b, device=x.device)[:, None, None].expand(b, h, w)
    return pad[idx, :, rows, cols].permute(0, 3, 1, 2)


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 10, batch_size: int = 128,
                     lr: float = 1e-3, shift: int = 2, seed: int = 0, device=None, show_progress: bool = True) -> list[float]:
    """Adam with a cosine schedule on (x, y) tensors, random shifts as augmentation; returns per-epoch losses."""
    device = device or next(model.parameters()).device
    g = utils.generator(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    losses = []
    epochs_it = progress(range(epochs), desc="classifier") if show_progress else range(epochs)
    for _ in epochs_it:
        model.train()
        perm = utils.randperm(len(x), generator=g, device=x.device)
        total = 0.0
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            xb = augment(x[idx], shift, g) if shift else x[idx]
            loss = F.cross_entropy(model(xb.to(device)), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
    model.eval()
    return losses


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Softmax probabilities (N, n_classes), in eval mode, batched."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([F.softmax(model(x[i:i + batch_size].to(device)), 1).cpu() for i in range(0, len(x), batch_size)])


@torch.no_grad()
def features(model: SmallCNN, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Penultimate features (N, 128), batched."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model.embed(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of correctly classified images."""
    return (predict_proba(model, x).argmax(1) == y).float().mean().item()


def c2st(x_real: torch.Tensor, x_fake: torch.Tensor, folds: int = 2, steps: int = 400, width: int = 16,
         batch_size: int = 64, seed: int = 0, device=None) -> dict:
    """Classifier two-sample test: held-out accuracy of a small CNN trained to tell x_real from x_fake.

    Each image is scored by a classifier that did not train on it (`folds`-fold cross-fitting), so the accuracy
    is over all 2n images (each fold's classifier gets about `steps` Adam steps, enough for its batch-norm
    statistics to settle, whatever n is); 0.5 means the two sets are indistinguishable to this classifier, 1.0 that every image
    is told apart. Returns accuracy, n, and its 95% Clopper-Pearson interval (scipy.stats.binomtest).
    Images are (n, 1, 28, 28) in [0, 1]; both sets are cut to the smaller size so that chance is 0.5.
    """
    from scipy.stats import binomtest

    if x_real.dim() != 4 or x_real.shape[1:] != x_fake.shape[1:]:
        raise ValueError(f"c2st needs two image batches of one shape (n, C, H, W), got {tuple(x_real.shape)} "
                         f"and {tuple(x_fake.shape)}")
    n = min(len(x_real), len(x_fake))
    if n < folds:
        raise ValueError(f"c2st needs at least {folds} images per set, got {len(x_real)} and {len(x_fake)}")
    if not (torch.isfinite(x_real).all() and torch.isfinite(x_fake).all()):
        raise ValueError("c2st got NaN or inf pixels; score finite images in [0, 1]")
    g = utils.generator(seed)
    x = torch.cat([x_real[:n], x_fake[:n]]).float().cpu()
    y = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    fold = utils.randperm(2 * n, generator=g) % folds
    correct = 0
    for k in range(folds):
        train, test = fold != k, fold == k
        with torch.random.fork_rng(devices=[]):  # initial weights and dropout from this seed; the caller's RNG untouched
            torch.manual_seed(seed + k)
            model = SmallCNN(2, width=width).to(device or "cpu")
            epochs = math.ceil(steps / math.ceil(int(train.sum()) / batch_size))
            train_classifier(model, x[train], y[train], epochs=epochs, batch_size=batch_size, shift=0,
                             seed=seed + k, device=device, show_progress=False)
        correct += int((predict_proba(model, x[test]).argmax(1) == y[test]).sum())
    ci = binomtest(correct, 2 * n).proportion_ci(0.95, method="exact")
    return {"accuracy": correct / (2 * n), "n": 2 * n, "ci95": [ci.low, ci.high]}
