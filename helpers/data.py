"""Data: the 2-D toy samplers of the assignments, and image data sets (MNIST, Fashion-MNIST,
CIFAR-10, the Hoda Persian digits) online through torchvision and offline from a data root.

Image loaders return `(images, labels)`: float32 images in [0, 1] of shape (N, C, H, W) and int64
labels of shape (N,). Where they look, in order:
  1. $GENMODELS_DATA (an offline copy laid out like ../shared/data: mnist/, fashion-mnist/, hoda/); a
     relative path is taken from the project's root (utils.repo_root()), not from the current folder
     (a notebook's kernel runs in notebooks/),
  2. the project's data/ folder (torchvision's layout, filled by earlier downloads; data/hoda/ for Hoda),
  3. a download into data/ (skipped when $GENMODELS_OFFLINE=1): torchvision's for MNIST, Fashion-MNIST
     and CIFAR-10; for Hoda, the two CDB files from a public copy pinned to one commit (HODA_BASE_URL),
     checked against their sha256.
When all fail, DataNotFoundError names the data set, every place looked, and how to fix it. A data file
that is cut short or corrupt gives DataFileError (a ValueError) naming the file. Sources and licences:
docs/data.md.
"""
from __future__ import annotations

import gzip
import os
import shutil
import struct
import tempfile
import urllib.parse
import zlib
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_blobs, make_circles, make_moons, make_swiss_roll

from .checkpoints import sha256sum
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


class DataFileError(ValueError):
    """A data file is there but cut short or corrupt (the message names it and says what to do)."""


class ChecksumError(DataFileError):
    """A downloaded file's sha256 is not the one this project was tested with (the file is not kept)."""


def data_root() -> Path | None:
    """The offline copy named by $GENMODELS_DATA, if set; a relative path is resolved against the project's
    root (utils.repo_root()), never against the current folder, so `export GENMODELS_DATA=../shared/data`
    means the same folder from the root, from notebooks/ and from a test."""
    env = os.environ.get(DATA_ENV, "").strip()
    if not env:
        return None
    p = Path(env).expanduser()
    return p if p.is_absolute() else (repo_root() / p).resolve()


def _data_env_note() -> str:
    """How $GENMODELS_DATA was read, for the not-found errors."""
    env = os.environ.get(DATA_ENV, "").strip()
    if not env:
        return f"${DATA_ENV} (not set)"
    if Path(env).expanduser().is_absolute():
        return f"${DATA_ENV}={env}"
    return (f"${DATA_ENV}={env} (a relative path, taken from the project's root {repo_root()}, not from the "
            f"current folder: {data_root()})")


def download_dir() -> Path:
    """Where torchvision downloads go: the project's data/ folder."""
    return repo_root() / "data"


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0", "false", "False")


def _not_found(name: str, looked: list[str], why: str = "") -> DataNotFoundError:
    places = "\n  - ".join(looked)
    return DataNotFoundError(
        f"{name} was not found. Places looked:\n  - {places}\n{why}Read {_data_env_note()}.\n"
        f"To fix: connect to the internet (torchvision downloads it into {download_dir()}), or set "
        f"{DATA_ENV} to a folder holding an offline copy (e.g. export {DATA_ENV}=../shared/data; a relative "
        f"path is taken from the project's root {repo_root()}; layout in the README, 'Data', and docs/data.md).")


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


def _bad_file(path: Path, what: str) -> DataFileError:
    return DataFileError(
        f"{path} is {what}. The file is incomplete or damaged (an interrupted download or copy): delete it and "
        f"load again (the loader downloads a fresh copy into {download_dir()} when online), or copy it again "
        f"from your offline data set (sources in docs/data.md).")


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzip'd) as a numpy array; DataFileError naming the file when it is cut short
    or not IDX."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, OSError, zlib.error) as e:  # a cut gzip stream: EOFError; a damaged one: BadGzipFile
        raise _bad_file(path, f"not a readable gzip stream ({type(e).__name__}: {e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or not 1 <= data[3] <= 4:
        raise _bad_file(path, f"not an IDX file of bytes (header {data[:4].hex() or 'empty'}, want 000008 then "
                              f"the number of dimensions)")
    ndim = data[3]  # magic: 0, 0, dtype (0x08 = uint8), ndim
    if len(data) < 4 + 4 * ndim:
        raise _bad_file(path, f"cut short inside its header ({len(data)} bytes)")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    want = int(np.prod(shape)) + 4 + 4 * ndim
    if len(data) != want:
        raise _bad_file(path, f"{len(data):,} bytes where its header (shape {shape}) needs {want:,}: "
                              f"{'cut short' if len(data) < want else 'longer than its header says'}")
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
                try:
                    a = np.loadtxt(csv, delimiter=",", dtype=np.uint8, ndmin=2)
                except (EOFError, OSError, ValueError, zlib.error) as e:
                    raise _bad_file(csv, f"not a readable CSV of 785 numbers a row ({type(e).__name__}: "
                                         f"{str(e)[:200]})") from None
                if a.shape[1] != 785:
                    raise _bad_file(csv, f"a CSV of {a.shape[1]} columns (want 784 pixels and a label)")
                return _images(a[:, :784].reshape(-1, 28, 28)), _labels(a[:, 784])
            looked.append(f"{csv} (offline 5k training subset)")
        else:
            pair = _idx_pair(folder, "t10k")
            if pair is not None:
                return pair
            looked.append(f"{folder}/t10k-*-idx*-ubyte.gz")
    else:
        looked.append(_data_env_note())
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
        looked.append(_data_env_note())
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
    looked.append(f"{root / 'cifar-10-batches-py'}" if root else _data_env_note())
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
# A public copy of the Hoda CDB files (Khosravi and Kabir, 2007), pinned to one commit of
# github.com/amir-saniyan/HodaDatasetReader; $GENMODELS_HODA_URL replaces it (a mirror, or a test's local server).
HODA_BASE_URL = ("https://github.com/amir-saniyan/HodaDatasetReader/raw/"
                 "a12d639fa9e768a2616f047ba9bc36d0758871ec/DigitDB/")
HODA_URL_ENV = "GENMODELS_HODA_URL"
HODA_SHA256 = {  # the copies this project was built and tested with
    "Test 20000.cdb": "f947c38071c886677ec212fe5000863fafae0b4ed349d97d51c33abe3c8e2b07",
    "RemainingSamples.cdb": "11c9b0661b8de5f743b1b01ac76b4de19b238062d6da3500b5d6128fb1989e3d",
}
HODA_SOURCE = ("the Hoda handwritten Persian digits (H. Khosravi and E. Kabir, 'Introducing a very large dataset of "
               "handwritten Farsi digits and a study on their varieties', Pattern Recognition Letters 28(10), "
               "2007); free for research and non-commercial use only")


def read_cdb(path: str | Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Read a Hoda CDB file: a list of uint8 images (0 background, 255 ink; sizes vary) and labels.

    Checks that the number of records equals the header's and that the whole file is consumed; a file cut
    short anywhere (header, record header, image data) gives one DataFileError naming the file.
    """
    path = Path(path)
    buf = path.read_bytes()
    size = len(buf)

    def truncated(i: int, pos: int, n_records: int) -> DataFileError:
        return _bad_file(path, f"cut short: {size:,} bytes end inside record {i + 1:,} of the header's "
                               f"{n_records:,} (at byte {pos:,}), so it holds only {i:,} complete digits")

    if size < 1024:
        raise _bad_file(path, f"cut short: {size:,} bytes, fewer than the 1,024-byte CDB header")
    height, width = buf[4], buf[5]
    (n_records,) = struct.unpack_from("<I", buf, 6)
    image_type = buf[522]
    if image_type != 0:
        raise DataFileError(f"{path}: image type {image_type} (grey) is not supported; only binary (0) is")
    head = 4 if (height and width) else 6  # marker, label, [W, H,] byte count
    images, labels = [], np.empty(n_records, dtype=np.int64)
    pos = 1024
    for i in range(n_records):
        if pos + head > size:
            raise truncated(i, pos, n_records)
        if buf[pos] != 0xFF:
            raise DataFileError(f"{path}: record {i} at byte {pos} does not start with 0xFF: the file is corrupt "
                                f"or not a Hoda CDB file (sources in docs/data.md)")
        labels[i] = buf[pos + 1]
        pos += 2
        if height == 0 or width == 0:
            w, h = buf[pos], buf[pos + 1]
            pos += 2
        else:
            w, h = width, height
        (nbytes,) = struct.unpack_from("<H", buf, pos)
        pos += 2
        if pos + nbytes > size:
            raise truncated(i, pos, n_records)
        runs = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=pos).astype(np.int64)
        pos += nbytes
        images.append(_decode_runs(runs, h, w, path, i))
    if pos != size:
        raise _bad_file(path, f"{size - pos:,} bytes longer than the header's {n_records:,} records")
    return images, labels


def _decode_runs(runs: np.ndarray, h: int, w: int, path, index: int) -> np.ndarray:
    """Row-by-row run lengths (background, ink, background, ...) -> (h, w) uint8 image."""
    img = np.zeros((h, w), dtype=np.uint8)
    row, col, ink = 0, 0, False
    for r in runs:
        if row >= h:
            if r:
                raise DataFileError(f"{path}: record {index}: run lengths go on past the image's {h} rows; the file "
                                    f"is corrupt")
            continue
        if ink and r:
            img[row, col:col + r] = 255
        col += r
        ink = not ink
        if col == w:
            row, col, ink = row + 1, 0, False
        elif col > w:
            raise DataFileError(f"{path}: record {index}: runs overflow row {row} (width {w}); the file is corrupt")
    if row != h:
        raise DataFileError(f"{path}: record {index}: decoded {row} rows, header says {h}; the file is corrupt")
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


def hoda_base_url() -> str:
    """Where hoda() downloads from: $GENMODELS_HODA_URL if set, else HODA_BASE_URL (ends with '/')."""
    url = os.environ.get(HODA_URL_ENV, "").strip() or HODA_BASE_URL
    return url if url.endswith("/") else url + "/"


def download_hoda(folder: str | Path | None = None, files=HODA_FILES) -> Path:
    """Download the Hoda CDB files missing from `folder` (default data/hoda) from hoda_base_url(), each checked
    against HODA_SHA256 before it is moved into place (a failed or mismatched download leaves nothing behind).
    Uses torchvision's download_url (redirects, User-Agent); returns the folder."""
    from torchvision.datasets.utils import download_url

    dest = Path(folder) if folder is not None else download_dir() / "hoda"
    created = [d for d in (dest, *dest.parents) if not d.exists()]  # deepest first

    def tidy():  # a failed download leaves nothing behind, not even the folders it made
        for d in created:
            if d.exists() and not any(d.iterdir()):
                d.rmdir()

    dest.mkdir(parents=True, exist_ok=True)
    for name in files:
        target = dest / name
        if target.exists():
            continue
        url = hoda_base_url() + urllib.parse.quote(name)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=dest))
        try:
            download_url(url, str(tmp), filename=name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            tidy()
            raise
        try:
            got, want = sha256sum(tmp / name), HODA_SHA256.get(name)
            if want is not None and got != want:
                raise ChecksumError(
                    f"the download of {url} does not match the copy this project was tested with:\n"
                    f"  sha256 of the download: {got}\n  sha256 expected:        {want}\n"
                    f"The file was not kept ({target} was not written). To fix: run again (an interrupted or "
                    f"altered transfer), or get '{name}' from another copy of the Hoda data set (docs/data.md), "
                    f"check it with `sha256sum`, and put it into {dest} or $GENMODELS_DATA/hoda; "
                    f"${HODA_URL_ENV} points the download at a mirror.")
            os.replace(tmp / name, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            tidy()
    return dest


def hoda_folder(folder: str | Path | None = None, files=HODA_FILES) -> Path:
    """The folder holding the Hoda CDB `files`, found as torchvision finds its data sets: `folder` when given;
    else $GENMODELS_DATA/hoda, then data/hoda, then a download into data/hoda (unless $GENMODELS_OFFLINE=1).
    DataNotFoundError names every place looked and what to do."""
    looked = []
    if folder is not None:
        candidates = [Path(folder).expanduser()]
    else:
        candidates = []
        if data_root() is not None:
            candidates.append(data_root() / "hoda")
        else:
            looked.append(_data_env_note())
        candidates.append(download_dir() / "hoda")
    for c in candidates:
        if all((c / f).exists() for f in files):
            return c
        looked.append(f"{c}/{{{', '.join(files)}}}")
    if folder is not None:
        raise DataNotFoundError(
            f"The Hoda Persian digits were not found in the folder passed, {candidates[0]}: it needs "
            f"{', '.join(files)}. To fix: pass the folder that holds them, or call data.hoda() with no folder "
            f"to look in ${DATA_ENV}/hoda and {download_dir() / 'hoda'} and download when online.")
    dest = download_dir() / "hoda"
    if offline():
        looked.append(f"download skipped: {OFFLINE_ENV} is set")
    else:
        try:
            return download_hoda(dest, files)
        except ChecksumError:
            raise
        except Exception as e:  # no network, HTTP error, ...
            looked.append(f"download from {hoda_base_url()} into {dest} failed: {type(e).__name__}: {str(e)[:200]}")
    places = "\n  - ".join(looked)
    raise DataNotFoundError(
        f"The Hoda Persian digits were not found. Places looked:\n  - {places}\n"
        f"To fix: connect to the internet (the files download into {dest}, checked by sha256), or put "
        f"{' and '.join(repr(f) for f in files)} into {dest} or into a hoda/ folder under ${DATA_ENV} (a relative "
        f"path is taken from the project's root {repo_root()}). Source, paper and licence: docs/data.md.")


def hoda(folder: str | Path | None = None, files=HODA_FILES) -> tuple[torch.Tensor, torch.Tensor]:
    """The Hoda digits from the CDB `files` (found by hoda_folder: `folder`, else $GENMODELS_DATA/hoda, else
    data/hoda, else downloaded into data/hoda), as 28x28 binary images (`hoda_to_28`). The two files used
    here hold 42,352 digits; the 60,000-digit training file is not used. Free for research and
    non-commercial use only (docs/data.md)."""
    root = hoda_folder(folder, files)
    xs, ys = [], []
    for f in files:
        imgs, labels = read_cdb(root / f)
        xs.append(hoda_to_28(imgs))
        ys.append(torch.as_tensor(labels))
    return torch.cat(xs), torch.cat(ys)


def hoda_scans(name: str = "Test 20000.cdb", folder: str | Path | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """The raw scans of one Hoda file (read_cdb's images of varying size and labels), found like hoda()."""
    return read_cdb(hoda_folder(folder, (name,)) / name)


def split(n: int, fractions=(0.85, 0.10, 0.05), seed: int = 0) -> list[torch.Tensor]:
    """Shuffle range(n) with a seed and cut it into disjoint index sets of the given fractions."""
    if abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must sum to 1, got {fractions}")
    perm = utils.randperm(n, generator=utils.generator(seed))
    sizes = [int(round(f * n)) for f in fractions[:-1]]
    sizes.append(n - sum(sizes))
    return list(torch.split(perm, sizes))
