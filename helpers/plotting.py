"""One figure style for the series: samples, densities on a grid, vector fields, image grids,
chain trajectories and animations (GIFs written with imageio, shown inline)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

STYLE = {
    "figure.figsize": (5.0, 4.5),
    "figure.dpi": 90,
    "savefig.dpi": 90,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "image.cmap": "viridis",
    "lines.linewidth": 1.8,
}


def set_style() -> None:
    """Apply the series' matplotlib style (called on import)."""
    matplotlib.rcParams.update(STYLE)


set_style()


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _ax(ax):
    return ax if ax is not None else plt.subplots()[1]


def subplots(n: int, ncols: int | None = None, size: float = 3.6, **kw):
    """A row (or grid) of n square axes, flattened; shared limits via sharex/sharey kwargs."""
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False, **kw)
    axes = axes.ravel()
    for a in axes[n:]:
        a.set_visible(False)
    return fig, axes[:n]


def grid_2d(xlim=(-3, 3), ylim=None, n: int = 100) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Points of an n x n grid as (n*n, 2) float32 tensor, plus the meshgrid arrays X, Y (n, n)."""
    ylim = xlim if ylim is None else ylim
    xs, ys = np.linspace(*xlim, n), np.linspace(*ylim, n)
    X, Y = np.meshgrid(xs, ys)
    pts = torch.as_tensor(np.stack([X.ravel(), Y.ravel()], 1), dtype=torch.float32)
    return pts, X, Y


def scatter(x, ax=None, title: str = "", s: float = 3, alpha: float = 0.5, lim=None, **kw):
    """Scatter of 2-D samples (n, 2), equal aspect."""
    ax = _ax(ax)
    x = _np(x)
    ax.scatter(x[:, 0], x[:, 1], s=s, alpha=alpha, **kw)
    ax.set_aspect("equal")
    if lim is not None:
        ax.set_xlim(lim)
        ax.set_ylim(lim)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
    return ax


def density(values, xlim=(-3, 3), ylim=None, ax=None, title: str = "", colorbar: bool = True, **kw):
    """A density (or any scalar field) on a square grid, values shaped (n, n) or (n*n,), as an image."""
    ax = _ax(ax)
    v = _np(values)
    n = int(round(np.sqrt(v.size)))
    v = v.reshape(n, n)
    ylim = xlim if ylim is None else ylim
    im = ax.imshow(v, origin="lower", extent=(*xlim, *ylim), aspect="equal", **kw)
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
    ax.grid(False)
    return ax


def density_fn(fn: Callable[[torch.Tensor], torch.Tensor], xlim=(-3, 3), ylim=None, n: int = 100, ax=None,
               title: str = "", **kw):
    """Evaluate fn on an n x n grid (fn takes (m, 2) points, returns (m,)) and show it with `density`."""
    pts, _, _ = grid_2d(xlim, ylim, n)
    with torch.no_grad():
        v = fn(pts)
    return density(v, xlim, ylim, ax=ax, title=title, **kw)


def quiver(field: Callable[[torch.Tensor], torch.Tensor], xlim=(-3, 3), ylim=None, n: int = 20, ax=None,
           title: str = "", normalize: bool = False, **kw):
    """A vector field (e.g. a score) on an n x n grid; `normalize` draws unit arrows coloured by length."""
    ax = _ax(ax)
    pts, X, Y = grid_2d(xlim, ylim, n)
    v = _np(field(pts)).reshape(n, n, 2)
    U, V = v[..., 0], v[..., 1]
    if normalize:
        norm = np.hypot(U, V) + 1e-12
        q = ax.quiver(X, Y, U / norm, V / norm, np.log10(norm), **kw)
        plt.colorbar(q, ax=ax, fraction=0.046, pad=0.04, label="log10 |v|")
    else:
        ax.quiver(X, Y, U, V, **kw)
    ax.set_aspect("equal")
    ax.set(title=title, xlabel="$x_1$", ylabel="$x_2$")
    return ax


def trajectories(paths, ax=None, title: str = "", max_paths: int = 10, **kw):
    """Paths of chains: a list of (B, 2) states over time (or a (T, B, 2) array); draws the first few."""
    ax = _ax(ax)
    p = np.stack([_np(s) for s in paths]) if isinstance(paths, (list, tuple)) else _np(paths)
    for b in range(min(max_paths, p.shape[1])):
        line, = ax.plot(p[:, b, 0], p[:, b, 1], lw=0.8, alpha=0.8, **kw)
        ax.plot(p[0, b, 0], p[0, b, 1], "o", color=line.get_color(), ms=4)
        ax.plot(p[-1, b, 0], p[-1, b, 1], "*", color=line.get_color(), ms=8)
    ax.set_aspect("equal")
    ax.set(title=title + " (o start, * end)", xlabel="$x_1$", ylabel="$x_2$")
    return ax


def image_grid(images, nrow: int = 10, ax=None, title: str = "", value_range=(0, 1), padding: int = 2):
    """Images (B, C, H, W) in value_range as one grid (torchvision's make_grid)."""
    import torchvision

    ax = _ax(ax)
    x = torch.as_tensor(images).detach().cpu().float()
    ax.set_title(title)
    ax.axis("off")
    if len(x) == 0:  # an empty selection (e.g. no sample passed a test): say so instead of failing
        ax.text(0.5, 0.5, "(no images)", ha="center", va="center", transform=ax.transAxes)
        return ax
    g = torchvision.utils.make_grid(x, nrow=nrow, padding=padding, normalize=True,
                                    value_range=value_range, pad_value=1.0)
    ax.imshow(g.permute(1, 2, 0).numpy(), interpolation="nearest")
    return ax


def fig_to_array(fig) -> np.ndarray:
    """Render a figure to an RGB uint8 array (H, W, 3)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    import imageio.v3 as iio

    return iio.imread(buf)[..., :3]


def palette_png(png: bytes, colors: int = 256) -> bytes:
    """A PNG re-encoded with a palette of `colors` colours over white (matplotlib figures: same look, ~2.4x smaller)."""
    from PIL import Image

    im = Image.open(io.BytesIO(png))
    if im.mode == "P":  # already a palette image: keep it as it is
        return png
    rgba = im.convert("RGBA")
    rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    out = io.BytesIO()
    rgb.quantize(colors, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


def figure_png(fig) -> bytes | None:
    """The inline backend's PNG of a figure (its dpi, tight bounding box), with a 256-colour palette."""
    if not fig.axes and not fig.lines:
        return None
    buf = io.BytesIO()
    fig.canvas.print_figure(buf, format="png", dpi=fig.dpi, bbox_inches="tight",
                            facecolor=fig.get_facecolor(), edgecolor=fig.get_edgecolor())
    return palette_png(buf.getvalue())


def use_palette_png() -> bool:
    """In IPython, show matplotlib figures as palette PNGs (figure_png); elsewhere do nothing and return False."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    if "inline" in matplotlib.get_backend():  # load the inline backend now, so its own formatter cannot replace ours
        plt.close(plt.figure())
    shell.display_formatter.formatters["image/png"].for_type(matplotlib.figure.Figure, figure_png)
    return True


def animate(frames: Sequence, path: str | Path, fps: float = 2, show: bool = True):
    """Write frames (figures or RGB arrays) to a GIF with imageio; return an inline Image for Jupyter.

    Under the smoke profile the GIF goes to a temporary folder instead of `path`, so that CI-sized
    runs never overwrite the committed full-profile animations.
    """
    import tempfile

    import imageio.v2 as imageio

    from .utils import is_smoke

    arrays = []
    for f in frames:
        if isinstance(f, matplotlib.figure.Figure):
            arrays.append(fig_to_array(f))
            plt.close(f)
        else:
            arrays.append(np.asarray(f))
    path = Path(path)
    if is_smoke():
        path = Path(tempfile.gettempdir()) / "genmodels-smoke" / path.name
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, arrays, duration=1000.0 / fps, loop=0)
    if show:
        from IPython.display import Image

        return Image(filename=str(path))
    return path


def curves(series: dict, ax=None, title: str = "", xlabel: str = "iteration", ylabel: str = "", logy=False,
           smooth: int = 1, x=None):
    """Several curves (name -> values) on one axis against x (default 0, 1, ...), optionally smoothed by a
    running mean of `smooth` (each smoothed value is plotted at the last x of its window)."""
    ax = _ax(ax)
    for name, v in series.items():
        v = _np(v).astype(float)
        xs = np.arange(len(v)) if x is None else _np(x)
        if smooth > 1 and len(v) > smooth:
            v = np.convolve(v, np.ones(smooth) / smooth, mode="valid")
            xs = xs[smooth - 1:]
        ax.plot(xs, v, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(series) > 1:
        ax.legend()
    return ax


def markdown_table(columns: Sequence[str], rows: dict[str, Sequence[str]]) -> str:
    """A Markdown table with a first column of row labels (the keys of rows) and the given column headings."""
    bad = {label: len(cells) for label, cells in rows.items() if len(cells) != len(columns) - 1}
    if bad:
        raise ValueError(f"markdown_table: every row needs {len(columns) - 1} cells after its label, got {bad}")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += [f"| {label} | " + " | ".join(map(str, cells)) + " |" for label, cells in rows.items()]
    return "\n".join(lines)
