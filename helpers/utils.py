"""Profiles, seeding, device choice, progress bars and project paths shared by every notebook."""
from __future__ import annotations

import os
import random
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

PROFILE_ENV = "GENMODELS_PROFILE"  # "full" (default: the assignments' own parameters) or "smoke" (CI)
ROOT_ENV = "GENMODELS_ROOT"  # where checkpoints/ and data/ live when the package is not run from a clone
PROFILES = ("full", "smoke")


def profile() -> str:
    """The active profile: 'full' unless GENMODELS_PROFILE says 'smoke'."""
    name = os.environ.get(PROFILE_ENV, "full").strip().lower() or "full"
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={name!r} is not a profile; use one of {PROFILES}")
    return name


def is_smoke() -> bool:
    """True under the smoke profile (CI): iteration counts and data sizes are scaled down."""
    return profile() == "smoke"


def scaled(full, smoke):
    """The assignment's value `full` by default, `smoke` under the smoke profile."""
    return smoke if is_smoke() else full


def repo_root() -> Path:
    """The project's root: $GENMODELS_ROOT, else the folder holding the helpers package."""
    env = os.environ.get(ROOT_ENV)
    return Path(env).expanduser().resolve() if env else Path(__file__).resolve().parents[1]


def checkpoints_dir() -> Path:
    return repo_root() / "checkpoints"


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed python, numpy and torch (CUDA too); return a torch.Generator seeded alike."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return generator(seed)


def generator(seed: int, device=None) -> torch.Generator:
    """A torch.Generator seeded with `seed` on `device` (CPU by default)."""
    return torch.Generator(device=device or "cpu").manual_seed(seed)


def _drawn(fn, shape, generator, device, **kw) -> torch.Tensor:
    """fn(shape) drawn on the generator's device (reproducible from its seed), then moved to `device`."""
    gen_device = generator.device if generator is not None else (device or "cpu")
    return fn(shape, generator=generator, device=gen_device, **kw).to(device or gen_device)


def randn(*shape, generator: torch.Generator | None = None, device=None, dtype=None) -> torch.Tensor:
    """N(0, 1) draws of `shape` on `device`, seeded by `generator` on any device (the project's one way)."""
    return _drawn(torch.randn, _shape(shape), generator, device, dtype=dtype)


def rand(*shape, generator: torch.Generator | None = None, device=None, dtype=None) -> torch.Tensor:
    """U[0, 1) draws of `shape` on `device`, seeded by `generator` on any device."""
    return _drawn(torch.rand, _shape(shape), generator, device, dtype=dtype)


def randint(low: int, high: int, shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Integers in [low, high) of `shape` on `device`, seeded by `generator` on any device."""
    return _drawn(lambda s, **kw: torch.randint(low, high, s, **kw), tuple(shape), generator, device)


def randperm(n: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """A random permutation of range(n) on `device`, seeded by `generator` on any device."""
    return _drawn(lambda s, **kw: torch.randperm(s, **kw), n, generator, device)


def multinomial(probs: torch.Tensor, n: int, replacement: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """n category indices drawn with weights `probs`, seeded by `generator` on any device; placed like probs."""
    gen_device = generator.device if generator is not None else probs.device
    return torch.multinomial(probs.to(gen_device), n, replacement, generator=generator).to(probs.device)


def randn_like(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """N(0, 1) draws shaped, typed and placed like x."""
    return randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def rand_like(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """U[0, 1) draws shaped, typed and placed like x."""
    return rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _shape(shape: tuple) -> tuple:
    """Accept randn(2, 3) and randn((2, 3)) alike."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)) else tuple(shape)


def get_device(prefer: str | None = None) -> torch.device:
    """CUDA when present (or `prefer`), else CPU."""
    if prefer is not None:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


EXECUTED_ENV = "GENMODELS_EXECUTED"  # set by scripts/run_notebooks.py: notebooks run with no one watching


def executed() -> bool:
    """True when code runs with no live frontend: GENMODELS_EXECUTED=1 (make run) or the smoke profile (nbval)."""
    flag = os.environ.get(EXECUTED_ENV, "").strip().lower()
    return flag not in ("", "0", "false", "no") or is_smoke()


class _FinalLine:
    """A file for tqdm that keeps only the bar's latest frame and prints it to stdout, one line, when the bar ends."""

    def __init__(self):
        self.frame = ""

    def write(self, s: str) -> int:
        *ended, rest = s.split("\n")
        for line in ended:  # a newline closes the bar: print its latest frame
            frame = line.split("\r")[-1] or self.frame
            if frame.strip():
                sys.stdout.write(frame.rstrip() + "\n")
                sys.stdout.flush()
            self.frame = ""
        if rest.split("\r")[-1].strip():
            self.frame = rest.split("\r")[-1]
        return len(s)

    def flush(self) -> None:
        """Nothing buffered here: write() prints each finished line at once."""


def progress(iterable=None, **kwargs):
    """A tqdm progress bar: the live widget in Jupyter and Colab, a text bar in a terminal, and in executed
    notebooks (executed()) one text line with the bar's final state, written to stdout when the loop ends."""
    if executed():
        from tqdm.std import tqdm

        kwargs.setdefault("mininterval", 60.0)
        kwargs.setdefault("ascii", True)
        return tqdm(iterable, file=_FinalLine(), **kwargs)
    from tqdm.auto import tqdm

    kwargs.setdefault("mininterval", 1.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


@contextmanager
def timer(label: str = "", verbose: bool = True):
    """Context manager measuring wall time; the elapsed seconds are in `t.seconds` afterwards."""
    class _T:
        seconds = 0.0

    t = _T()
    start = time.perf_counter()
    try:
        yield t
    finally:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t.seconds = time.perf_counter() - start
        if verbose and label:
            print(f"{label}: {t.seconds:.1f} s")


def hardware() -> str:
    """A one-line description of the machine doing the work (for the notebooks' provenance line)."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU, {torch.get_num_threads()} threads ({os.cpu_count()} cores visible)"


def versions() -> dict:
    """Versions of python and the packages whose releases change the notebooks' numbers (pinned in constraints.txt)."""
    import platform

    import matplotlib
    import scipy
    import sklearn

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "scikit-learn": sklearn.__version__, "matplotlib": matplotlib.__version__}


def setup(seed: int = 0) -> torch.device:
    """The notebooks' first call: seed everything, pick the device, print profile, device, threads and versions."""
    seed_everything(seed)
    device = get_device()
    print(f"profile: {profile()} (set {PROFILE_ENV}=smoke for the CI-sized run) | "
          f"device: {device} ({hardware()}) | seed {seed}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    return device
