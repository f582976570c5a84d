"""The non-digit referee (helpers.referee): the non-digit makers (shape, binary values, ink, seeds, chimeras of
different classes only), LeNet-5's shapes and parameter count, digit_share on hand-built probabilities, a short
training on Hoda digits that rejects noise and blobs, and the bad-input errors."""
import os
from pathlib import Path

import pytest
import torch

from helpers import classifier, data, referee, utils

INK = 0.12  # a test value; callers measure the ink fraction from their digits (x.mean(), 0.114 for Hoda)
BOX = slice(4, 24)  # the centred 20x20 square where Hoda digits (and blobs, strokes) lie


def _binary(x):
    return set(torch.unique(x).tolist()) <= {0.0, 1.0}


def coded_digits(labels):
    """Stand-in digits whose class can be read off any white pixel: class k lights, inside the centred box,
    exactly the pixels with (row * 28 + col) % 10 == k (spread over every row and column)."""
    idx = torch.arange(28 * 28).view(28, 28)
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[BOX, BOX] = True
    return ((idx[None] % 10 == labels[:, None, None]) & inside).float()[:, None]


def classes_in(img):
    """The classes whose code pixels are white in one coded image."""
    idx = torch.arange(28 * 28)
    return set((idx[img.flatten() > 0] % 10).tolist())


# ----------------------------------------------------------------------------- makers
def test_noise_shape_binary_and_ink():
    x = referee.noise_images(2000, INK, utils.generator(0))
    assert x.shape == (2000, 1, 28, 28) and x.dtype == torch.float32 and _binary(x)
    assert abs(x.mean().item() - INK) < 0.002  # s.e. of the mean is 0.0003


def test_blobs_light_exactly_the_ink_share_inside_the_box():
    x = referee.blob_images(50, INK, utils.generator(0))
    assert x.shape == (50, 1, 28, 28) and _binary(x)
    per_image = x.flatten(1).sum(1)
    assert (per_image == round(INK * 784)).all()  # the per-image quantile threshold
    inside = x[:, :, BOX, BOX].flatten(1).sum(1)
    assert torch.equal(inside, per_image)  # nothing outside the centred box
    assert not torch.equal(x[0], x[1])


def test_strokes_are_binary_nonempty_in_the_box_with_digit_like_ink():
    x = referee.stroke_images(300, utils.generator(0))
    assert x.shape == (300, 1, 28, 28) and _binary(x)
    assert (x.flatten(1).sum(1) > 0).all()
    assert x[:, :, :3].sum() == 0 and x[:, :, 25:].sum() == 0  # pen radius <= 1.75 px around the box
    assert 0.05 < x.mean().item() < 0.15  # Hoda digits: about 0.11
    one = referee.stroke_images(300, utils.generator(0), strokes=(1, 1), segments=(1, 1))
    assert one.mean() < x.mean()  # a single short stroke inks less than 1-4 polylines


@pytest.mark.parametrize("make", [
    lambda g: referee.noise_images(20, INK, g),
    lambda g: referee.blob_images(20, INK, g),
    lambda g: referee.stroke_images(20, g),
    lambda g: referee.cut_and_mix(coded_digits(torch.arange(20) % 10), torch.arange(20) % 10, g),
    lambda g: referee.non_digits(20, coded_digits(torch.arange(20) % 10), torch.arange(20) % 10, INK, g),
], ids=["noise", "blobs", "strokes", "cut_and_mix", "non_digits"])
def test_makers_reproduce_with_a_seed_and_differ_across_seeds(make):
    a, b, c = make(utils.generator(3)), make(utils.generator(3)), make(utils.generator(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_cut_and_mix_joins_two_different_classes_and_keeps_the_source():
    y = torch.arange(200) % 10
    x = coded_digits(y)
    out = referee.cut_and_mix(x, y, utils.generator(0), novelty=0.0)  # no redraws: the partners as first drawn
    assert out.shape == x.shape and _binary(out)
    for i in range(len(out)):
        found = classes_in(out[i])
        assert len(found) == 2 and int(y[i]) in found, (i, found)  # its own class and exactly one other
    above, below = torch.arange(28)[:, None] < 13, torch.arange(28)[:, None] >= 16  # the cut is at 13-15
    swaps = 0
    for img in out:  # a half-swap shows one class on each side of its cut, a different one on each side
        sides = [(classes_in(img * above), classes_in(img * below)),
                 (classes_in(img * above.T), classes_in(img * below.T))]
        swaps += any(len(a) == len(b) == 1 and a != b for a, b in sides)
    assert 100 < swaps < 165  # two thirds of 200; the rest are overlays (both classes everywhere)


def test_cut_and_mix_redraws_chimeras_that_are_one_digit():
    """Class 1 holds every pixel of class 0: joining a 0 and a 1 leaves a 1 (nothing new to it), so every
    chimera kept must hold class 2's pixels."""
    y = torch.arange(60) % 3
    zero, more, two = coded_digits(torch.tensor([0, 5, 2]))
    x = torch.stack([zero, torch.maximum(zero, more), two])[y]  # class 1 = class 0 and more ink
    out = referee.cut_and_mix(x, y, utils.generator(0), tries=40)
    assert all(2 in classes_in(img) for img in out)
    blind = referee.cut_and_mix(x, y, utils.generator(0), novelty=0.0)
    assert not all(2 in classes_in(img) for img in blind)  # without the check, 0-1 chimeras do occur


def test_cut_and_mix_kinds_all_occur():
    y = torch.arange(300) % 10
    x = coded_digits(y)
    out = referee.cut_and_mix(x, y, utils.generator(1))
    ink_ratio = out.flatten(1).sum(1) / x.flatten(1).sum(1)
    n_overlay = int((ink_ratio > 1.5).sum())  # an overlay carries both digits' ink, a half-swap about one digit's
    assert 60 < n_overlay < 140  # a third of 300


def test_non_digits_mix_holds_each_kind_equally():
    y = torch.arange(40) % 10
    out = referee.non_digits(9, coded_digits(y), y, INK, utils.generator(0))
    assert out.shape == (9, 1, 28, 28) and _binary(out)
    border = out.clone()
    border[:, :, 3:25] = 0
    assert int((border.flatten(1).sum(1) > 5).sum()) == 3  # only the noise images (9 // 4 + 1) reach the border
    assert referee.NON_DIGIT_KINDS == ("noise", "blobs", "strokes", "cut and mixed")


# ----------------------------------------------------------------------------- LeNet-5
def test_lenet5_shapes_and_parameter_count():
    torch.manual_seed(0)
    m = referee.LeNet5()
    x = torch.rand(3, 1, 28, 28)
    assert m(x).shape == (3, 11) and m.embed(x).shape == (3, 84)
    conv1, conv2 = 6 * 25 + 6, 16 * 6 * 25 + 16
    fc = (400 * 120 + 120) + (120 * 84 + 84) + (84 * 11 + 11)
    assert sum(p.numel() for p in m.parameters()) == conv1 + conv2 + fc == 61791
    assert sum(p.numel() for p in referee.LeNet5(10).parameters()) == 61791 - 85
    assert classifier.features(m, x).shape == (3, 84)  # the helpers work on it unchanged
    torch.testing.assert_close(classifier.predict_proba(m, x).sum(1), torch.ones(3))
    with pytest.raises(ValueError, match=r"LeNet5 expects images \(B, 1, 28, 28\)"):
        m(torch.rand(3, 28, 28))


# ----------------------------------------------------------------------------- verdicts
def test_digit_share_from_probs_on_hand_built_cases():
    p = torch.zeros(5, 11, dtype=torch.float64)
    p[0, 3], p[0, 10] = 0.95, 0.05  # a 3
    p[1, 3], p[1, 10] = 0.85, 0.15  # argmax a digit, below the threshold: unsure
    p[2, 10], p[2, 1] = 0.6, 0.4  # not a digit
    p[3, 7], p[3, 2] = 0.91, 0.09  # a 7
    p[4, 7], p[4, 10] = 0.9, 0.1  # a 7 (>= threshold)
    d = referee.digit_share_from_probs(p, 0.9)
    assert d["n"] == 5 and d["digit_share"] == 3 / 5 and d["not_digit_share"] == 1 / 5
    assert d["unsure_share"] == pytest.approx(1 / 5)
    expected = [0.0] * 10
    expected[3], expected[7] = 1 / 3, 2 / 3
    assert d["class_fractions"] == pytest.approx(expected) and d["min_class"] == 0.0
    assert d["confidence"] == pytest.approx((0.95 + 0.85 + 0.6 + 0.91 + 0.9) / 5)
    assert referee.digit_share_from_probs(p, 0.8)["digit_share"] == 4 / 5
    none = referee.digit_share_from_probs(p[2:3], 0.9)
    assert none["digit_share"] == 0 and none["class_fractions"] == [0.0] * 10 and none["not_digit_share"] == 1


def test_digit_share_min_class_when_every_class_is_named():
    p = torch.zeros(20, 11)
    p[torch.arange(20), torch.arange(20) % 10] = 1.0
    p[19] = 0
    p[19, 0] = 1.0  # classes: 0 three times, 9 once, the rest twice
    d = referee.digit_share_from_probs(p)
    assert d["digit_share"] == 1 and d["min_class"] == pytest.approx(1 / 20)
    assert d["class_fractions"][0] == pytest.approx(3 / 20)


def test_make_referee_data_adds_the_share_of_non_digits():
    y = torch.arange(60) % 10
    x, labels = referee.make_referee_data(coded_digits(y), y, 0.25, utils.generator(0))
    assert len(x) == 80 and (labels[:60] == y).all() and (labels[60:] == referee.NOT_A_DIGIT).all()


def test_control_sets_names_sizes_and_seed():
    y = torch.arange(50) % 10
    x = coded_digits(y)
    sets = referee.control_sets(x, y, 12, INK, seed=5)
    assert list(sets) == ["real (held out)", "noise", "blobs", "strokes", "cut and mixed"]
    assert all(v.shape == (12, 1, 28, 28) for v in sets.values())
    again, other = referee.control_sets(x, y, 12, INK, seed=5), referee.control_sets(x, y, 12, INK, seed=6)
    assert all(torch.equal(sets[k], again[k]) for k in sets)
    assert not torch.equal(sets["strokes"], other["strokes"])


# ----------------------------------------------------------------------------- a short training
def _hoda_test_file():
    root = Path(os.environ.get("GENMODELS_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = root / "hoda" / "Test 20000.cdb"
    if not path.exists():
        pytest.skip(f"Hoda data not found at {path}")
    return path


def test_short_training_rejects_noise_and_blobs_and_names_real_digits(one_thread):
    images, labels = data.read_cdb(_hoda_test_file())
    g = utils.generator(0)
    pick = utils.randperm(len(labels), generator=g)[:3600]
    x, y = data.hoda_to_28([images[i] for i in pick.tolist()]), torch.as_tensor(labels)[pick]
    (x_train, y_train), (x_test, y_test) = (x[:3000], y[:3000]), (x[3000:], y[3000:])
    ref = referee.train_referee(x_train, y_train, seed=1, epochs=12)  # about 6 CPU s
    ink = x_train.mean().item()
    sets = referee.control_sets(x_test, y_test, 300, ink, seed=1001)
    real = referee.digit_share(ref, sets["real (held out)"])["digit_share"]
    assert real > 0.6, real
    for kind in ("noise", "blobs"):
        assert referee.digit_share(ref, sets[kind])["digit_share"] < 0.05, kind


def test_image_scores_of_a_set_against_itself_and_against_noise(one_thread):
    g = utils.generator(0)
    y = torch.arange(200) % 10
    x = coded_digits(y)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        clf, ref = classifier.SmallCNN(width=4).eval(), referee.LeNet5().eval()
    feats = referee.reference_features(clf, ref, x)
    same = referee.image_scores(x, clf, ref, feats)
    assert same["fd"] < 1e-3 and same["fd_referee"] < 1e-3
    assert 0 <= same["digit_share"] <= 1 and same["ink_fraction"] == pytest.approx(x.mean().item())
    noise = referee.image_scores(referee.noise_images(200, INK, g), clf, ref, feats, x_c2st=x[:100], c2st_steps=20)
    assert noise["fd"] > 100 * max(same["fd"], 1e-6) and noise["fd_referee"] > 100 * max(same["fd_referee"], 1e-6)
    assert noise["c2st_n"] == 200 and noise["c2st_ci95"][0] <= noise["c2st_accuracy"] <= noise["c2st_ci95"][1]  # 2 x 100 scored
    only_clf = referee.image_scores(x, clf, None, {"classifier": feats["classifier"]})
    assert "fd_referee" not in only_clf and "digit_share" not in only_clf



def test_monitor_scores_are_the_image_scores_of_the_seeded_binarised_samples(one_thread):
    from helpers import gan

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = gan.init_weights(gan.DCGANGenerator(8, 4)).eval()
        clf, ref = classifier.SmallCNN(width=4).eval(), referee.LeNet5().eval()
    real = coded_digits(torch.arange(100) % 10)
    feats = referee.reference_features(clf, ref, real)
    got = referee.monitor_scores(G, clf, ref, feats, seed=3, n=50)
    want = referee.image_scores(gan.binarize(G.sample(50, generator=utils.generator(4))), clf, ref, feats)
    assert got == {"fd_val": want["fd"], "confidence_val": want["confidence"], "fd_referee_val": want["fd_referee"],
                   "digit_share_val": want["digit_share"]}
    assert set(referee.monitor_scores(G, clf, None, {"classifier": feats["classifier"]}, seed=3, n=50)) == {
        "fd_val", "confidence_val"}


# ----------------------------------------------------------------------------- bad input
def test_bad_input_is_refused_with_clear_messages():
    g = utils.generator(0)
    y = torch.arange(10)
    x = coded_digits(y)
    with pytest.raises(ValueError, match="n must be >= 1"):
        referee.noise_images(0, INK, g)
    with pytest.raises(ValueError, match=r"ink \(the share of white pixels\) must be in \(0, 1\)"):
        referee.noise_images(5, 1.5, g)
    with pytest.raises(ValueError, match=r"ink .* must be in \(0, 1\)"):
        referee.blob_images(5, 1.0, g)
    with pytest.raises(ValueError, match="n must be >= 1"):
        referee.stroke_images(-1, g)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        referee.stroke_images(5, None)
    with pytest.raises(ValueError, match=r"x must be images \(N, 1, 28, 28\)"):
        referee.cut_and_mix(x[:, 0], y, g)
    with pytest.raises(ValueError, match="x and y must have the same length"):
        referee.cut_and_mix(x, y[:5], g)
    with pytest.raises(ValueError, match="at least two classes"):
        referee.cut_and_mix(x[:3], torch.zeros(3, dtype=torch.long), g)
    with pytest.raises(ValueError, match="x and y must have the same length"):
        referee.non_digits(8, x, y[:9], INK, g)
    with pytest.raises(ValueError, match=r"share .* must be in \(0, 1\)"):
        referee.make_referee_data(x, y, 1.0, g)
    with pytest.raises(ValueError, match="x and y must have the same length"):
        referee.train_referee(x, y[:3], epochs=1)
    with pytest.raises(ValueError, match=r"probs must be \(N, 11\)"):
        referee.digit_share_from_probs(torch.full((4, 10), 0.1))
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\]"):
        referee.digit_share_from_probs(torch.full((4, 11), 1 / 11), threshold=1.5)
    with pytest.raises(ValueError, match=r"x must be images \(N, 1, 28, 28\)"):
        referee.digit_share(referee.LeNet5(), torch.rand(4, 784))
    with pytest.raises(ValueError, match="n must be >= 1"):
        referee.control_sets(x, y, 0, INK)
    with pytest.raises(ValueError, match=r"ink .* must be in \(0, 1\)"):
        referee.control_sets(x, y, 5, 0.0)


def test_agreed_order_needs_every_run_and_key_beyond_the_gaps():
    keys = ("fd", "fd_referee")
    lo = [{"fd": 10.0, "fd_referee": 5.0}, {"fd": 11.0, "fd_referee": 6.0}]
    hi = [{"fd": 20.0, "fd_referee": 9.0}, {"fd": 19.0, "fd_referee": 8.0}]
    small = [{"fd": 1.0, "fd_referee": 0.5}] * 2
    assert referee.agreed_order(lo, hi, small, small, keys) == "<"
    assert referee.agreed_order(hi, lo, small, small, keys) == ">"
    # the second run's referee gap (6 vs 8) is within gaps of 1 + 1: no ordering
    wide = [{"fd": 1.0, "fd_referee": 0.5}, {"fd": 1.0, "fd_referee": 1.0}]
    assert referee.agreed_order(lo, hi, wide, wide, keys) is None
    # one run reversed: no ordering
    assert referee.agreed_order(lo, [hi[0], {"fd": 1.0, "fd_referee": 1.0}], small, small, keys) is None
    with pytest.raises(ValueError, match="one entry per run"):
        referee.agreed_order(lo, hi[:1], small, small, keys)
