"""Shared fixtures: the offline data root (../shared/data unless GENMODELS_DATA says otherwise)."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
if "GENMODELS_DATA" not in os.environ and SHARED.exists():
    os.environ["GENMODELS_DATA"] = str(SHARED)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def data_root() -> Path:
    root = Path(os.environ.get("GENMODELS_DATA", SHARED))
    if not root.exists():
        pytest.fail(f"offline data root {root} is missing; set GENMODELS_DATA to a copy of ../shared/data")
    return root


@pytest.fixture
def one_thread():
    """One torch thread for tests on small tensors (thread hand-offs dominate on a busy machine); restored after."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def load_script():
    """Import scripts/<name>.py as a module (the training scripts are not a package): load_script('train_jem')."""
    import importlib.util

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load
