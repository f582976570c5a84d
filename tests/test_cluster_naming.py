"""Naming clusters from a few labelled examples, and uniform label noise (notebook 08's controls)."""
import numpy as np
import pytest
from scipy.stats import chisquare, hypergeom

from helpers import vqvae


def _clusters(sizes_and_labels, seed=0):
    """clusters and labels from [(cluster size, {label: count})], shuffled."""
    y, c = [], []
    for j, counts in enumerate(sizes_and_labels):
        for lab, n in counts.items():
            y += [lab] * n
            c += [j] * n
    p = np.random.default_rng(seed).permutation(len(y))
    return np.array(y)[p], np.array(c)[p]


def test_pure_clusters_are_named_right_from_any_sample_size():
    y, c = _clusters([{3: 50}, {0: 20}, {7: 5}, {1: 200}])
    for n in (1, 3, 10, 1000):
        for seed in range(5):
            assert vqvae.name_clusters_from_sample(y, c, n, seed=seed, n_classes=10).tolist() == [3, 0, 7, 1]


def test_reading_every_member_equals_the_majority_naming():
    y, c = _clusters([{0: 30, 1: 20}, {2: 11, 5: 9, 6: 4}, {4: 3, 9: 2}], seed=1)
    got = vqvae.name_clusters_from_sample(y, c, n_per_cluster=10_000, seed=3, n_classes=10)
    assert np.array_equal(got, vqvae.majority_labels(y, c, 10))


def test_seeded_and_reproducible():
    y, c = _clusters([{4: 48, 9: 52}, {3: 56, 5: 27, 8: 17}], seed=2)
    a = vqvae.name_clusters_from_sample(y, c, 10, seed=11)
    b = vqvae.name_clusters_from_sample(y, c, 10, seed=11)
    assert np.array_equal(a, b)
    many = {tuple(vqvae.name_clusters_from_sample(y, c, 10, seed=s)) for s in range(40)}
    assert len(many) > 1  # mixed clusters get different names from different draws


def test_vote_of_a_two_label_cluster_follows_the_hypergeometric_law():
    # a cluster of 70 "a" and 30 "b"; 10 drawn without replacement; ties (5-5) broken at random
    y, c = _clusters([{0: 70, 1: 30}])
    draws = 3000
    named_a = np.mean([vqvae.name_clusters_from_sample(y, c, 10, seed=s)[0] == 0 for s in range(draws)])
    x = hypergeom(100, 70, 10)
    p = x.sf(5) + 0.5 * x.pmf(5)
    assert abs(named_a - p) < 4 * np.sqrt(p * (1 - p) / draws)


def test_empty_cluster_gets_no_name_and_bad_input_is_refused():
    y, c = np.array([1, 1, 2]), np.array([0, 0, 2])
    assert vqvae.name_clusters_from_sample(y, c, 5, n_classes=3).tolist() == [1, -1, 2]
    with pytest.raises(ValueError, match="labels and clusters must be 1-d of the same length"):
        vqvae.name_clusters_from_sample(y, c[:2], 5)
    with pytest.raises(ValueError, match="n_per_cluster must be >= 1"):
        vqvae.name_clusters_from_sample(y, c, 0)


def test_flip_changes_exactly_the_share_and_always_to_another_class():
    y = np.random.default_rng(0).integers(0, 10, 5000)
    for share in (0.0, 0.213, 0.353, 1.0):
        f = vqvae.flip_labels_uniform(y, share, 10, seed=4)
        assert (f != y).sum() == round(share * len(y))
        assert f.min() >= 0 and f.max() <= 9
    assert np.array_equal(vqvae.flip_labels_uniform(y, 0.3, 10, seed=5), vqvae.flip_labels_uniform(y, 0.3, 10, seed=5))
    with pytest.raises(ValueError, match=r"share must be in \[0, 1\]"):
        vqvae.flip_labels_uniform(y, 1.5)


def test_flipped_labels_are_uniform_over_the_other_classes_and_independent_of_the_class():
    y = np.repeat(np.arange(10), 2000)
    f = vqvae.flip_labels_uniform(y, 0.5, 10, seed=6)
    wrong = f != y
    # which images are flipped does not depend on their class
    per_class = np.bincount(y[wrong], minlength=10)
    assert chisquare(per_class).pvalue > 1e-3
    # the new label of a flipped "3" is uniform over the nine other classes
    new = np.bincount(f[wrong & (y == 3)], minlength=10)
    assert new[3] == 0
    assert chisquare(np.delete(new, 3)).pvalue > 1e-3
