"""HW1 Part I: kernel density estimation with a bandwidth matrix H, the spiral's exact density, and
the integrated errors of an estimate against the true density on a grid.

    f_hat(x) = 1 / (N |det H|) sum_i K(H^{-1} (x_i - x)),   K(u) = prod_j k(u_j),  k = N(0, 1) pdf,

so each sample contributes the Gaussian N(x; x_i, H H^T): for H = h I the bandwidth h is the kernel's
standard deviation (sklearn's KernelDensity(bandwidth=h)). Sums over all samples are done in chunks of
points, so 10,000 samples on a 100 x 100 grid (10^8 kernel terms) take about a second in float64;
for a diagonal H on a grid the separable kernel turns the sum into one matrix product (`kde_grid`).
"""
from __future__ import annotations

import math

import numpy as np
import torch

Tensor = torch.Tensor


def check_bandwidth(H, d: int = 2) -> Tensor:
    """H as a float64 (d, d) tensor; a clear error if it is not square, not d x d, or singular."""
    H = torch.as_tensor(H, dtype=torch.float64)
    if H.dim() != 2 or H.shape[0] != H.shape[1]:
        raise ValueError(f"the bandwidth H must be a square matrix, got shape {tuple(H.shape)}; "
                         f"for an isotropic bandwidth h pass h * torch.eye({d})")
    if H.shape != (d, d):
        raise ValueError(f"the bandwidth H must be {d} x {d} for {d}-D samples, got {H.shape[0]} x {H.shape[1]}")
    if not torch.isfinite(H).all():
        raise ValueError(f"the bandwidth H has non-finite entries: {H.tolist()}")
    sv = torch.linalg.svdvals(H)
    if sv.min() <= 1e-12 * max(float(sv.max()), 1e-300):
        raise ValueError(f"the bandwidth H is singular (singular values {sv.tolist()}); H^{{-1}} and 1/|det H| "
                         f"do not exist: use an invertible H, e.g. h * I with h > 0")
    return H


def _as_points(x, name: str, d: int | None = None, where: str = "kde") -> Tensor:
    """x as an (n, d) real tensor of finite values; a ValueError / TypeError naming `where` and `name` otherwise."""
    try:
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where}: {name} must be an (n, d) array of numbers, got {type(x).__name__} ({e})") from None
    if x.dtype.is_complex or x.dtype == torch.bool:
        raise TypeError(f"{where}: {name} must hold real numbers, got dtype {x.dtype}")
    if x.dim() != 2 or (d is not None and x.shape[1] != d):
        want = f"(n, {d})" if d is not None else "(n, d)"
        raise ValueError(f"{where}: {name} must have shape {want}, got {tuple(x.shape)}")
    if x.dtype.is_floating_point and x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        bad = ~torch.isfinite(x).all(1)
        raise ValueError(f"{where}: {name} holds NaN or inf in {int(bad.sum())} of {len(x)} rows (the first is row "
                         f"{int(bad.nonzero()[0])}: {x[bad][0].tolist()}); one such sample makes the estimate NaN "
                         f"everywhere. Drop those rows first: {name} = {name}[torch.isfinite({name}).all(1)]")
    return x


def kde(points, samples, H, max_terms: int = 2 ** 21, dtype=torch.float64) -> Tensor:
    """f_hat at `points` (m, d) from `samples` (N, d) with bandwidth matrix H (d, d); returns (m,).

    In u = H^{-1} x coordinates the kernel is a standard normal, so each chunk of points is one
    matrix product and one exp; chunks hold at most `max_terms` kernel terms (16 MB in float64).
    """
    samples = _as_points(samples, "samples")
    n, d = samples.shape
    points = _as_points(points, "points", d)
    if n == 0:
        raise ValueError("kde: samples is empty; the estimate needs at least one sample")
    if isinstance(max_terms, bool) or not isinstance(max_terms, int) or max_terms < 1:
        raise ValueError(f"kde: max_terms must be a positive integer, got {max_terms!r}")
    dev = samples.device
    H = check_bandwidth(H, d).to(dev)
    A = torch.linalg.inv(H).to(dtype)
    s = samples.to(dtype) @ A.T  # H^{-1} x_i as rows
    p = points.to(dev, dtype) @ A.T
    norm = 1.0 / (n * abs(float(torch.linalg.det(H))) * (2 * math.pi) ** (d / 2))
    out = torch.empty(p.shape[0], dtype=dtype, device=dev)
    half_s2 = -0.5 * (s * s).sum(1)
    step = max(1, max_terms // n)
    for i in range(0, p.shape[0], step):
        pc = p[i:i + step]
        q = torch.addmm(half_s2[None, :], pc, s.T)  # -|p - s|^2 / 2 = p.s - |s|^2/2 - |p|^2/2
        q.add_(-0.5 * (pc * pc).sum(1, keepdim=True)).clamp_(max=0.0).exp_()
        out[i:i + step] = q.sum(1)
    return out * norm


def kde_grid(samples, H, xs, ys, dtype=torch.float64) -> Tensor:
    """f_hat on the grid xs x ys as an (len(ys), len(xs)) array (row j is y = ys[j]).

    For a diagonal H the separable kernel factorises, f_hat = K_y^T K_x / (N h_1 h_2) with
    K_x[i, a] = k((xs[a] - x_i1) / h_1): one matrix product. Otherwise falls back to `kde`.
    """
    samples = _as_points(samples, "samples", 2, where="kde_grid")
    if len(samples) == 0:
        raise ValueError("kde_grid: samples is empty; the estimate needs at least one sample")
    H = check_bandwidth(H, 2)
    xs = torch.as_tensor(np.asarray(xs), dtype=dtype, device=samples.device)
    ys = torch.as_tensor(np.asarray(ys), dtype=dtype, device=samples.device)
    if xs.dim() != 1 or ys.dim() != 1 or not (torch.isfinite(xs).all() and torch.isfinite(ys).all()):
        raise ValueError(f"kde_grid: xs and ys must be 1-D arrays of finite grid coordinates, got shapes "
                         f"{tuple(xs.shape)} and {tuple(ys.shape)}")
    if H[0, 1] != 0 or H[1, 0] != 0:
        Y, X = torch.meshgrid(ys, xs, indexing="ij")
        return kde(torch.stack([X.ravel(), Y.ravel()], 1), samples, H, dtype=dtype).view(len(ys), len(xs))
    h1, h2 = abs(float(H[0, 0])), abs(float(H[1, 1]))
    x = samples.to(dtype)
    kx = torch.exp(-0.5 * ((xs[None, :] - x[:, :1]) / h1) ** 2)  # (N, nx)
    ky = torch.exp(-0.5 * ((ys[None, :] - x[:, 1:]) / h2) ** 2)  # (N, ny)
    return (ky.T @ kx) / (len(x) * h1 * h2 * 2 * math.pi)


def bandwidth(h: float, d: int = 2) -> Tensor:
    """The isotropic bandwidth matrix h I."""
    if not h > 0:
        raise ValueError(f"the bandwidth h must be positive, got {h}")
    return h * torch.eye(d, dtype=torch.float64)


# ----------------------------------------------------------------------------- the spiral

def spiral_density(x, r_var: float = 0.25, theta_max: float = 4 * math.pi) -> Tensor:
    """Exact density of x = r (cos t, sin t), t ~ U[0, theta_max], r | t ~ N(t / 2, r_var); (n,).

    The map (t, r) -> x has Jacobian |r|, and x = (rho cos phi, rho sin phi) has the preimages
    t_k = phi + k pi in [0, theta_max) with r_k = (-1)^k rho, so the integral over t of
    p(t) p(x | t) collapses onto them: f(x) = sum_k N(r_k; t_k / 2, r_var) / (theta_max rho).
    The density has an integrable 1/rho peak at the origin (r near 0 has positive density).
    """
    x = _as_points(x, "x", 2, where="spiral_density").to(torch.float64)
    rho = torch.linalg.norm(x, dim=1)
    phi = torch.atan2(x[:, 1], x[:, 0])
    t0 = torch.remainder(phi, math.pi)  # smallest preimage angle in [0, pi)
    kmax = int(math.ceil(theta_max / math.pi))
    total = torch.zeros_like(rho)
    for j in range(kmax + 1):
        t = t0 + j * math.pi
        k = torch.round((t - phi) / math.pi)  # t = phi + k pi
        r = torch.where(torch.remainder(k, 2) == 0, rho, -rho)
        dens = torch.exp(-0.5 * (r - t / 2) ** 2 / r_var) / math.sqrt(2 * math.pi * r_var)
        total = total + torch.where(t < theta_max, dens, torch.zeros_like(dens))
    return total / (theta_max * rho)


# ----------------------------------------------------------------------------- errors against the truth

def cell_area(xs, ys) -> float:
    """Area of one cell of a uniform grid."""
    return float((xs[1] - xs[0]) * (ys[1] - ys[0]))


def kde_errors(samples, hs, f_true: Tensor, xs, ys) -> dict:
    """For each h in hs, on the grid xs x ys (Riemann sums, f_true shaped (len(ys), len(xs))):

    'fhat2' = int f_hat^2, 'cross' = int f_hat f, 'ise_minus_f2' = int f_hat^2 - 2 int f_hat f
    (the ISE up to the h-independent int f^2, finite even where int f^2 is not), 'iae' = int |f_hat - f|
    and 'mass' = int f_hat (how much of the estimate the grid holds). Arrays over hs.
    """
    f_true = torch.as_tensor(f_true, dtype=torch.float64)
    da = cell_area(xs, ys)
    out = {k: [] for k in ("fhat2", "cross", "ise_minus_f2", "iae", "mass")}
    for h in hs:
        fh = kde_grid(samples, bandwidth(h), xs, ys)
        fhat2, cross = float((fh * fh).sum()) * da, float((fh * f_true).sum()) * da
        out["fhat2"].append(fhat2)
        out["cross"].append(cross)
        out["ise_minus_f2"].append(fhat2 - 2 * cross)
        out["iae"].append(float((fh - f_true).abs().sum()) * da)
        out["mass"].append(float(fh.sum()) * da)
    return {k: np.asarray(v) for k, v in out.items()}


def mixture_cross(means, s1: float, s2: float, weights=None) -> float:
    """int f_1 f_2 for f_j = sum_m w_m N(mu_m, s_j^2 I): sum_mn w_m w_n N(mu_m - mu_n; 0, (s1^2 + s2^2) I)."""
    mu = torch.as_tensor(means, dtype=torch.float64)
    m, d = mu.shape
    w = torch.full((m,), 1.0 / m, dtype=torch.float64) if weights is None else torch.as_tensor(weights).double()
    v = s1 ** 2 + s2 ** 2
    g = torch.exp(-torch.cdist(mu, mu).square() / (2 * v)) / (2 * math.pi * v) ** (d / 2)
    return float(w @ g @ w)


def mixture_int_f2(means, sigma: float, weights=None) -> float:
    """int f^2 for f = sum_m w_m N(mu_m, sigma^2 I)."""
    return mixture_cross(means, sigma, sigma, weights)


def mixture_mise(means, sigma: float, h, n: int, weights=None) -> dict:
    """Exact mean integrated squared error of the Gaussian KDE (H = h I, n samples) of a Gaussian mixture.

    E f_hat = K_h * f is the mixture with sigma^2 + h^2, so the integrated squared bias is
    int (f_{sqrt(sigma^2+h^2)} - f)^2 and the integrated variance (1/n)[1/(4 pi h^2) - int (K_h * f)^2]
    (2-D); MISE = bias2 + var. Arrays over h.
    """
    mu = torch.as_tensor(means, dtype=torch.float64)
    d = mu.shape[1]
    bias2, var = [], []
    for hh in np.atleast_1d(h):
        g = math.sqrt(sigma ** 2 + hh ** 2)
        bias2.append(mixture_cross(mu, g, g, weights) - 2 * mixture_cross(mu, g, sigma, weights)
                     + mixture_cross(mu, sigma, sigma, weights))
        var.append((1 / (4 * math.pi * hh ** 2) ** (d / 2) - mixture_cross(mu, g, g, weights)) / n)
    bias2, var = np.asarray(bias2), np.asarray(var)
    return {"bias2": bias2, "var": var, "mise": bias2 + var}
