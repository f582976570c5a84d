"""A referee for generated 28x28 binary Hoda digits that can say "not a digit" (notebook 09).

The 10-class Hoda classifier is confident on anything, pixel noise included, so its confidence cannot tell
whether samples are digits. The referee is an 11-class LeNet-5 whose class NOT_A_DIGIT (10) is trained on
four kinds of non-digits made here: pixel noise, thresholded smooth blobs, random pen strokes, and chimeras
cut and mixed from real digits of different classes. Its 84-d penultimate features are a second feature
space for Frechet distances, sharing neither architecture nor seed with helpers.classifier.SmallCNN.

Conventions: images are (N, 1, 28, 28) float in {0, 1} (white ink on black); every draw comes from an
explicit torch.Generator through helpers.utils, and the images are made on the generator's device.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torchvision.transforms.functional as TF

from . import classifier, utils
from .gan import binarize, frechet_distance

Tensor = torch.Tensor
SIZE = 28
NOT_A_DIGIT = 10
NON_DIGIT_KINDS = ("noise", "blobs", "strokes", "cut and mixed")


# ----------------------------------------------------------------------------- argument checks
def _check_maker(n, ink, generator, where: str) -> tuple[int, float | None]:
    """n >= 1, ink in (0, 1) (None: not used) and an explicit torch.Generator, or a clear error."""
    n = utils.check_count(n, "n", where, minimum=1)
    if ink is not None:
        ink = utils.check_number(ink, "ink", where, positive=False)
        if not 0 < ink < 1:
            raise ValueError(f"{where}: ink (the share of white pixels) must be in (0, 1), got {ink}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{where}: generator must be a torch.Generator (e.g. utils.generator(seed)), "
                        f"got {type(generator).__name__}")
    return n, ink


def _check_images(x, where: str, y=None) -> None:
    """x images (N, 1, 28, 28) and, if given, y labels (N,) of the same length, or a clear error."""
    utils.check_tensor(x, "x", where)
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, SIZE, SIZE):
        raise ValueError(f"{where}: x must be images (N, 1, 28, 28), got shape {tuple(x.shape)}")
    if y is not None:
        utils.check_tensor(y, "y", where, floating=False)
        if y.dim() != 1 or len(y) != len(x):
            raise ValueError(f"{where}: x and y must have the same length (one label per image), got "
                             f"{len(x)} images and labels of shape {tuple(y.shape)}")


# ----------------------------------------------------------------------------- non-digits
def noise_images(n: int, ink: float, generator: torch.Generator) -> Tensor:
    """n images of i.i.d. Bernoulli(ink) pixels."""
    n, ink = _check_maker(n, ink, generator, "noise_images")
    return (utils.rand(n, 1, SIZE, SIZE, generator=generator) < ink).float()


def blob_images(n: int, ink: float, generator: torch.Generator, sigma: float = 2.0, box: int = 20) -> Tensor:
    """n images of Gaussian-blurred white noise on a centred box x box square (where Hoda digits lie), each
    thresholded at its own quantile so that exactly round(ink * 784) pixels are white."""
    n, ink = _check_maker(n, ink, generator, "blob_images")
    utils.check_number(sigma, "sigma", "blob_images")
    lit = round(ink * SIZE * SIZE)
    if not 0 < lit < box * box:
        raise ValueError(f"blob_images: ink {ink} lights {lit} pixels, which must fit in the {box}x{box} box")
    field = TF.gaussian_blur(utils.randn(n, 1, box, box, generator=generator), 2 * math.ceil(3 * sigma) + 1, sigma)
    flat = field.flatten(1)
    cut = flat.kthvalue(box * box - lit, dim=1, keepdim=True).values
    pad = (SIZE - box) // 2
    return nn.functional.pad((flat > cut).float().view(n, 1, box, box), (pad, SIZE - box - pad) * 2)


def _segment_distance(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Distances (N, P) from points p (P, 2) to the segments a (N, 2) -- b (N, 2)."""
    ab = (b - a)[:, None]
    ap = p[None] - a[:, None]
    t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-9)).clamp(0, 1)
    return (ap - t[..., None] * ab).norm(dim=-1)


def stroke_images(n: int, generator: torch.Generator, strokes: tuple[int, int] = (1, 4),
                  segments: tuple[int, int] = (1, 3), length: tuple[float, float] = (3.0, 10.0),
                  width: tuple[float, float] = (2.0, 3.5), turn: float = 0.7, box: int = 20) -> Tensor:
    """n images of strokes[0]..strokes[1] pen strokes inside the centred box: each a polyline of 1..segments[1]
    segments of random length whose direction turns by N(0, turn^2) radians at each joint (so short, straight,
    bent and curved-looking strokes all occur), drawn with one pen width per image (pixels whose centre lies
    within width / 2 of a segment are white; the default widths match the Hoda digits' ~3 px strokes)."""
    n, _ = _check_maker(n, None, generator, "stroke_images")
    rnd = lambda *s: utils.rand(*s, generator=generator)  # noqa: E731
    lo, hi = (SIZE - box) / 2, (SIZE + box) / 2 - 1
    k_max, s_max = strokes[1], segments[1]
    n_strokes = utils.randint(strokes[0], k_max + 1, (n, 1), generator=generator)
    n_segments = utils.randint(segments[0], s_max + 1, (n, k_max), generator=generator)
    radius = (width[0] + (width[1] - width[0]) * rnd(n, 1)) / 2
    dev = radius.device  # the generator's
    grid = torch.stack(torch.meshgrid(torch.arange(SIZE, device=dev), torch.arange(SIZE, device=dev),
                                      indexing="ij"), -1).flatten(0, 1).float()  # (784, 2) pixel centres (row, col)
    dist = torch.full((n, SIZE * SIZE), math.inf, device=dev)
    for k in range(k_max):
        point = lo + (hi - lo) * rnd(n, 2)
        angle = 2 * math.pi * rnd(n)
        for s in range(s_max):
            angle = angle + turn * utils.randn(n, generator=generator) * (s > 0)
            step = length[0] + (length[1] - length[0]) * rnd(n)
            nxt = (point + step[:, None] * torch.stack([angle.sin(), angle.cos()], 1)).clamp(lo, hi)
            drawn = (k < n_strokes[:, 0]) & (s < n_segments[:, k])
            d = _segment_distance(grid, point, nxt)
            dist = torch.where(drawn[:, None], torch.minimum(dist, d), dist)
            point = nxt
    return (dist <= radius).float().view(n, 1, SIZE, SIZE)


def _partners(y_of: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
    """For each label in y_of, the index of a random image in y whose label differs."""
    j = utils.randint(0, len(y), (len(y_of),), generator=generator, device=y.device)
    same = y[j] == y_of
    while same.any():
        j[same] = utils.randint(0, len(y), (int(same.sum()),), generator=generator, device=y.device)
        same = y[j] == y_of
    return j


def _joined(a: Tensor, b: Tensor, generator: torch.Generator) -> Tensor:
    """A third each: top of a on bottom of b, left of a beside right of b (cut at row / column 13-15, near the
    digits' centre of mass), and the overlay (pixelwise max) of a and b."""
    n = len(a)
    kind = utils.randint(0, 3, (n, 1, 1, 1), generator=generator, device=a.device)
    cut = utils.randint(13, 16, (n, 1, 1, 1), generator=generator, device=a.device)
    ramp = torch.arange(SIZE, device=a.device)
    first = torch.where(kind == 0, ramp[:, None] < cut, ramp[None, :] < cut)  # (n, 1, 28, 28)
    return torch.where(kind == 2, torch.maximum(a, b), torch.where(first, a, b))


def _novelty(c: Tensor, a: Tensor) -> Tensor:
    """Share of the white pixels of each image c that are black in a, (n,)."""
    return (c * (1 - a)).flatten(1).sum(1) / c.flatten(1).sum(1).clamp_min(1)


def cut_and_mix(x: Tensor, y: Tensor, generator: torch.Generator, novelty: float = 0.15, tries: int = 10) -> Tensor:
    """len(x) chimeras of x[i] and a digit of another class (_joined: top/bottom, left/right or overlay).

    A chimera in which either digit is nearly whole (under `novelty` of its white pixels new to that digit:
    the tails of Persian 1, 2, 3, 4, 6 and 9 are alike, so the top of a 2 on the tail of a 3 is a 2) is drawn
    again with a new partner, up to `tries` times (the last draw is kept)."""
    _check_images(x, "cut_and_mix", y)
    if len(torch.unique(y)) < 2:
        raise ValueError("cut_and_mix: y must hold at least two classes (chimeras join different digits)")
    out, todo = x.clone(), torch.arange(len(x), device=x.device)
    for _ in range(tries):
        a, b = x[todo], x[_partners(y[todo], y, generator)]
        c = _joined(a, b, generator)
        out[todo] = c
        todo = todo[torch.minimum(_novelty(c, a), _novelty(c, b)) < novelty]
        if not len(todo):
            break
    return out


def non_digits(n: int, x: Tensor, y: Tensor, ink: float, generator: torch.Generator) -> Tensor:
    """n non-digits, an equal mix (in shuffled order) of NON_DIGIT_KINDS; the chimeras are made from (x, y)."""
    n, ink = _check_maker(n, ink, generator, "non_digits")
    _check_images(x, "non_digits", y)
    sizes = [n // 4 + (i < n % 4) for i in range(4)]
    pick = utils.randint(0, len(x), (sizes[3],), generator=generator, device=x.device)
    makers = (lambda k: noise_images(k, ink, generator), lambda k: blob_images(k, ink, generator),
              lambda k: stroke_images(k, generator), lambda k: cut_and_mix(x[pick], y[pick], generator))
    out = torch.cat([make(k).to(x.device) for make, k in zip(makers, sizes) if k])
    return out[utils.randperm(n, generator=generator, device=x.device)]


# ----------------------------------------------------------------------------- the referee
class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU: conv 5x5 (6, pad 2) - avg pool - conv 5x5 (16) - avg pool -
    fc 120 - fc 84 - fc n_classes; input (B, 1, 28, 28) in [0, 1]. Same interface as classifier.SmallCNN."""

    def __init__(self, n_classes: int = NOT_A_DIGIT + 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        )
        self.head = nn.Linear(84, n_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Penultimate features (B, 84)."""
        if x.dim() != 4 or x.shape[1:] != (1, SIZE, SIZE):
            raise ValueError(f"LeNet5 expects images (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.features(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (B, n_classes)."""
        return self.head(self.embed(x))


def make_referee_data(x: Tensor, y: Tensor, share: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The digits (x, y) plus non-digits labelled NOT_A_DIGIT making up `share` of the total (the noise and
    blobs at the digits' own ink fraction, the chimeras cut from x)."""
    _check_images(x, "make_referee_data", y)
    share = utils.check_number(share, "share", "make_referee_data")
    if not 0 < share < 1:
        raise ValueError(f"make_referee_data: share (of non-digits in the total) must be in (0, 1), got {share}")
    m = max(1, round(share / (1 - share) * len(x)))
    fakes = non_digits(m, x, y, x.mean().item(), generator).to(x.device)
    labels = torch.full((m,), NOT_A_DIGIT, dtype=y.dtype, device=y.device)
    return torch.cat([x, fakes]), torch.cat([y, labels])


def train_referee(x_train: Tensor, y_train: Tensor, seed: int = 1, epochs: int = 20, share: float = 0.25,
                  lr: float = 3e-3, batch_size: int = 128, shift: int = 2, device=None,
                  show_progress: bool = False) -> LeNet5:
    """A LeNet5 trained (classifier.train_classifier: Adam, one-cycle schedule, random shifts) on the training
    digits plus non-digits made from them; initial weights and all draws from `seed`."""
    _check_images(x_train, "train_referee", y_train)
    utils.check_count(epochs, "epochs", "train_referee", minimum=1)
    x, y = make_referee_data(x_train, y_train, share, utils.generator(seed))
    with torch.random.fork_rng(devices=[]):  # initial weights from this seed; the caller's RNG untouched
        torch.manual_seed(seed)
        model = LeNet5().to(device or "cpu")
    classifier.train_classifier(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, shift=shift, seed=seed,
                                device=device, show_progress=show_progress)
    return model.eval()


# ----------------------------------------------------------------------------- verdicts
def digit_share_from_probs(probs: Tensor, threshold: float = 0.9) -> dict:
    """The verdict on images from the referee's probabilities (N, 11): `digit_share` (argmax a digit 0-9 with
    probability >= threshold), `not_digit_share` (argmax NOT_A_DIGIT), `unsure_share` (the rest),
    `class_fractions` (10,) and `min_class` among the images named as digits, `confidence` (mean max-prob)."""
    utils.check_tensor(probs, "probs", "digit_share")
    if probs.dim() != 2 or probs.shape[1] != NOT_A_DIGIT + 1:
        raise ValueError(f"digit_share: probs must be (N, {NOT_A_DIGIT + 1}), got shape {tuple(probs.shape)}")
    threshold = utils.check_number(threshold, "threshold", "digit_share")
    if threshold > 1:
        raise ValueError(f"digit_share: threshold must be in (0, 1], got {threshold}")
    top, pred = probs.max(1)
    named = (pred < NOT_A_DIGIT) & (top >= threshold)
    counts = torch.bincount(pred[named], minlength=NOT_A_DIGIT).double()
    fractions = (counts / counts.sum().clamp_min(1)).tolist()
    n_named, n_not = int(named.sum()), int((pred == NOT_A_DIGIT).sum())
    return {"n": len(probs), "digit_share": n_named / len(probs), "not_digit_share": n_not / len(probs),
            "unsure_share": (len(probs) - n_named - n_not) / len(probs), "class_fractions": fractions,
            "min_class": min(fractions), "confidence": top.mean().item()}


def digit_share(referee: nn.Module, x: Tensor, threshold: float = 0.9) -> dict:
    """digit_share_from_probs of the referee's probabilities on images x (N, 1, 28, 28)."""
    _check_images(x, "digit_share")
    return digit_share_from_probs(classifier.predict_proba(referee, x), threshold)


def control_sets(x_heldout: Tensor, y_heldout: Tensor, n: int, ink: float, seed: int = 1001) -> dict[str, Tensor]:
    """n images of each control, drawn from `seed` (keep it apart from the referee's training seed): held-out
    real digits (all of them if fewer), noise and blobs at ink fraction `ink`, strokes, and chimeras cut and
    mixed from held-out digits."""
    g = utils.generator(seed)
    n, ink = _check_maker(n, ink, g, "control_sets")
    _check_images(x_heldout, "control_sets", y_heldout)
    real = utils.randperm(len(x_heldout), generator=g, device=x_heldout.device)[:n]
    pick = utils.randint(0, len(x_heldout), (n,), generator=g, device=x_heldout.device)
    return {"real (held out)": x_heldout[real], "noise": noise_images(n, ink, g), "blobs": blob_images(n, ink, g),
            "strokes": stroke_images(n, g), "cut and mixed": cut_and_mix(x_heldout[pick], y_heldout[pick], g)}


# ----------------------------------------------------------------------------- scores of a set of images
def reference_features(clf: nn.Module, ref: nn.Module | None, x: Tensor) -> dict[str, Tensor]:
    """Features of the reference images x in both feature spaces: {'classifier': ..., 'referee': ...}."""
    return {"classifier": classifier.features(clf, x), **({"referee": classifier.features(ref, x)} if ref else {})}


def image_scores(x: Tensor, clf: nn.Module, ref: nn.Module | None, feats: dict, x_c2st: Tensor | None = None,
                 seed: int = 0, c2st_steps: int = 400) -> dict:
    """Every score of binary images x: FD in both feature spaces against `feats` (reference_features), the
    referee's verdict (digit_share, referee_*), the classifier's confidence, and, given real images x_c2st, a
    classifier two-sample test of x[:len(x_c2st)] against them (c2st_accuracy, c2st_ci95, c2st_n)."""
    _check_images(x, "image_scores")
    out = {"fd": frechet_distance(classifier.features(clf, x), feats["classifier"]),
           "confidence": classifier.predict_proba(clf, x).max(1).values.mean().item(),
           "ink_fraction": x.mean().item()}
    if ref is not None:
        out["fd_referee"] = frechet_distance(classifier.features(ref, x), feats["referee"])
        out.update({f"referee_{k}" if k != "digit_share" else k: v for k, v in digit_share(ref, x).items()})
    if x_c2st is not None:
        t = classifier.c2st(x_c2st, x[:len(x_c2st)], steps=c2st_steps, seed=seed)
        out["c2st_accuracy"], out["c2st_ci95"], out["c2st_n"] = t["accuracy"], t["ci95"], t["n"]
    return out


def monitor_scores(G: nn.Module, clf: nn.Module, ref: nn.Module | None, val_feats: dict, seed: int,
                   n: int = 1000) -> dict:
    """The scores along training of n binarised samples of G (noise seed + 1) against `val_feats`: fd_val,
    confidence_val and, when there is a referee, fd_referee_val and digit_share_val."""
    s = image_scores(binarize(G.sample(n, generator=utils.generator(seed + 1))), clf, ref, val_feats)
    out = {"fd_val": s["fd"], "confidence_val": s["confidence"]}
    if ref is not None:
        out["fd_referee_val"], out["digit_share_val"] = s["fd_referee"], s["digit_share"]
    return out


def agreed_order(a: list[dict], b: list[dict], gap_a: list[dict], gap_b: list[dict], keys) -> str | None:
    """'<' (or '>') when a's score is lower (higher) than b's in every run i and every key, each time by more than
    gap_a[i][key] + gap_b[i][key] (how far a redraw moves each score); None where any run or key disagrees."""
    if not (len(a) == len(b) == len(gap_a) == len(gap_b)) or not a:
        raise ValueError(f"agreed_order: a, b and their gaps need one entry per run each, got {len(a)}, {len(b)}, "
                         f"{len(gap_a)}, {len(gap_b)}")
    signs = set()
    for sa, sb, ga, gb in zip(a, b, gap_a, gap_b):
        for k in keys:
            d = sa[k] - sb[k]
            signs.add(math.copysign(1.0, d) if abs(d) > ga[k] + gb[k] else 0.0)
    return {-1.0: "<", 1.0: ">"}.get(signs.pop()) if len(signs) == 1 else None
