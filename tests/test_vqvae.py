"""VQ-VAE quantizer, straight-through gradients, and the clustering toolkit of notebook 08."""
import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from helpers import vqvae


def test_quantizer_returns_nearest_codebook_vector():
    torch.manual_seed(0)
    vq = vqvae.VectorQuantizer(num_codes=37, dim=5)
    vq.codebook.data.normal_()
    z = torch.randn(3, 5, 4, 6)
    q = vq(z)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 5)
    brute = torch.cdist(flat, vq.codebook).argmin(1)
    assert torch.equal(q.indices.flatten(), brute)
    want = vq.codebook[brute].view(3, 4, 6, 5).permute(0, 3, 1, 2)
    assert torch.allclose(q.z_q, want, atol=1e-6)
    # and no other codebook vector is closer than the chosen one
    d = torch.cdist(flat, vq.codebook)
    assert torch.all(d.gather(1, q.indices.reshape(-1, 1)).squeeze(1) <= d.min(1).values + 1e-6)


def test_straight_through_passes_decoder_gradient_to_encoder():
    torch.manual_seed(1)
    model = vqvae.VQVAE(num_codes=16, dim=4, hidden=8)
    model.quantizer.codebook.data.normal_()
    x = torch.rand(2, 1, 28, 28)
    z = model.encode(x)
    z.retain_grad()
    q = model.quantizer(z)
    q.z_q.retain_grad()
    ((model.decode(q.z_q) - x) ** 2).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert torch.equal(z.grad, q.z_q.grad)  # identity backward: dL/dz_e = dL/dz_q
    assert model.encoder[0].weight.grad.abs().sum() > 0
    # the codebook gets no gradient from the reconstruction term through the straight-through path
    assert model.quantizer.codebook.grad is None or model.quantizer.codebook.grad.abs().sum() == 0


def test_losses_move_codebook_and_encoder_as_defined():
    torch.manual_seed(2)
    vq = vqvae.VectorQuantizer(num_codes=8, dim=3)
    vq.codebook.data.normal_()
    z = torch.randn(2, 3, 2, 2, requires_grad=True)
    q = vq(z)
    q.codebook_loss.backward(retain_graph=True)
    assert z.grad is None and vq.codebook.grad.abs().sum() > 0
    vq.codebook.grad = None
    q.commitment_loss.backward()
    assert z.grad.abs().sum() > 0 and vq.codebook.grad is None
    e = vq.codebook[q.indices].permute(0, 3, 1, 2)
    assert torch.allclose(q.commitment_loss, ((z - e) ** 2).mean())
    assert torch.allclose(q.codebook_loss, ((z.detach() - e) ** 2).mean())
    nearest = torch.cdist(z.detach().permute(0, 2, 3, 1).reshape(-1, 3), vq.codebook.detach()).argmin(1)
    assert torch.equal(q.indices.reshape(-1), nearest)  # each vector's code is its nearest codebook entry


def test_perplexity_and_dead_codes():
    idx = torch.tensor([[0, 1], [2, 3]])
    u = vqvae.codebook_usage(idx, 6)
    assert u["perplexity"] == pytest.approx(4.0) and u["dead_codes"] == 2
    assert vqvae.perplexity(torch.zeros(10, dtype=torch.long), 5) == pytest.approx(1.0)


def test_hungarian_on_permuted_labels_gives_accuracy_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    perm = rng.permutation(10)
    c = perm[y]
    assert vqvae.hungarian_accuracy(y, c) == 1.0 and vqvae.purity(y, c) == 1.0
    mapping = vqvae.match_clusters(y, c)
    assert np.array_equal(mapping[perm], np.arange(10))
    s = vqvae.clustering_scores(y, c)
    assert s["nmi"] == pytest.approx(1.0) and s["ari"] == pytest.approx(1.0)
    noisy = c.copy()
    noisy[:100] = rng.integers(0, 10, 100)
    s = vqvae.clustering_scores(y, noisy)
    assert s["nmi"] == pytest.approx(normalized_mutual_info_score(y, noisy))
    assert s["ari"] == pytest.approx(adjusted_rand_score(y, noisy))
    assert 0.8 <= s["acc"] < 1.0


def test_purity_and_hungarian_accuracy_match_a_hand_computation():
    # clusters x labels counts: c0 = [2, 0, 0], c1 = [2, 1, 0], c2 = [0, 1, 2]
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    c = np.array([0, 0, 1, 1, 1, 2, 2, 2])
    # purity: each cluster named by its majority label (c0 -> 0, c1 -> 0, c2 -> 2): (2 + 2 + 2) / 8
    assert vqvae.purity(y, c) == pytest.approx(6 / 8)
    assert list(vqvae.majority_labels(y, c)) == [0, 0, 2]
    # Hungarian: one label per cluster; best is c0 -> 0, c1 -> 1, c2 -> 2: (2 + 1 + 2) / 8
    assert list(vqvae.match_clusters(y, c)) == [0, 1, 2]
    assert vqvae.hungarian_accuracy(y, c) == pytest.approx(5 / 8)
    s = vqvae.clustering_scores(y, c)
    assert s["purity"] == pytest.approx(0.75) and s["acc"] == pytest.approx(0.625)


def test_more_clusters_than_classes_get_purity_only():
    y = np.array([0, 0, 1, 1, 1, 0])
    c = np.array([0, 1, 2, 2, 3, 3])  # 4 clusters for 2 labels: counts [1, 0], [1, 0], [0, 2], [1, 1]
    assert vqvae.purity(y, c) == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="as many clusters as classes"):
        vqvae.hungarian_accuracy(y, c)
    s = vqvae.clustering_scores(y, c)
    assert np.isnan(s["acc"]) and s["purity"] == pytest.approx(5 / 6)
    pct = vqvae.label_percentages(y, c)
    assert pct.shape == (4, 2) and np.allclose(pct.sum(1), 100)


def _blobs(rng, centers, sd, n_per):
    """Gaussian blobs around `centers` (sd each), n_per points per blob, and the blob of every point."""
    centers = np.asarray(centers, dtype=float)
    x = np.concatenate([c + sd * rng.normal(size=(n_per, centers.shape[1])) for c in centers])
    return x, np.repeat(np.arange(len(centers)), n_per)


def test_label_free_selection_finds_the_blob_space_and_its_number_of_blobs():
    rng = np.random.default_rng(0)
    n_per = 60
    # the same 240 items seen in three spaces: 4 tight blobs; 6 wide, overlapping blobs; structureless noise
    tight, truth = _blobs(rng, [[0, 0], [8, 0], [0, 8], [8, 8]], 0.5, n_per)
    wide, _ = _blobs(rng, [[0, 0], [4, 0], [8, 0], [0, 4], [4, 4], [8, 4]], 1.5, 40)
    noise = rng.uniform(size=(4 * n_per, 5))
    spaces = {"noise": noise, "wide blobs": wide, "tight blobs": tight}
    sel = vqvae.select_space_and_k(spaces, ks=range(2, 9), seed=0, n_init=2, show_progress=False)
    assert (sel["space"], sel["k"]) == ("tight blobs", 4)
    assert sel["silhouette"].shape == (3, 7) and sel["names"] == list(spaces)
    assert sel["best_silhouette"] == pytest.approx(np.nanmax(sel["silhouette"]))
    assert adjusted_rand_score(truth, sel["labels"]) == pytest.approx(1.0)
    # the score is sklearn's silhouette of that clustering in that space, computed on every item
    from sklearn.metrics import silhouette_score
    assert sel["best_silhouette"] == pytest.approx(silhouette_score(tight, sel["labels"]))
    # without the tight space, the wide blobs still win over noise, at their own number of blobs
    sel2 = vqvae.select_space_and_k({"noise": noise, "wide blobs": wide}, ks=range(2, 9), n_init=2,
                                    show_progress=False)
    assert sel2["space"] == "wide blobs"
    with pytest.raises(ValueError, match="at least one candidate"):
        vqvae.select_space_and_k({}, show_progress=False)


def test_silhouette_sweep_returns_one_score_per_k():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [6, 0], [0, 6]])
    f = np.concatenate([c + rng.normal(size=(60, 2)) for c in centers])
    ks = [2, 3, 4, 5]
    out = vqvae.kmeans_sweep(f, ks, n_init=2, show_progress=False)
    assert out["ks"] == ks and len(out["silhouette"]) == len(ks) and len(out["inertia"]) == len(ks)
    assert all(-1 <= s <= 1 for s in out["silhouette"])
    assert ks[int(np.argmax(out["silhouette"]))] == 3  # three blobs: best silhouette at K = 3
    assert set(out["labels"]) == set(ks) and all(len(v) == len(f) for v in out["labels"].values())
    with pytest.raises(ValueError, match="2 <= K"):
        vqvae.kmeans_sweep(f, [1, 2], show_progress=False)


def test_bad_inputs_fail_clearly():
    with pytest.raises(ValueError, match="28, 28"):
        vqvae.VQVAE(hidden=8).encode(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="pooling"):
        vqvae.pooled_features(torch.rand(2, 4, 7, 7), kind="max")
    with pytest.raises(ValueError, match="same D"):
        vqvae.nearest_code(torch.rand(4, 3), torch.rand(5, 2))


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")
def test_spectral_features_separate_two_rings_where_kmeans_cannot():
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 400)
    r = np.where(np.arange(400) < 200, 1.0, 4.0)
    f = np.c_[r * np.cos(t), r * np.sin(t)] + 0.1 * rng.normal(size=(400, 2))
    y = (r > 2).astype(int)
    plain = KMeans(2, n_init=4, random_state=0).fit_predict(f)
    spec = KMeans(2, n_init=4, random_state=0).fit_predict(vqvae.spectral_features(f, 2, 10))
    assert vqvae.hungarian_accuracy(y, spec) == 1.0
    assert vqvae.hungarian_accuracy(y, plain) < 0.8


def test_tsne_map_lets_kmeans_separate_two_rings_and_rejects_tiny_inputs():
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(1)
    t = rng.uniform(0, 2 * np.pi, 300)
    r = np.where(np.arange(300) < 150, 1.0, 4.0)
    f = np.c_[r * np.cos(t), r * np.sin(t), 0.1 * rng.normal(size=(300, 3))] + 0.1 * rng.normal(size=(300, 5))
    y = (r > 2).astype(int)
    emb = vqvae.tsne_features(f, perplexity=30, seed=0)
    assert emb.shape == (300, 2)
    np.testing.assert_allclose(emb, vqvae.tsne_features(f, perplexity=30, seed=0))  # seeded: reproducible
    assert vqvae.hungarian_accuracy(y, KMeans(2, n_init=4, random_state=0).fit_predict(emb)) == 1.0
    assert vqvae.hungarian_accuracy(y, KMeans(2, n_init=4, random_state=0).fit_predict(f)) < 0.8
    with pytest.raises(ValueError, match="perplexity"):
        vqvae.tsne_features(f[:50], perplexity=30)


def test_kmeans_labels_match_the_sweep_and_find_separated_blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (4, 5))
    y = np.repeat(np.arange(4), 50)
    f = centres[y] + rng.normal(0, 0.1, (200, 5))
    lab = vqvae.kmeans_labels(f, 4, seed=3)
    np.testing.assert_array_equal(lab, vqvae.kmeans_sweep(f, [4], seed=3, show_progress=False)["labels"][4])
    assert vqvae.hungarian_accuracy(y, lab, 4) == 1.0
    with pytest.raises(ValueError, match="k=1"):
        vqvae.kmeans_labels(f, 1)
