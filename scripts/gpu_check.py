"""`make gpu-check` / `bash .gpu/run.sh`: prove, in one command of at most --budget-seconds (540 s = 9 minutes),
that the project runs on a machine with a CUDA GPU (docs/gpu.md).

Stages, in order, each with its own time cap (a step still running at its cap is stopped and recorded as
timed out; what a stage leaves unused goes to the last one):
  1. tests      the pytest suite without the tests marked slow (tests/), on CUDA where a test uses the device;
  2. smoke      every notebook under the smoke profile with nbval (`pytest --nbval-lax`), one step each,
                --jobs of them at a time;
  3. training   notebook 06's CIFAR-shaped training (scripts/train_ebm_cifar.py) for --minutes per variant
                (noise, buffer, decay), one after the other; on torchvision FakeData stand-in tensors when
                CIFAR-10 is not on disk (offline; the record says which). Checkpoints go to a temporary folder;
  4. full       the full profile of the notebooks that fit the time left, cheapest first (by their CPU times in
                notebooks/timings.json), --jobs at a time; a notebook still running at the end is stopped and
                recorded as timed out ("did not fit"), which does not fail the check.
The report, notebooks/gpu_check.json, is rewritten after every step (and copied to --mirror), so a run stopped
from outside still leaves one: mode, GPU name and memory, torch / CUDA / cuDNN versions, Python, the packages
of the notebook runner, and per step its status, seconds, peak GPU memory (device memory in use above the
level at the start, all processes; steps running together share it), the peak GPU memory of the step's own
processes (nvidia-smi, where it lists them), the peak host memory (RSS) of its processes, and the tail of its
output. Exit status 1 when a step of stages 1-3 failed or timed out, or a full-profile notebook failed.

--cpu runs every stage on the CPU under the smoke profile (training: train_ebm_cifar.py --smoke; the full
stage: the first --full-notebooks notebook, under the smoke profile): the dry run of the bundle on a machine
without a GPU (tests/test_gpu_bundle.py). Without --cpu, on a machine without CUDA it prints one line and
exits 0.

    python scripts/gpu_check.py [--budget-seconds 540] [--cpu] [--minutes 1] [--jobs 3] [--notebooks 02 06]
                                [--full-notebooks 07 04] [--variants noise] [--skip-tests] [--skip-notebooks]
                                [--skip-training] [--skip-full] [--out notebooks/gpu_check.json] [--mirror DIR]
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "notebooks" / "gpu_check.json"
VARIANTS = ("noise", "buffer", "decay")
RUNNER_PACKAGES = ("nbval", "nbclient", "nbformat", "ipykernel", "ipython", "jupyter_client", "pyzmq", "traitlets",
                   "pytest", "numpy", "scipy", "scikit-learn", "matplotlib", "torchvision")
# Caps per stage as fractions of the budget (training: per variant, its minutes plus this margin in seconds).
TESTS_FRACTION, SMOKE_FRACTION, TRAIN_MARGIN_S = 0.2, 0.25, 40
MIN_START_S = 20  # a full-profile notebook is not started with less time left than this
RESERVE_S = 5  # kept at the end for the last report


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-seconds", type=float, default=None,
                   help="the whole check, from GPU_CHECK_T0 (set by .gpu/run.sh) or the start (default 540; "
                        "1800 with --cpu)")
    p.add_argument("--cpu", action="store_true", help="every stage on the CPU under the smoke profile (dry run)")
    p.add_argument("--minutes", type=float, default=1.0, help="CIFAR-shaped training per variant (GPU)")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS, help="training variants")
    p.add_argument("--notebooks", nargs="*", default=None, help="notebook prefixes for the smoke stage (default: all)")
    p.add_argument("--full-notebooks", nargs="*", default=None,
                   help="notebook prefixes for the full stage, in this order (default: all, cheapest first; "
                        "with --cpu: the cheapest one)")
    p.add_argument("--jobs", type=int, default=None, help="notebooks run at a time (default 3; 1 with --cpu)")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--skip-notebooks", action="store_true", help="skip the smoke and the full stage")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--skip-full", action="store_true")
    p.add_argument("--out", default=str(REPORT), help="where the JSON report goes")
    p.add_argument("--mirror", default=None, help="a folder that gets a copy of the report and the steps' full "
                                                  "output after every step (run.sh: $OUT when set)")
    p.add_argument("--train-args", default="", help="extra arguments for train_ebm_cifar.py (tests: '--smoke')")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- memory
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _tree(pid: int, kids: dict[int, list[int]]) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Monitor:
    """Polls, every `every` s, the device memory in use (all processes, above the level at the start), the host
    RSS of each running step's processes, and (every few polls, where nvidia-smi lists processes) the GPU memory
    of those processes; keeps each step's peaks."""

    def __init__(self, cuda: bool, every: float = 0.5):
        self.cuda, self.every, self.jobs = cuda, every, []
        self.lock, self._stop = threading.Lock(), threading.Event()
        self.smi = shutil.which("nvidia-smi") if cuda else None
        self.baseline = self._device_used() if cuda else 0

    def _device_used(self) -> int:
        import torch

        free, total = torch.cuda.mem_get_info()
        return total - free

    def _smi(self) -> dict[int, float] | None:
        try:
            out = subprocess.run([self.smi, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=5).stdout
            return {int(a): float(b) for a, b in (line.split(",") for line in out.strip().splitlines() if "," in line)}
        except (OSError, ValueError, subprocess.SubprocessError):
            return None

    def start(self):
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=10)

    def _poll(self):
        n = 0
        while not self._stop.is_set():
            with self.lock:
                jobs = [j for j in self.jobs if j.proc is not None and j.proc.poll() is None]
            if jobs:
                used = (self._device_used() - self.baseline) / 2 ** 20 if self.cuda else None
                smi = self._smi() if self.smi and n % 4 == 0 else None
                kids = _children()
                for j in jobs:
                    pids = _tree(j.proc.pid, kids)
                    j.peak_rss = max(j.peak_rss, _rss_mib(pids))
                    if used is not None:
                        j.peak_device = max(j.peak_device or 0.0, used)
                    if smi and any(p in smi for p in pids):
                        j.peak_own = max(j.peak_own or 0.0, sum(smi.get(p, 0.0) for p in pids))
            n += 1
            self._stop.wait(self.every)


# ----------------------------------------------------------------------------- steps
class Job:
    def __init__(self, stage: str, name: str, cmd: list[str], env: dict | None = None, cap_s: float | None = None,
                 after=None, fatal_timeout: bool = True):
        self.stage, self.name, self.cmd, self.env, self.cap_s = stage, name, cmd, env or {}, cap_s
        self.after, self.fatal_timeout = after, fatal_timeout
        self.proc, self.log, self.start_t, self.timeout_s = None, None, None, None
        self.peak_rss, self.peak_device, self.peak_own = 0.0, None, None

    def start(self, deadline: float):
        self.timeout_s = max(1.0, deadline - time.time())
        if self.cap_s is not None:
            self.timeout_s = min(self.timeout_s, self.cap_s)
        self.log = tempfile.TemporaryFile(mode="w+")
        print(f"== [{self.stage}] {self.name} (at most {self.timeout_s:.0f} s): {' '.join(self.cmd)}", flush=True)
        self.start_t = time.time()
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env={**os.environ, **self.env}, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                     start_new_session=True)

    def overdue(self) -> bool:
        return time.time() - self.start_t > self.timeout_s

    def kill(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            try:
                self.proc.wait(timeout=5)
                return
            except subprocess.TimeoutExpired:
                continue

    def result(self, status: str) -> dict:
        seconds = time.time() - self.start_t
        self.log.seek(0)
        out = self.log.read()
        self.log.close()
        lines = out.strip().splitlines()
        summary = next((ln.strip("= ") for ln in reversed(lines)
                        if re.search(r"\d+ (passed|failed|error)", ln)), None)
        ok = status == "passed"
        res = {"stage": self.stage, "step": self.name, "status": status, "ok": ok, "seconds": round(seconds, 1),
               "timeout_s": round(self.timeout_s), "summary": summary,
               "peak_gpu_memory_mib": round(self.peak_device) if self.peak_device is not None else None,
               "peak_gpu_memory_own_mib": round(self.peak_own) if self.peak_own is not None else None,
               "peak_rss_mib": round(self.peak_rss), "command": " ".join(self.cmd),
               "output_tail": "\n".join(lines[-15:])}
        if self.after:
            res.update(self.after())
        res["_full_output"] = out
        shown = lines[-3:] if ok else lines[-25:]
        print(f"   {status.upper()} in {seconds:.0f} s, peak GPU {res['peak_gpu_memory_mib']} MiB, "
              f"peak RSS {res['peak_rss_mib']} MiB" + ("\n   " + "\n   ".join(shown) if shown else ""), flush=True)
        return res


class Check:
    def __init__(self, args, cuda: bool):
        self.args, self.cuda = args, cuda
        self.t0 = float(os.environ.get("GPU_CHECK_T0") or time.time())
        self.budget = args.budget_seconds or (1800.0 if args.cpu else 540.0)
        self.deadline = self.t0 + self.budget - RESERVE_S
        self.monitor = Monitor(cuda)
        self.running: list[Job] = []
        self.report = self._header()
        self.out, self.mirror = Path(args.out), Path(args.mirror) if args.mirror else None
        if self.mirror:
            self.mirror.mkdir(parents=True, exist_ok=True)
            (self.mirror / "gpu_check_output.txt").write_text("")

    def _header(self) -> dict:
        import torch

        versions = {}
        for n in RUNNER_PACKAGES:
            try:
                versions[n] = md.version(n)
            except md.PackageNotFoundError:
                versions[n] = None
        rep = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "mode": "cpu dry run (smoke profile everywhere)" if self.args.cpu else "cuda",
               "gpu": torch.cuda.get_device_name(0) if self.cuda else None,
               "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2 ** 30, 1)
               if self.cuda else None,
               "torch": torch.__version__, "cuda": torch.version.cuda,
               "cudnn": torch.backends.cudnn.version() if self.cuda else None,
               "python": platform.python_version(), "python_executable": sys.executable,
               "machine": platform.platform(), "cpu_count": os.cpu_count(), "packages": versions,
               "data": os.environ.get("GENMODELS_DATA"), "budget_seconds": self.budget,
               "peak_memory": "peak_gpu_memory_mib: device memory in use above the level at the check's start, all "
                              "processes, while the step ran (steps running together share it); "
                              "peak_gpu_memory_own_mib: the step's own processes as nvidia-smi lists them (null where "
                              "it lists none); peak_rss_mib: host memory of the step's processes",
               "stages": [], "steps": [], "in_progress": [], "finished": False}
        manifest = Path(os.environ.get("GPU_BUNDLE") or "/nonexistent") / "MANIFEST.json"
        if manifest.exists():  # run by .gpu/run.sh
            m = json.loads(manifest.read_text())
            rep["bundle"] = {"path": os.environ["GPU_BUNDLE"], "created": m.get("created"),
                             "data_archive_sha256": m.get("data_archive", {}).get("sha256"),
                             "wheels": [w["file"] for w in m.get("wheels", [])]}
        return rep

    def save(self):
        steps = self.report["steps"]
        self.report["in_progress"] = [f"{j.stage}: {j.name} (started {j.start_t - self.t0:.0f} s in)"
                                      for j in self.running]
        self.report["elapsed_seconds"] = round(time.time() - self.t0, 1)
        self.report["all_ok"] = all(s["ok"] or not s.get("fatal", True) for s in steps)
        text = json.dumps(self.report, indent=2) + "\n"
        tmp = self.out.with_suffix(".json.tmp")
        tmp.write_text(text)
        os.replace(tmp, self.out)
        if self.mirror:
            (self.mirror / self.out.name).write_text(text)

    def record(self, job: Job, status: str):
        res = job.result(status)
        full = res.pop("_full_output")
        res["fatal"] = job.fatal_timeout or status == "failed"
        self.report["steps"].append(res)
        if self.mirror:
            with open(self.mirror / "gpu_check_output.txt", "a") as f:
                f.write(f"\n===== [{job.stage}] {job.name}: {status}, {res['seconds']} s\n{full[-200_000:]}\n")
        self.save()

    def run_stage(self, name: str, jobs: list[Job], cap_s: float | None, parallel: int = 1,
                  min_start: float = 0.0) -> None:
        """Run `jobs`, `parallel` at a time, until all are done or the stage's cap / the check's deadline."""
        start = time.time()
        stage_deadline = min(self.deadline, start + cap_s) if cap_s is not None else self.deadline
        stage = {"stage": name, "cap_s": round(stage_deadline - start), "steps": len(jobs)}
        self.report["stages"].append(stage)
        pending = list(jobs)
        while pending or self.running:
            while pending and len(self.running) < parallel:
                if stage_deadline - time.time() < max(min_start, 1.0):
                    for j in pending:
                        self.report["steps"].append({"stage": j.stage, "step": j.name, "status": "not started",
                                                     "ok": False, "fatal": j.fatal_timeout, "seconds": 0,
                                                     "why": "no time left in the budget"})
                        print(f"== [{j.stage}] {j.name}: not started (no time left)", flush=True)
                    pending = []
                    break
                j = pending.pop(0)
                if self.cuda:
                    j.peak_device = 0.0
                with self.monitor.lock:
                    self.monitor.jobs.append(j)
                j.start(stage_deadline)
                self.running.append(j)
                self.save()
            time.sleep(0.2)
            for j in list(self.running):
                rc = j.proc.poll()
                if rc is None and (j.overdue() or time.time() > stage_deadline):
                    j.kill()
                    rc = "timeout"
                if rc is not None:
                    self.running.remove(j)
                    self.record(j, "timed out" if rc == "timeout" else "passed" if rc == 0 else "failed")
        stage["seconds"] = round(time.time() - start, 1)
        self.save()

    def stop_all(self, why: str):
        for j in list(self.running):
            j.kill()
            self.running.remove(j)
            self.record(j, f"stopped ({why})")


# ----------------------------------------------------------------------------- the stages
def notebooks(prefixes: list[str] | None) -> list[Path]:
    nbs = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        nbs = [p for a in prefixes for p in nbs if p.name.startswith(a.zfill(2))]
    return nbs


def cheapest_first(nbs: list[Path]) -> list[Path]:
    try:
        t = json.loads((ROOT / "notebooks" / "timings.json").read_text())
    except (OSError, ValueError):
        t = {}
    return sorted(nbs, key=lambda p: t.get(p.stem, {}).get("seconds", 1e9))


def cifar_available() -> bool:
    sys.path.insert(0, str(ROOT))
    from helpers import data

    try:
        data.cifar10(train=True)
        return True
    except Exception as e:  # noqa: BLE001 (offline, no copy: the stand-in tensors take over)
        print(f"CIFAR-10 not available ({type(e).__name__}): training on FakeData stand-in tensors", flush=True)
        return False


def training_job(variant: str, args, fake: bool, folder: Path, env: dict) -> Job:
    out = folder / f"ebm_cifar_{variant}_gpu_check.pt"
    extra = args.train_args.split() + (["--smoke"] if args.cpu and "--smoke" not in args.train_args else [])
    cmd = [sys.executable, "scripts/train_ebm_cifar.py", "--variant", variant, "--minutes", str(args.minutes),
           "--out", str(out)] + (["--fake"] if fake else []) + extra

    def after():
        res = {"data": "FakeData stand-in tensors shaped like CIFAR-10" if fake else "CIFAR-10"}
        rec = out.with_suffix(".json")
        if rec.exists():
            r = json.loads(rec.read_text())
            res.update(iterations=r.get("iterations"), seconds_per_iteration=r.get("seconds_per_iteration"),
                       train_seconds=r.get("train_seconds"), final=r.get("evaluation"))
        return res

    return Job("training", f"notebook 06: CIFAR-10 EBM training, {variant}", cmd, env=env,
               cap_s=60 * args.minutes + TRAIN_MARGIN_S + (60 if args.cpu else 0), after=after)


def main(argv=None) -> int:
    args = parse(argv)
    import torch

    cuda = torch.cuda.is_available() and not args.cpu
    if not cuda and not args.cpu:
        print(f"gpu-check: no CUDA device here (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
              f"nothing was run. On this machine the GPU path is covered by tests/test_device.py only "
              f"(the dry run: scripts/gpu_check.py --cpu).")
        return 0
    jobs = args.jobs or (1 if args.cpu else 3)
    check = Check(args, cuda)
    base = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MPLBACKEND": "Agg",
            "PYTHONPATH": os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    if args.cpu:
        base["CUDA_VISIBLE_DEVICES"] = ""
    smoke = {**base, "GENMODELS_PROFILE": "smoke", "GENMODELS_EXECUTED": "1"}
    full = {**base, "GENMODELS_PROFILE": "smoke" if args.cpu else "full", "GENMODELS_EXECUTED": "1",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1" if args.cpu else
                                              str(max(1, min(4, (os.cpu_count() or 1) // jobs))))}
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]

    def on_signal(signum, _frame):
        check.stop_all(f"signal {signum}")
        check.report["finished"] = False
        check.save()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    check.monitor.start()
    check.save()
    print(f"gpu-check: {check.report['mode']} on {check.report['gpu'] or 'CPU'}, torch {torch.__version__} "
          f"(CUDA {torch.version.cuda}), budget {check.budget:.0f} s, report {args.out}", flush=True)
    try:
        if not args.skip_tests:
            check.run_stage("tests", [Job("tests", "pytest tests/ (not slow)",
                                          pytest + ["-m", "not slow", "--durations=5", "tests/"], env=base)],
                            cap_s=TESTS_FRACTION * check.budget)
        if not args.skip_notebooks:
            check.run_stage("smoke", [Job("smoke", f"notebook {nb.stem} (smoke, nbval)",
                                          pytest + ["--nbval-lax", str(nb.relative_to(ROOT))], env=smoke)
                                      for nb in notebooks(args.notebooks)],
                            cap_s=SMOKE_FRACTION * check.budget, parallel=jobs)
        if not args.skip_training and args.variants:
            fake = not cifar_available()
            with tempfile.TemporaryDirectory() as folder:
                tj = [training_job(v, args, fake, Path(folder), base) for v in args.variants]
                check.run_stage("training", tj, cap_s=sum(j.cap_s for j in tj))
        if not args.skip_notebooks and not args.skip_full:
            order = (notebooks(args.full_notebooks) if args.full_notebooks
                     else cheapest_first(notebooks(None))[:1 if args.cpu else None])
            label = "smoke profile (--cpu)" if args.cpu else "full profile"
            check.run_stage("full", [Job("full", f"notebook {nb.stem} ({label}, nbval)",
                                         pytest + ["--nbval-lax", str(nb.relative_to(ROOT))], env=full,
                                         fatal_timeout=False) for nb in order],
                            cap_s=None, parallel=jobs, min_start=MIN_START_S)
    finally:
        check.stop_all("the check ended")
        check.monitor.stop()
    check.report["finished"] = True
    check.save()
    steps = check.report["steps"]
    bad = [s["step"] for s in steps if not s["ok"] and s.get("fatal", True)]
    unfit = [s["step"] for s in steps if not s["ok"] and not s.get("fatal", True)]
    print(f"gpu-check: {sum(s['ok'] for s in steps)}/{len(steps)} steps passed on {check.report['gpu'] or 'CPU'} "
          f"in {check.report['elapsed_seconds']:.0f} s; report in {args.out}"
          + (f"; FAILED: {', '.join(bad)}" if bad else "") + (f"; did not fit: {', '.join(unfit)}" if unfit else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
