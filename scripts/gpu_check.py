"""`make gpu-check`: prove, on a machine with a CUDA GPU, that the project runs there.

Steps, each timed and recorded (pass/fail, seconds, peak GPU memory in use on the device during the step):
  1. the pytest suite (tests/);
  2. every notebook under the smoke profile with nbval (`pytest --nbval-lax`), one step per notebook;
  3. notebook 06's CIFAR-10 unconditional training (scripts/train_ebm_cifar.py) for --minutes per variant
     (noise, buffer, decay) on the GPU; on torchvision's FakeData stand-in tensors when CIFAR-10 is not on
     disk and cannot be downloaded (the record says which). Checkpoints go to a temporary folder.
The report goes to notebooks/gpu_check.json: GPU name, driver-visible memory, torch and CUDA versions, and the
steps. Exit status 1 when a step failed. On a machine without CUDA it prints one line and exits 0.

    python scripts/gpu_check.py [--minutes 3] [--notebooks 02 06] [--variants noise] [--skip-tests]
                                [--skip-notebooks] [--skip-training]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "notebooks" / "gpu_check.json"
VARIANTS = ("noise", "buffer", "decay")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0, help="CIFAR-10 training budget per variant")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS, help="training variants")
    p.add_argument("--notebooks", nargs="*", default=None, help="notebook prefixes (default: all)")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--skip-notebooks", action="store_true")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--out", default=str(REPORT), help="where the JSON report goes")
    p.add_argument("--train-args", default="", help="extra arguments for train_ebm_cifar.py (tests: '--smoke')")
    return p.parse_args(argv)


class PeakMemory:
    """Polls the device's memory in use (all processes, torch.cuda.mem_get_info) above a baseline, in MiB."""

    def __init__(self, every: float = 0.2):
        import torch

        self.torch, self.every = torch, every
        free, total = torch.cuda.mem_get_info()
        self.baseline = total - free
        self.peak, self._stop = 0, threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.is_set():
            free, total = self.torch.cuda.mem_get_info()
            self.peak = max(self.peak, total - free - self.baseline)
            self._stop.wait(self.every)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> int:
        return round(self.peak / 2 ** 20)


def run_step(name: str, cmd: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
    """Run one command; its result: ok, seconds, peak GPU memory, and the tail of its output."""
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    with PeakMemory() as mem:
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                                  timeout=timeout)
            ok, out = proc.returncode == 0, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as e:
            ok, out = False, f"timed out after {timeout} s\n{e.stdout or ''}{e.stderr or ''}"
    seconds = time.perf_counter() - start
    tail = "\n".join(out.strip().splitlines()[-15:])
    print(f"   {'ok' if ok else 'FAILED'} in {seconds:.0f} s, peak GPU memory {mem.mib} MiB\n{tail}\n", flush=True)
    return {"step": name, "ok": ok, "seconds": round(seconds, 1), "peak_gpu_memory_mib": mem.mib,
            "command": " ".join(cmd), "output_tail": tail}


def cifar_available() -> bool:
    sys.path.insert(0, str(ROOT))
    from helpers import data

    try:
        data.cifar10(train=True)
        return True
    except Exception as e:  # noqa: BLE001 (offline, no copy: the stand-in tensors take over)
        print(f"CIFAR-10 not available ({type(e).__name__}): training on FakeData stand-in tensors", flush=True)
        return False


def training_step(variant: str, minutes: float, fake: bool, folder: Path, extra: list[str]) -> dict:
    out = folder / f"ebm_cifar_{variant}_gpu_check.pt"
    cmd = [sys.executable, "scripts/train_ebm_cifar.py", "--variant", variant, "--minutes", str(minutes),
           "--out", str(out)] + (["--fake"] if fake else []) + extra
    res = run_step(f"notebook 06: CIFAR-10 EBM training, {variant}", cmd, timeout=60 * minutes + 900)
    res["data"] = "FakeData stand-in tensors shaped like CIFAR-10" if fake else "CIFAR-10"
    rec = out.with_suffix(".json")
    if rec.exists():
        r = json.loads(rec.read_text())
        res.update(iterations=r.get("iterations"), seconds_per_iteration=r.get("seconds_per_iteration"),
                   train_seconds=r.get("train_seconds"), final=r.get("evaluation"))
    return res


def main(argv=None) -> int:
    args = parse(argv)
    import torch

    if not torch.cuda.is_available():
        print(f"gpu-check: no CUDA device here (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
              f"nothing was run. On this machine the GPU path is covered by tests/test_device.py only.")
        return 0
    env_nb = {"GENMODELS_PROFILE": "smoke", "GENMODELS_EXECUTED": "1"}
    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "gpu": torch.cuda.get_device_name(0),
        "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2 ** 30, 1),
        "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "python": platform.python_version(), "machine": platform.platform(), "cpu_count": os.cpu_count(),
        "peak_memory": "device memory in use during the step, all processes, above the level before it (MiB)",
        "steps": [],
    }

    def save():
        report["all_ok"] = all(s["ok"] for s in report["steps"])
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")

    if not args.skip_tests:
        report["steps"].append(run_step("pytest tests/", [sys.executable, "-m", "pytest", "-q", "tests/"]))
        save()
    if not args.skip_notebooks:
        nbs = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
        if args.notebooks:
            nbs = [p for p in nbs if any(p.name.startswith(a.zfill(2)) for a in args.notebooks)]
        for nb in nbs:
            report["steps"].append(run_step(f"notebook {nb.stem} (smoke, nbval)",
                                            [sys.executable, "-m", "pytest", "-q", "--nbval-lax",
                                             str(nb.relative_to(ROOT))], env=env_nb))
            save()
    if not args.skip_training:
        fake = not cifar_available()
        with tempfile.TemporaryDirectory() as folder:
            for variant in args.variants:
                report["steps"].append(training_step(variant, args.minutes, fake, Path(folder), args.train_args.split()))
                save()
    save()
    failed = [s["step"] for s in report["steps"] if not s["ok"]]
    print(f"gpu-check: {len(report['steps']) - len(failed)}/{len(report['steps'])} steps passed on "
          f"{report['gpu']}; report in {args.out}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
