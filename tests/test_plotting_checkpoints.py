"""Plots write what they say; checkpoints round-trip and fail clearly."""
import imageio.v3 as iio
import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from helpers import checkpoints, plotting


def test_animation_written_and_read_back(tmp_path):
    frames = []
    for i in range(4):
        fig, ax = plt.subplots()
        plotting.scatter(torch.randn(50, 2) + i, ax=ax, title=f"frame {i}")
        frames.append(fig)
    path = tmp_path / "anim.gif"
    plotting.animate(frames, path, fps=4, show=False)
    back = iio.imread(path, index=None)
    assert back.shape[0] == 4 and back.ndim == 4
    assert not (back[0] == back[-1]).all()


def test_smoke_profile_never_overwrites_committed_animations(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_PROFILE", "smoke")
    target = tmp_path / "committed.gif"
    written = plotting.animate([torch.zeros(8, 8, 3, dtype=torch.uint8).numpy()] * 2, target, show=False)
    assert not target.exists() and written.exists() and written.name == "committed.gif"


def test_grid_and_quiver_shapes():
    pts, X, Y = plotting.grid_2d((-8, 8), n=20)
    assert pts.shape == (400, 2) and X.shape == (20, 20)
    ax = plotting.quiver(lambda p: -p, (-8, 8), n=20)
    assert len(ax.collections) == 1
    plt.close("all")


def test_image_grid_of_no_images_says_so_instead_of_failing():
    fig, axes = plt.subplots(1, 2)
    plotting.image_grid(torch.zeros(0, 1, 28, 28), ax=axes[0], title="none passed")
    plotting.image_grid(torch.zeros(3, 1, 28, 28), ax=axes[1], title="three")
    assert axes[0].get_title() == "none passed" and [t.get_text() for t in axes[0].texts] == ["(no images)"]
    assert not axes[0].images and len(axes[1].images) == 1 and not axes[1].texts
    plt.close(fig)


def test_checkpoint_round_trip_and_errors(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = tmp_path / "m.pt"
    rec = checkpoints.save_checkpoint(model, path, {"seed": 0, "command": "test"})
    assert rec["sha256"] == checkpoints.sha256sum(path)
    fresh = checkpoints.load_into(torch.nn.Linear(3, 2), path)
    assert torch.equal(fresh.weight, model.weight)
    with pytest.raises(checkpoints.CheckpointError, match=r"wrong shapes: weight"):
        checkpoints.load_into(torch.nn.Linear(4, 2), path)
    with pytest.raises(checkpoints.CheckpointError, match="missing"):
        checkpoints.load_into(torch.nn.Linear(3, 2), tmp_path / "nope.pt")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(checkpoints.CheckpointError, match="corrupt"):
        checkpoints.load_into(torch.nn.Linear(3, 2), path)
    (tmp_path / "m.json").unlink()
    with pytest.raises(checkpoints.CheckpointError, match="could not be read"):
        checkpoints.load_into(torch.nn.Linear(3, 2), path)


def test_save_atomic_writes_whole_files_and_keeps_the_old_one_when_saving_fails(tmp_path):
    """checkpoints.save_atomic: the state round-trips, no temporary file remains, and a save that fails midway
    (an object torch cannot pickle) leaves the previous file as it was, and no temporary file."""
    path = tmp_path / "state" / "run_state.pt"
    checkpoints.save_atomic({"w": torch.arange(3.0)}, path)
    assert torch.equal(torch.load(path)["w"], torch.arange(3.0)) and not list(path.parent.glob("*.tmp"))
    before = path.read_bytes()
    with pytest.raises(Exception):
        checkpoints.save_atomic({"w": lambda: None}, path)
    assert path.read_bytes() == before and not list(path.parent.glob("*.tmp"))


def _figure():
    fig, ax = plt.subplots()
    plotting.density_fn(lambda p: torch.exp(-(p ** 2).sum(1)), (-3, 3), n=60, ax=ax, title="a density")
    ax.plot([-3, 3], [-3, 3], color="C1")
    return fig


def test_palette_png_keeps_the_look_and_shrinks_the_file():
    import io

    import numpy as np
    from PIL import Image

    fig = _figure()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    original = buf.getvalue()
    small = plotting.palette_png(original)
    a = np.asarray(Image.open(io.BytesIO(original)).convert("RGB"), dtype=float)
    b = np.asarray(Image.open(io.BytesIO(small)).convert("RGB"), dtype=float)
    assert Image.open(io.BytesIO(small)).mode == "P" and a.shape == b.shape
    diff = np.abs(a - b)  # 0-255 scale
    assert diff.mean() < 1.0 and np.quantile(diff, 0.999) < 16
    assert len(small) < 0.7 * len(original)
    assert plotting.palette_png(small) == small  # a palette PNG is left as it is
    plt.close(fig)


def test_palette_png_puts_transparent_pixels_on_white():
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(buf, "PNG")
    back = np.asarray(Image.open(io.BytesIO(plotting.palette_png(buf.getvalue()))).convert("RGB"))
    assert (back == 255).all()


def test_figure_png_equals_the_palette_of_the_inline_backends_png():
    """So re-encoding a committed output (scripts/palette_pngs.py) gives what a re-run would."""
    pylabtools = pytest.importorskip("IPython.core.pylabtools")  # what the inline backend shows a figure with
    fig = _figure()
    png = pylabtools.print_figure(fig, "png", bbox_inches="tight", base64=False)
    assert plotting.figure_png(fig) == plotting.palette_png(png)
    empty = plt.figure()
    assert plotting.figure_png(empty) is None
    plt.close("all")


def test_markdown_table_layout_and_bad_rows():
    text = plotting.markdown_table(["images", "FD", "C2ST"], {"GAN": ["36.4", "0.672"], "noise": [4932, "1.000"]})
    assert text.splitlines() == ["| images | FD | C2ST |", "|---|---|---|", "| GAN | 36.4 | 0.672 |",
                                 "| noise | 4932 | 1.000 |"]
    with pytest.raises(ValueError, match="2 cells"):
        plotting.markdown_table(["images", "FD", "C2ST"], {"GAN": ["36.4"]})


def test_command_line_quotes_what_the_shell_would_split():
    """The recorded command runs as typed: arguments with spaces or quotes are shell-quoted, the rest left bare."""
    import shlex

    from helpers import utils

    argv = ["--note", "two words", "--x", "it's", "--steps", "3"]
    line = utils.command_line("scripts/train.py", argv)
    assert line == "python scripts/train.py --note 'two words' --x 'it'\"'\"'s' --steps 3"
    assert shlex.split(line) == ["python", "scripts/train.py", *argv]
