"""Profiles, seeding, device choice, progress bars and project paths shared by every notebook."""
from __future__ import annotations

import operator
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


DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:<index>", "gpu", "mps")  # what get_device accepts (any case)


def _device_help() -> str:
    return (f"choose one of {', '.join(DEVICE_CHOICES)} (any case; 'gpu' means CUDA, 'auto' or None picks CUDA "
            f"when present, else the CPU)")


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to compute on: CUDA when present, else CPU (`prefer` None or "auto"); or the one asked for.

    `prefer` is one of DEVICE_CHOICES in any case ("CPU", "Cuda:1", "gpu" = CUDA) or a torch.device. A device
    this machine does not have (e.g. "cuda" without a GPU) is refused here, at once, with the choices that
    work, instead of failing at the first tensor moved there."""
    if prefer is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(prefer, torch.device):
        name = str(prefer)
    elif isinstance(prefer, str):
        name = prefer.strip().lower()
    else:
        raise TypeError(f"device must be a string or a torch.device, got {type(prefer).__name__} {prefer!r}; "
                        + _device_help())
    if name in ("", "auto"):
        return get_device(None)
    if name == "gpu":
        if torch.cuda.is_available():
            return torch.device("cuda")
        raise ValueError(f"device {prefer!r} is not available: no GPU here (torch.cuda.is_available() is False: no "
                         f"NVIDIA driver or a CPU-only torch {torch.__version__}). Use 'cpu', or 'auto' to take "
                         f"CUDA when present; {_device_help()}")
    kind, _, index = name.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and not index.isdigit()) or name.endswith(":"):
        raise ValueError(f"unknown device {prefer!r}; {_device_help()}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} is not available: torch.cuda.is_available() is False (no NVIDIA "
                             f"GPU or driver, or a CPU-only torch {torch.__version__}). Use 'cpu', or 'auto' to "
                             f"take CUDA when present; {_device_help()}")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(f"device {prefer!r} is not available: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s), cuda:0 to "
                             f"cuda:{torch.cuda.device_count() - 1}")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {prefer!r} is not available: torch.backends.mps.is_available() is False "
                         f"(MPS is Apple silicon's GPU); {_device_help()}")
    return torch.device(name)


# ----------------------------------------------------------------------------- argument checks
# Shared by the public samplers, density estimators and trainers: a clear ValueError / TypeError at the entry
# point, naming the function, the argument and the fix, instead of a silent wrong answer further on.


def check_tensor(x, name: str, where: str, floating: bool = True, min_dim: int = 1,
                 allow_empty: bool = False) -> torch.Tensor:
    """x itself if it is a torch.Tensor with at least `min_dim` dimensions, a non-empty batch (dim 0) and
    (with `floating`) a floating dtype; a TypeError / ValueError naming `where` and `name` otherwise."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: {name} must be a torch.Tensor, got {type(x).__name__}; convert it with "
                        f"torch.as_tensor({name}, dtype=torch.float32)")
    if floating and not (x.dtype.is_floating_point and not x.dtype.is_complex):
        raise TypeError(f"{where}: {name} must be a real floating-point tensor, got dtype {x.dtype}; convert it "
                        f"with {name}.float()")
    if x.dim() < min_dim:
        raise ValueError(f"{where}: {name} must have at least {min_dim} dimension(s) (batch first), got shape "
                         f"{tuple(x.shape)}")
    if not allow_empty and x.dim() > 0 and x.shape[0] == 0:
        raise ValueError(f"{where}: {name} is an empty batch (shape {tuple(x.shape)}); pass at least one row")
    return x


def check_finite(x: torch.Tensor, name: str, where: str) -> torch.Tensor:
    """x if it holds no NaN or inf; a ValueError saying how many there are, where the first is, and what to do.
    (Skipped on the `meta` device, which holds no values.)"""
    if x.device.type == "meta" or not x.dtype.is_floating_point:
        return x
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        n_nan, n_inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
        first = tuple(int(i) for i in bad.nonzero()[0].tolist())
        rows = f" in {int(bad.reshape(len(x), -1).any(1).sum())} of {len(x)} rows" if x.dim() >= 1 and len(x) else ""
        fix = (f", e.g. {name} = {name}[torch.isfinite({name}).reshape(len({name}), -1).all(1)]"
               if name.isidentifier() and x.dim() >= 1 else "")
        raise ValueError(f"{where}: {name} holds {n_nan} NaN and {n_inf} inf value(s){rows} (the first at index "
                         f"{first}); every value must be finite. Drop or repair those rows first{fix}")
    return x


def check_number(value, name: str, where: str, positive: bool = True, allow_zero: bool = False) -> float:
    """value as a float if it is a finite real number, > 0 (`positive`) or >= 0 (`allow_zero`); a clear error
    otherwise."""
    is_number = isinstance(value, (int, float, np.integer, np.floating)) or (
        isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_complex)
    if isinstance(value, bool) or not is_number:
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{where}: {name} must be finite, got {v}")
    if positive and not (v > 0 or (allow_zero and v == 0)):
        raise ValueError(f"{where}: {name} must be {'>= 0' if allow_zero else 'positive'}, got {v}")
    return v


def check_count(n, name: str, where: str, minimum: int = 0) -> int:
    """n as an int if it is an integer >= minimum (int, numpy or 0-d torch integers; bools and floats refused);
    a clear error otherwise."""
    try:
        if isinstance(n, bool):
            raise TypeError
        n = operator.index(n)
    except (TypeError, RuntimeError, ValueError):
        raise TypeError(f"{where}: {name} must be an integer, got {type(n).__name__} {n!r}") from None
    if n < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {n}")
    return int(n)


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


PROGRESS_AFTER = 2.0  # seconds a loop runs before progress_after opens its bar


def progress_after(iterable, seconds: float | None = None, total: int | None = None, **kwargs):
    """Iterate over `iterable`, opening a transient progress bar (tqdm, leave=False) only once the loop has run
    `seconds` (default PROGRESS_AFTER): short calls stay silent, a call that runs for minutes shows it is alive.
    In executed notebooks (executed()) no bar is drawn at all, so the saved outputs do not depend on how fast
    the machine was. The samplers' show_progress=None (their default) means this."""
    if executed():
        yield from iterable
        return
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    seconds = PROGRESS_AFTER if seconds is None else seconds
    start, bar = time.perf_counter(), None
    try:
        for i, item in enumerate(iterable):
            if bar is None and time.perf_counter() - start >= seconds:
                bar = progress(total=total, initial=i, leave=False, **kwargs)
            yield item
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def steps(n: int, show_progress: bool | None, desc: str):
    """range(n) for a loop with the project's show_progress convention: True = a bar from the start,
    None = a transient bar once the loop has run PROGRESS_AFTER seconds (progress_after), False = none."""
    if show_progress is None:
        return progress_after(range(n), desc=desc)
    return progress(range(n), desc=desc) if show_progress else range(n)


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


def command_line(script: str, argv: list[str]) -> str:
    """The command that ran `script` with `argv`, shell-quoted, as recorded beside a checkpoint."""
    import shlex

    return " ".join(["python", script, *map(shlex.quote, argv)])


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
    from . import plotting

    plotting.use_palette_png()  # notebooks: figures as 256-colour PNGs (the committed outputs' size)
    print(f"profile: {profile()} (set {PROFILE_ENV}=smoke for the CI-sized run) | "
          f"device: {device} ({hardware()}) | seed {seed}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    return device
