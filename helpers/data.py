"""Data: the 2-D toy samplers of the assignments, and image data sets (MNIST, Fashion-MNIST,
CIFAR-10, the Hoda Persian digits) online through torchvision and offline from a data root.

Image loaders return `(images, labels)`: float32 images in [0, 1] of shape (N, C, H, W) and int64
labels of shape (N,). Where they look, in order:
  1. $GENMODELS_DATA (an offline copy laid out like ../shared/data: mnist/, fashion-mnist/, hoda/),
  2. the project's data/ folder (torchvision's layout, filled by earlier downloads),
  3. a torchvision download into data/ (skipped when $GENMODELS_OFFLINE=1).
When all fail, DataNotFoundError names the data set, every place looked, and how to fix it.
"""
from __future__ import annotations

import gzip
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_blobs, make_circles, make_moons, make_swiss_roll

from .distributions import GaussianMixture
from . import utils
from .utils import repo_root

DATA_ENV = "GENMODELS_DATA"
OFFLINE_ENV = "GENMODELS_OFFLINE"


# ----------------------------------------------------------------------------- 2-D toy data

def _as_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def gaussian_grid(n: int, sigma: float = 0.5, spacing: float = 2.0, seed: int = 0) -> torch.Tensor:
    """HW1 Part I: equal mixture of N(mu, sigma^2 I) at (0,0), (0,s), (s,0), (s,s); (n, 2)."""
    return gaussian_grid_mixture(sigma, spacing).sample(n, utils.generator(seed))


def gaussian_grid_mixture(sigma: float = 0.5, spacing: float = 2.0) -> GaussianMixture:
    """The 4-Gaussian grid as a GaussianMixture (HW1 Part I with spacing 2; HW3 with spacing 3)."""
    s = spacing
    return GaussianMixture([[0, 0], [0, s], [s, 0], [s, s]], sigma)


def spiral(n: int, r_std: float = 0.5, seed: int = 0) -> torch.Tensor:
    """HW1 Part I: theta ~ U[0, 4 pi], r | theta ~ N(theta / 2, r_std^2), x = r (cos, sin); (n, 2)."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, 4 * np.pi, n)
    r = rng.normal(theta / 2, r_std)
    return _as_tensor(np.stack([r * np.cos(theta), r * np.sin(theta)], 1))


def rotated_gaussians_centers(num_gaussians: int = 5, radius: float = 2.5) -> np.ndarray:
    """Centres equally spaced on a circle, the first on the positive x axis; (num_gaussians, 2)."""
    angles = np.linspace(0, 2 * np.pi, num_gaussians, endpoint=False)
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def rotated_gaussians_mixture(num_gaussians: int = 5, radius: float = 0.7, variance: float = 0.1) -> GaussianMixture:
    """HW2 Part I's target: equal mixture of N(c_m, variance I) on a circle of `radius`."""
    return GaussianMixture(rotated_gaussians_centers(num_gaussians, radius), variance ** 0.5)


def toy_2d(name: str, n: int = 1000, seed: int = 0, num_gaussians: int = 5,
           radius: float = 2.5, variance: float = 0.1) -> torch.Tensor:
    """HW1 Part II's toy sets ('Circles', 'Moons', 'GaussiansGrid', 'GaussiansRot'); (n, 2) float32.

    'GaussiansRot' with radius=0.7 gives HW2 Part I's make_blobs reference samples.
    """
    if name == "Circles":
        x = make_circles(n, noise=0.1, factor=0.8, random_state=seed, shuffle=True)[0]
    elif name == "Moons":
        x = make_moons(n, noise=0.1, random_state=seed, shuffle=True)[0]
    elif name == "GaussiansGrid":
        x = make_blobs(n, centers=np.array([[0, 0], [0, 2], [2, 0], [2, 2]]), cluster_std=0.5,
                       random_state=seed, shuffle=True)[0]
    elif name == "GaussiansRot":
        x = make_blobs(n, centers=rotated_gaussians_centers(num_gaussians, radius),
                       cluster_std=np.sqrt(variance), random_state=seed, shuffle=True)[0]
    else:
        raise ValueError(f"unknown toy data set {name!r}; choose one of {TOY_SETS}")
    return _as_tensor(x)


TOY_SETS = ("Circles", "Moons", "GaussiansGrid", "GaussiansRot")


def swiss_roll(n: int, noise: float = 0.5, seed: int = 0) -> torch.Tensor:
    """The ISTA homework's 2-D swiss roll: sklearn's roll, coordinates (x, z) divided by 10; (n, 2)."""
    x, _ = make_swiss_roll(n, noise=noise, random_state=seed)
    return _as_tensor(x[:, [0, 2]] / 10.0)


class PointsDataset(torch.utils.data.TensorDataset):
    """A torch Dataset over an (n, d) tensor of points (items are 1-tuples, as TensorDataset's)."""

    def __init__(self, points: torch.Tensor):
        super().__init__(torch.as_tensor(points, dtype=torch.float32))


# ----------------------------------------------------------------------------- where data lives

class DataNotFoundError(FileNotFoundError):
    """A data set is in none of the places looked, and could not be downloaded."""


def data_root() -> Path | None:
    """The offline copy named by $GENMODELS_DATA, if set."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else None


def download_dir() -> Path:
    """Where torchvision downloads go: the project's data/ folder."""
    return repo_root() / "data"


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0", "false", "False")


def _not_found(name: str, looked: list[str], why: str = "") -> DataNotFoundError:
    places = "\n  - ".join(looked)
    return DataNotFoundError(
        f"{name} was not found. Places looked:\n  - {places}\n{why}"
        f"To fix: connect to the internet (torchvision downloads it into {download_dir()}), or set "
        f"{DATA_ENV} to a folder holding an offline copy (e.g. export {DATA_ENV}=../shared/data; "
        f"layout in the README, 'Data').")


def _torchvision(cls, name: str, train: bool, looked: list[str], **kw):
    """A torchvision data set from data/, downloading it unless offline; no partial files left."""
    root = download_dir()
    try:
        return cls(root, train=train, download=False, **kw)
    except (RuntimeError, FileNotFoundError):
        looked.append(f"{root} (torchvision layout: no {name} files)")
    if offline():
        looked.append(f"download skipped: {OFFLINE_ENV} is set")
        raise _not_found(name, looked)
    before = set(root.iterdir()) if root.exists() else set()
    try:
        root.mkdir(parents=True, exist_ok=True)
        return cls(root, train=train, download=True, **kw)
    except Exception as e:
        for p in set(root.iterdir()) - before:  # remove whatever the failed download created
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        looked.append(f"download into {root} failed: {type(e).__name__}: {str(e)[:200]}")
        raise _not_found(name, looked) from None


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzip'd) as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]  # magic: 0, 0, dtype (0x08 = uint8), ndim
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _images(arr: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, C, H, W) in [0, 1]."""
    t = torch.from_numpy(np.array(arr, copy=True))
    t = t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2)
    return t.float().div_(255.0)


def _labels(arr) -> torch.Tensor:
    return torch.as_tensor(np.array(arr, copy=True), dtype=torch.int64)


def _idx_pair(folder: Path, prefix: str):
    for suffix in (".gz", ""):
        img, lab = folder / f"{prefix}-images-idx3-ubyte{suffix}", folder / f"{prefix}-labels-idx1-ubyte{suffix}"
        if img.exists() and lab.exists():
            return _images(_read_idx(img)), _labels(_read_idx(lab))
    return None


def mnist(train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST digits (N, 1, 28, 28) in [0, 1] and labels. Offline, train is the 5k subset (500 per class)."""
    looked = []
    root = data_root()
    if root is not None:
        folder = root / "mnist"
        if train:
            csv = folder / "mnist_5k.csv.gz"
            if csv.exists():
                a = np.loadtxt(csv, delimiter=",", dtype=np.uint8)
                return _images(a[:, :784].reshape(-1, 28, 28)), _labels(a[:, 784])
            looked.append(f"{csv} (offline 5k training subset)")
        else:
            pair = _idx_pair(folder, "t10k")
            if pair is not None:
                return pair
            looked.append(f"{folder}/t10k-*-idx*-ubyte.gz")
    else:
        looked.append(f"${DATA_ENV} (not set)")
    import torchvision
    ds = _torchvision(torchvision.datasets.MNIST, "MNIST", train, looked)
    return _images(ds.data.numpy()), _labels(ds.targets)


def fashion_mnist(train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST (N, 1, 28, 28) in [0, 1] and labels (60k train / 10k test)."""
    looked = []
    root = data_root()
    if root is not None:
        folder = root / "fashion-mnist"
        pair = _idx_pair(folder, "train" if train else "t10k")
        if pair is not None:
            return pair
        looked.append(f"{folder}/{'train' if train else 't10k'}-*-idx*-ubyte.gz")
    else:
        looked.append(f"${DATA_ENV} (not set)")
    import torchvision
    ds = _torchvision(torchvision.datasets.FashionMNIST, "Fashion-MNIST", train, looked)
    return _images(ds.data.numpy()), _labels(ds.targets)


def cifar10(train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 (N, 3, 32, 32) in [0, 1] and labels; online only (no offline copy exists here)."""
    looked = []
    root = data_root()
    if root is not None and (root / "cifar-10-batches-py").exists():
        import torchvision
        ds = torchvision.datasets.CIFAR10(root, train=train, download=False)
        return _images(ds.data), _labels(ds.targets)
    looked.append(f"{root / 'cifar-10-batches-py' if root else '$' + DATA_ENV + ' (not set)'}")
    import torchvision
    ds = _torchvision(torchvision.datasets.CIFAR10, "CIFAR-10", train, looked)
    return _images(ds.data), _labels(ds.targets)


def fake_cifar10(n: int = 512, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stand-in tensors shaped like CIFAR-10 (torchvision's FakeData), for offline smoke runs."""
    import torchvision
    ds = torchvision.datasets.FakeData(n, image_size=(3, 32, 32), num_classes=10, random_offset=seed,
                                       transform=torchvision.transforms.PILToTensor())
    x = torch.stack([ds[i][0] for i in range(n)])
    y = torch.as_tensor([int(ds[i][1]) for i in range(n)])
    return x.float() / 255.0, y


# ----------------------------------------------------------------------------- Hoda Persian digits

HODA_FILES = ("Test 20000.cdb", "RemainingSamples.cdb")


def read_cdb(path: str | Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Read a Hoda CDB file: a list of uint8 images (0 background, 255 ink; sizes vary) and labels.

    Checks that the number of records equals the header's and that the whole file is consumed.
    """
    path = Path(path)
    buf = path.read_bytes()
    if len(buf) < 1024:
        raise ValueError(f"{path} is {len(buf)} bytes, shorter than the 1,024-byte CDB header")
    height, width = buf[4], buf[5]
    (n_records,) = struct.unpack_from("<I", buf, 6)
    image_type = buf[522]
    if image_type != 0:
        raise ValueError(f"{path}: image type {image_type} (grey) is not supported; only binary (0) is")
    images, labels = [], np.empty(n_records, dtype=np.int64)
    pos = 1024
    for i in range(n_records):
        if buf[pos] != 0xFF:
            raise ValueError(f"{path}: record {i} at byte {pos} does not start with 0xFF")
        labels[i] = buf[pos + 1]
        pos += 2
        if height == 0 or width == 0:
            w, h = buf[pos], buf[pos + 1]
            pos += 2
        else:
            w, h = width, height
        (nbytes,) = struct.unpack_from("<H", buf, pos)
        pos += 2
        runs = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=pos).astype(np.int64)
        pos += nbytes
        images.append(_decode_runs(runs, h, w, path, i))
    if pos != len(buf):
        raise ValueError(f"{path}: {len(buf) - pos} bytes left after the header's {n_records} records")
    return images, labels


def _decode_runs(runs: np.ndarray, h: int, w: int, path, index: int) -> np.ndarray:
    """Row-by-row run lengths (background, ink, background, ...) -> (h, w) uint8 image."""
    img = np.zeros((h, w), dtype=np.uint8)
    row, col, ink = 0, 0, False
    for r in runs:
        if ink and r:
            img[row, col:col + r] = 255
        col += r
        ink = not ink
        if col == w:
            row, col, ink = row + 1, 0, False
        elif col > w:
            raise ValueError(f"{path}: record {index}: runs overflow row {row} (width {w})")
    if row != h:
        raise ValueError(f"{path}: record {index}: decoded {row} rows, header says {h}")
    return img


def hoda_to_28(images: list[np.ndarray], size: int = 28, box: int = 20, margin: int = 3,
               enlarge: bool = False) -> torch.Tensor:
    """Shrink each digit whose longer side exceeds `box` to fit (aspect kept; never enlarged, so a Persian 0
    stays a small dot), put its centre of mass at the canvas centre (kept `margin` pixels from the edges),
    and binarise: (N, 1, size, size) float32 in {0, 1}, white ink. `enlarge=True` scales every digit to
    fill the box instead (the old preprocessing, which blew a 0 up into a disc)."""
    from PIL import Image

    if size - 2 * margin < box:
        raise ValueError(f"box {box} + 2 * margin {margin} must fit in size {size}")
    out = np.zeros((len(images), size, size), dtype=np.uint8)
    for i, img in enumerate(images):
        h, w = img.shape
        s = box / max(h, w) if enlarge else min(1.0, box / max(h, w))
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        small = img if s == 1.0 else np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR))
        ink = (small >= 128).astype(np.float64)
        mass = ink.sum()
        cy = (ink.sum(1) @ np.arange(nh)) / mass if mass else (nh - 1) / 2
        cx = (ink.sum(0) @ np.arange(nw)) / mass if mass else (nw - 1) / 2
        top = int(np.clip(round((size - 1) / 2 - cy), margin, size - margin - nh))
        left = int(np.clip(round((size - 1) / 2 - cx), margin, size - margin - nw))
        out[i, top:top + nh, left:left + nw] = small
    return torch.as_tensor(out >= 128, dtype=torch.float32).unsqueeze(1)


def hoda(folder: str | Path | None = None, files=HODA_FILES) -> tuple[torch.Tensor, torch.Tensor]:
    """The Hoda digits from CDB files in `folder` (default $GENMODELS_DATA/hoda), as 28x28 binary images
    (`hoda_to_28`). Our data hold two of the three files (42,352 digits); the 60,000-digit training file is absent."""
    looked = []
    candidates = [Path(folder)] if folder is not None else []
    if folder is None and data_root() is not None:
        candidates.append(data_root() / "hoda")
    candidates.append(download_dir() / "hoda")
    for c in candidates:
        paths = [c / f for f in files]
        if all(p.exists() for p in paths):
            xs, ys = [], []
            for p in paths:
                imgs, labels = read_cdb(p)
                xs.append(hoda_to_28(imgs))
                ys.append(torch.as_tensor(labels))
            return torch.cat(xs), torch.cat(ys)
        looked.append(f"{c}/{{{', '.join(files)}}}")
    raise DataNotFoundError(
        "The Hoda Persian digits were not found (no download exists). Places looked:\n  - "
        + "\n  - ".join(looked)
        + f"\nTo fix: pass the folder holding the .cdb files, e.g. data.hoda('path/to/hoda'), or set "
          f"{DATA_ENV} to a folder with a hoda/ subfolder.")


def split(n: int, fractions=(0.85, 0.10, 0.05), seed: int = 0) -> list[torch.Tensor]:
    """Shuffle range(n) with a seed and cut it into disjoint index sets of the given fractions."""
    if abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must sum to 1, got {fractions}")
    perm = utils.randperm(n, generator=utils.generator(seed))
    sizes = [int(round(f * n)) for f in fractions[:-1]]
    sizes.append(n - sum(sizes))
    return list(torch.split(perm, sizes))
