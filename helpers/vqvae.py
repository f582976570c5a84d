"""A VQ-VAE for 28x28 grey images (straight-through gradients, codebook + commitment losses, dead-code
restarts), codebook-usage statistics, features pooled from the quantized maps, and the clustering
toolkit of notebook 08: k-means sweeps with silhouette scores, the label-free choice of clustering space and K
(`select_space_and_k`), and the label-based scores: purity (any K), Hungarian accuracy (K = number of classes),
NMI / ARI and per-cluster label tables.

Why a VQ-VAE and not a Gumbel-softmax dVAE: the quantizer is deterministic (no temperature schedule
to tune), trains stably in a few CPU minutes, and its codebook vectors are the "tokens" the
assignment clusters. The price is the biased straight-through gradient and possible dead codes,
which we measure (perplexity, dead-code count) and counter by restarting dead codes on encoder outputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .utils import generator as make_generator, progress, randint, randperm


# ----------------------------------------------------------------------------- quantizer

def squared_distances(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """||z_i - e_k||^2 for vectors z (N, D) and codebook (K, D): (N, K)."""
    if z.dim() != 2 or codebook.dim() != 2 or z.shape[1] != codebook.shape[1]:
        raise ValueError(f"need z (N, D) and codebook (K, D) with the same D; got {tuple(z.shape)}, "
                         f"{tuple(codebook.shape)}")
    return (z.pow(2).sum(1, keepdim=True) - 2 * z @ codebook.T + codebook.pow(2).sum(1)[None]).clamp_min(0)


def nearest_code(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook vector for each row of z (N, D): (N,) int64."""
    return squared_distances(z, codebook).argmin(1)


def straight_through(z: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """Forward value z_q, backward identity to z: z + sg(z_q - z)."""
    return z + (z_q - z).detach()


def perplexity(indices: torch.Tensor, num_codes: int) -> float:
    """exp(entropy) of the empirical code distribution: the effective number of codes in use."""
    p = torch.bincount(indices.reshape(-1).cpu(), minlength=num_codes).double()
    p = p / p.sum()
    return math.exp(-(p[p > 0] * p[p > 0].log()).sum().item())


def codebook_usage(indices: torch.Tensor, num_codes: int) -> dict:
    """Counts per code, perplexity, number of dead (never used) codes on a set of code maps."""
    counts = torch.bincount(indices.reshape(-1).cpu(), minlength=num_codes)
    return {"counts": counts, "perplexity": perplexity(indices, num_codes),
            "dead_codes": int((counts == 0).sum()), "num_codes": num_codes}


@dataclass
class Quantized:
    z_q: torch.Tensor          # (B, D, H, W) quantized map with straight-through gradient to the encoder
    indices: torch.Tensor      # (B, H, W) code indices
    codebook_loss: torch.Tensor    # ||sg(z) - e||^2: moves the codebook towards encoder outputs
    commitment_loss: torch.Tensor  # ||z - sg(e)||^2: keeps the encoder close to its codes


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantization of a (B, D, H, W) map onto K learned D-dim codebook vectors."""

    def __init__(self, num_codes: int = 64, dim: int = 16):
        super().__init__()
        self.num_codes, self.dim = num_codes, dim
        self.codebook = nn.Parameter(torch.empty(num_codes, dim).uniform_(-1 / num_codes, 1 / num_codes))

    def flatten(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W) -> (B*H*W, D)."""
        if z.dim() != 4 or z.shape[1] != self.dim:
            raise ValueError(f"VectorQuantizer expects (B, {self.dim}, H, W), got {tuple(z.shape)}")
        return z.permute(0, 2, 3, 1).reshape(-1, self.dim)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codebook vectors for an index map (B, H, W): (B, D, H, W)."""
        return self.codebook[indices].permute(0, 3, 1, 2)

    def forward(self, z: torch.Tensor) -> Quantized:
        b, _, h, w = z.shape
        idx = nearest_code(self.flatten(z).detach(), self.codebook.detach()).view(b, h, w)
        e = self.lookup(idx)
        return Quantized(z_q=straight_through(z, e), indices=idx,
                         codebook_loss=F.mse_loss(e, z.detach()), commitment_loss=F.mse_loss(z, e.detach()))


# ----------------------------------------------------------------------------- encoder / decoder

class ResBlock(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x))))."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, ch, 1))

    def forward(self, x):
        return x + self.body(x)


class VQVAE(nn.Module):
    """28x28 -> 7x7 map of `dim`-vectors -> nearest of `num_codes` codes -> 28x28 (sigmoid output)."""

    def __init__(self, num_codes: int = 64, dim: int = 16, hidden: int = 64, beta: float = 0.25):
        super().__init__()
        self.beta = beta
        self.encoder = nn.Sequential(
            nn.Conv2d(1, hidden // 2, 4, 2, 1), nn.ReLU(),            # 14x14
            nn.Conv2d(hidden // 2, hidden, 4, 2, 1), nn.ReLU(),       # 7x7
            nn.Conv2d(hidden, hidden, 3, padding=1), ResBlock(hidden), nn.ReLU(),
            nn.Conv2d(hidden, dim, 1))
        self.quantizer = VectorQuantizer(num_codes, dim)
        self.decoder = nn.Sequential(
            nn.Conv2d(dim, hidden, 3, padding=1), ResBlock(hidden), nn.ReLU(),
            nn.ConvTranspose2d(hidden, hidden // 2, 4, 2, 1), nn.ReLU(),   # 14x14
            nn.ConvTranspose2d(hidden // 2, 1, 4, 2, 1))                   # 28x28 logits

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Continuous encoder map z_e (B, D, 7, 7)."""
        if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"VQVAE expects images (B, 1, 28, 28) in [0, 1], got {tuple(x.shape)}")
        return self.encoder(x)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from a quantized map."""
        return torch.sigmoid(self.decoder(z_q))

    def forward(self, x: torch.Tensor):
        """(reconstruction, Quantized) for a batch of images."""
        q = self.quantizer(self.encode(x))
        return self.decode(q.z_q), q

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """BCE(x, x_hat) + ||sg(z) - e||^2 + beta ||z - sg(e)||^2 (per-element means). Reconstruction term is the
        Bernoulli/continuous-Bernoulli-style cross-entropy on logits: MSE through a sigmoid can saturate at 0."""
        z = self.encode(x)
        q = self.quantizer(z)
        logits = self.decoder(q.z_q)
        rec = F.binary_cross_entropy_with_logits(logits, x)
        total = rec + q.codebook_loss + self.beta * q.commitment_loss
        return total, {"rec": rec.item(), "mse": F.mse_loss(torch.sigmoid(logits), x).item(), "codebook": q.codebook_loss.item(),
                       "commit": q.commitment_loss.item(), "indices": q.indices,
                       "z_e": self.quantizer.flatten(z.detach())}


@torch.no_grad()
def restart_dead_codes(model: VQVAE, z_e: torch.Tensor, counts: torch.Tensor, generator=None) -> int:
    """Move codes unused since the last call onto random encoder outputs z_e (N, D); return how many."""
    dead = (counts == 0).nonzero().flatten()
    if len(dead) == 0 or len(z_e) == 0:
        return 0
    pick = randint(0, len(z_e), (len(dead),), generator=generator)
    model.quantizer.codebook.data[dead.to(model.quantizer.codebook.device)] = z_e[pick].to(model.quantizer.codebook.device)
    return len(dead)


def train_vqvae(model: VQVAE, x: torch.Tensor, epochs: int = 20, batch_size: int = 128, lr: float = 2e-3,
                seed: int = 0, device=None, restart_every: int = 20, show_progress: bool = True) -> dict:
    """Adam (cosine-decayed lr) on images x (N, 1, 28, 28). Every `restart_every` steps during the first
    three quarters, codes unused in that window are moved onto recent encoder outputs (0 = never).
    Returns per-epoch means of the losses, the training perplexity and the number of restarted codes."""
    if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(f"train_vqvae expects images (N, 1, 28, 28), got {tuple(x.shape)}")
    device = device or next(model.parameters()).device
    g = make_generator(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    hist = {k: [] for k in ("rec", "mse", "codebook", "commit", "perplexity", "restarted")}
    K = model.quantizer.num_codes
    window, z_keep, step = torch.zeros(K, dtype=torch.long), [], 0
    it = progress(range(epochs), desc="VQ-VAE") if show_progress else range(epochs)
    for _ in it:
        model.train()
        perm = randperm(len(x), generator=g)
        sums, counts, restarted = {"rec": 0.0, "mse": 0.0, "codebook": 0.0, "commit": 0.0}, torch.zeros(K, dtype=torch.long), 0
        for i in range(0, len(x), batch_size):
            xb = x[perm[i:i + batch_size]].to(device)
            loss, parts = model.loss(xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            for k in sums:
                sums[k] += parts[k] * len(xb)
            used = torch.bincount(parts["indices"].flatten().cpu(), minlength=K)
            counts += used
            window += used
            if restart_every > 0:
                z_keep = (z_keep + [parts["z_e"][::7].cpu()])[-restart_every:]
                if step % restart_every == 0 and step < 0.75 * steps:
                    restarted += restart_dead_codes(model, torch.cat(z_keep), window, g)
                    window.zero_()
        for k in sums:
            hist[k].append(sums[k] / len(x))
        p = counts.double() / counts.sum()
        hist["perplexity"].append(math.exp(-(p[p > 0] * p[p > 0].log()).sum().item()))
        hist["restarted"].append(restarted)
        if show_progress:
            it.set_postfix(mse=f"{hist['mse'][-1]:.4f}", ppl=f"{hist['perplexity'][-1]:.1f}")
    model.eval()
    return hist


# ----------------------------------------------------------------------------- evaluation and features

@torch.no_grad()
def encode_quantized(model: VQVAE, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantized maps (N, D, 7, 7) and code indices (N, 7, 7), batched, on the model's device, returned on CPU."""
    model.eval()
    device = next(model.parameters()).device
    zq, idx = [], []
    for i in range(0, len(x), batch_size):
        q = model.quantizer(model.encode(x[i:i + batch_size].to(device)))
        zq.append(q.z_q.cpu())
        idx.append(q.indices.cpu())
    return torch.cat(zq), torch.cat(idx)


@torch.no_grad()
def reconstruct(model: VQVAE, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Reconstructions of x through the codebook, batched."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(x[i:i + batch_size].to(device))[0].cpu() for i in range(0, len(x), batch_size)])


def mse_psnr(x: torch.Tensor, x_hat: torch.Tensor) -> tuple[float, float]:
    """Mean squared error over all pixels and PSNR = mean over images of 10 log10(1 / MSE_image) (range [0, 1])."""
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(x_hat.shape)}")
    per_image = (x - x_hat).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return per_image.mean().item(), (10 * torch.log10(1.0 / per_image)).mean().item()


def code_histogram(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """Bag of codes: the fraction of the 7x7 positions using each code, (N, num_codes)."""
    flat = indices.flatten(1)
    return F.one_hot(flat, num_codes).float().mean(1)


def pooled_features(z_q: torch.Tensor, indices: torch.Tensor | None = None, kind: str = "flat",
                    grid: int = 7, num_codes: int | None = None) -> torch.Tensor:
    """Image features from the quantized map z_q (N, D, h, w):
    'flat' = the whole map flattened (positions kept), 'avg' = adaptive average pool to grid x grid then
    flattened, 'mean' = global mean over positions (D dims), 'hist' = bag-of-codes histogram (needs indices)."""
    if kind == "flat":
        return z_q.flatten(1)
    if kind == "avg":
        return F.adaptive_avg_pool2d(z_q, grid).flatten(1)
    if kind == "mean":
        return z_q.mean((2, 3))
    if kind == "hist":
        if indices is None or num_codes is None:
            raise ValueError("kind='hist' needs indices and num_codes")
        return code_histogram(indices, num_codes)
    raise ValueError(f"unknown pooling {kind!r}; use 'flat', 'avg', 'mean' or 'hist'")


def pca_reduce(features, n_components: int = 50, whiten: bool = False, seed: int = 0) -> np.ndarray:
    """Projection onto the top principal components (sklearn PCA), optionally whitened."""
    from sklearn.decomposition import PCA

    f = np.asarray(features, dtype=np.float64)
    n_components = min(n_components, f.shape[0], f.shape[1])
    return PCA(n_components, whiten=whiten, random_state=seed).fit_transform(f)


def spectral_features(features, n_components: int = 10, n_neighbors: int = 10, seed: int = 0) -> np.ndarray:
    """Laplacian-eigenmap coordinates of a symmetric kNN graph (sklearn SpectralEmbedding), each row scaled to
    unit length (Ng-Jordan-Weiss): k-means on these is spectral clustering."""
    from sklearn.manifold import SpectralEmbedding

    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) <= n_neighbors:
        raise ValueError(f"features must be (N, F) with N > n_neighbors={n_neighbors}, got shape {f.shape}")
    e = SpectralEmbedding(n_components, affinity="nearest_neighbors", n_neighbors=n_neighbors,
                          random_state=seed).fit_transform(f)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def tsne_features(features, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-d t-SNE map of (N, F) features (sklearn, Barnes-Hut, PCA initialisation): k-means on it clusters by
    neighbourhoods, as in N2D (McConville et al., 2019, with UMAP in place of t-SNE)."""
    from sklearn.manifold import TSNE

    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) <= 3 * perplexity:
        raise ValueError(f"features must be (N, F) with N > 3 * perplexity = {3 * perplexity:g}, got shape {f.shape}")
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(f)


# ----------------------------------------------------------------------------- clustering

def _kmeans(f: np.ndarray, k: int, seed: int, n_init: int):
    """sklearn's KMeans (k-means++ starts, the best of n_init) fitted to f with random_state seed."""
    from sklearn.cluster import KMeans

    return KMeans(k, n_init=n_init, random_state=seed).fit(f)


def kmeans_labels(features, k: int, seed: int = 0, n_init: int = 4) -> np.ndarray:
    """Cluster ids (N,) of k-means with K=k, as one step of kmeans_sweep with the same seed gives them."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or not 2 <= int(k) < len(f):
        raise ValueError(f"features must be (N, F) and 2 <= k < N; got shape {f.shape} and k={k}")
    return _kmeans(f, int(k), seed, n_init).labels_


def kmeans_sweep(features, ks=range(2, 16), seed: int = 0, n_init: int = 4, silhouette_n: int = 2000,
                 show_progress: bool = True) -> dict:
    """k-means for each K; silhouette score on a fixed random subsample of silhouette_n points.
    Returns {'ks', 'silhouette', 'inertia', 'labels' (K -> (N,) int array), 'centers'}."""
    from sklearn.metrics import silhouette_score

    f = np.asarray(features, dtype=np.float64)
    ks = [int(k) for k in ks]
    if f.ndim != 2 or len(f) < 3:
        raise ValueError(f"features must be (N, F) with N >= 3, got shape {f.shape}")
    if not ks or min(ks) < 2 or max(ks) >= len(f):
        raise ValueError(f"every K must satisfy 2 <= K < N={len(f)}; got {ks}")
    sub = np.random.default_rng(seed).permutation(len(f))[:min(silhouette_n, len(f))]
    out = {"ks": ks, "silhouette": [], "inertia": [], "labels": {}, "centers": {}}
    for k in (progress(ks, desc="k-means sweep") if show_progress else ks):
        km = _kmeans(f, k, seed, n_init)
        lab = km.labels_
        ok = len(np.unique(lab[sub])) > 1
        out["silhouette"].append(float(silhouette_score(f[sub], lab[sub])) if ok else float("nan"))
        out["inertia"].append(float(km.inertia_))
        out["labels"][k] = lab
        out["centers"][k] = km.cluster_centers_
    return out


def contingency(y_true, clusters, n_classes: int | None = None, n_clusters: int | None = None) -> np.ndarray:
    """Counts (n_clusters, n_classes): how many of each true label fall in each cluster."""
    y, c = np.asarray(y_true).astype(int), np.asarray(clusters).astype(int)
    if y.shape != c.shape:
        raise ValueError(f"labels and clusters differ in shape: {y.shape} vs {c.shape}")
    n_classes = n_classes or int(y.max()) + 1
    n_clusters = n_clusters or int(c.max()) + 1
    m = np.zeros((n_clusters, n_classes), dtype=np.int64)
    np.add.at(m, (c, y), 1)
    return m


def majority_labels(y_true, clusters, n_classes: int | None = None) -> np.ndarray:
    """Cluster -> its most frequent true label (the naming that purity scores); defined for any K."""
    return contingency(y_true, clusters, n_classes).argmax(1)


def purity(y_true, clusters) -> float:
    """Share of items whose cluster's majority label is their own label: sum_c max_y n_cy / N (any K)."""
    m = contingency(y_true, clusters)
    return float(m.max(1).sum() / m.sum())


def match_clusters(y_true, clusters, n_classes: int | None = None) -> np.ndarray:
    """Cluster -> label map of the one-to-one matching maximizing agreement (Hungarian, linear_sum_assignment);
    defined only when the number of clusters equals the number of classes."""
    from scipy.optimize import linear_sum_assignment

    m = contingency(y_true, clusters, n_classes)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"Hungarian matching needs as many clusters as classes, got {m.shape[0]} clusters for "
                         f"{m.shape[1]} classes; use purity / majority_labels for any K")
    rows, cols = linear_sum_assignment(-m)
    mapping = np.empty(len(rows), dtype=np.int64)
    mapping[rows] = cols
    return mapping


def hungarian_accuracy(y_true, clusters, n_classes: int | None = None) -> float:
    """Clustering accuracy: agreement after the best one-to-one cluster-to-label matching (K = number of classes)."""
    mapping = match_clusters(y_true, clusters, n_classes)
    return float((mapping[np.asarray(clusters).astype(int)] == np.asarray(y_true)).mean())


def clustering_scores(y_true, clusters, n_classes: int | None = None) -> dict:
    """Purity (any K), Hungarian accuracy (NaN unless K = n_classes), NMI and ARI (sklearn) against true labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    n_classes = n_classes or int(np.asarray(y_true).max()) + 1
    k = int(np.asarray(clusters).max()) + 1
    acc = hungarian_accuracy(y_true, clusters, n_classes) if k == n_classes else float("nan")
    return {"purity": purity(y_true, clusters), "acc": acc,
            "nmi": float(normalized_mutual_info_score(y_true, clusters)),
            "ari": float(adjusted_rand_score(y_true, clusters))}


def select_space_and_k(spaces: dict, ks=range(2, 16), seed: int = 0, n_init: int = 4,
                       show_progress: bool = True) -> dict:
    """Label-free model selection: k-means for every candidate space and K, each scored by the exact silhouette in
    the space that was clustered; returns the per-space sweeps, the (spaces x ks) silhouette table and the
    (space, K) with the highest silhouette (ties: the first space, the smaller K)."""
    if not spaces:
        raise ValueError("select_space_and_k needs at least one candidate space {name: (N, F) features}")
    names = list(spaces)
    it = progress(names, desc="k-means sweep per space") if show_progress else names
    sweeps = {name: kmeans_sweep(spaces[name], ks, seed=seed, n_init=n_init, silhouette_n=len(spaces[name]),
                                 show_progress=False) for name in it}
    table = np.array([sweeps[name]["silhouette"] for name in names])
    if np.isnan(table).all():
        raise ValueError("no clustering had more than one cluster: every silhouette is undefined")
    i, j = np.unravel_index(np.nanargmax(table), table.shape)
    return {"sweeps": sweeps, "names": names, "ks": sweeps[names[0]]["ks"], "silhouette": table,
            "space": names[i], "k": int(sweeps[names[i]]["ks"][j]), "best_silhouette": float(table[i, j]),
            "labels": sweeps[names[i]]["labels"][int(sweeps[names[i]]["ks"][j])]}


def label_percentages(y_true, clusters, n_classes: int | None = None) -> np.ndarray:
    """Percentage of each true label within every cluster, rows summing to 100: (n_clusters, n_classes)."""
    m = contingency(y_true, clusters, n_classes).astype(float)
    return 100 * m / np.maximum(m.sum(1, keepdims=True), 1)


def format_table(table: np.ndarray, row_names, col_names, fmt: str = "{:5.1f}", extra: dict | None = None) -> str:
    """A plain-text table (rows x cols) with optional extra columns {name: values per row}."""
    extra = extra or {}
    w = max(6, max(len(str(c)) for c in col_names) + 1)
    rw = max(len(str(r)) for r in row_names) + 1
    head = " " * rw + "".join(f"{str(c):>{w}}" for c in col_names) + "".join(f"{k:>{w + 2}}" for k in extra)
    lines = [head, "-" * len(head)]
    for i, r in enumerate(row_names):
        cells = "".join(f"{fmt.format(v):>{w}}" for v in table[i])
        cells += "".join(f"{str(v[i]):>{w + 2}}" for v in extra.values())
        lines.append(f"{str(r):<{rw}}" + cells)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- naming clusters from a few labels

def name_clusters_from_sample(y_true, clusters, n_per_cluster: int = 10, seed: int = 0,
                              n_classes: int | None = None) -> np.ndarray:
    """Cluster -> a label name chosen as a person would: read the true labels of `n_per_cluster` members of each
    cluster, drawn at random without replacement (all members if the cluster is smaller), and take their majority
    vote; ties are broken at random. Only sum_c min(n_per_cluster, |c|) labels are read. Empty clusters get -1.
    Seeded with numpy's default_rng(seed); with n_per_cluster >= every cluster's size and no ties it equals
    `majority_labels` (the naming that reads every label)."""
    y, c = np.asarray(y_true).astype(int), np.asarray(clusters).astype(int)
    if y.shape != c.shape or y.ndim != 1:
        raise ValueError(f"labels and clusters must be 1-d of the same length: {y.shape} vs {c.shape}")
    if n_per_cluster < 1:
        raise ValueError(f"n_per_cluster must be >= 1, got {n_per_cluster}")
    n_classes = n_classes or int(y.max()) + 1
    rng = np.random.default_rng(seed)
    names = np.full(int(c.max()) + 1, -1, dtype=np.int64)
    for j in range(len(names)):
        members = np.flatnonzero(c == j)
        if len(members) == 0:
            continue
        picked = rng.choice(members, size=min(n_per_cluster, len(members)), replace=False)
        votes = np.bincount(y[picked], minlength=n_classes)
        top = np.flatnonzero(votes == votes.max())
        names[j] = top[0] if len(top) == 1 else rng.choice(top)
    return names


def flip_labels_uniform(y, share: float, n_classes: int | None = None, seed: int = 0) -> np.ndarray:
    """A copy of the labels y in which exactly round(share * N) of them, chosen at random, are replaced by a
    different class drawn uniformly from the other n_classes - 1: label noise of a given share with no structure
    (the control for pseudo-labels whose errors follow the clusters). Seeded with numpy's default_rng(seed)."""
    y = np.asarray(y).astype(np.int64)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share}")
    n_classes = n_classes or int(y.max()) + 1
    if n_classes < 2:
        raise ValueError("flipping a label needs at least two classes")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))[:int(round(share * len(y)))]
    out = y.copy()
    out[idx] = (y[idx] + rng.integers(1, n_classes, size=len(idx))) % n_classes
    return out
