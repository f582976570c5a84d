"""Data: the Hoda reader on the real files, toy samplers' moments, loaders' shapes, the offline error."""
import struct

import numpy as np
import pytest
import torch

from helpers import data


def test_hoda_reader_consumes_every_record(data_root):
    expected = {"Test 20000.cdb": 20000, "RemainingSamples.cdb": 22352}
    for name, n in expected.items():
        path = data_root / "hoda" / name
        buf = path.read_bytes()
        assert struct.unpack_from("<I", buf, 6)[0] == n
        images, labels = data.read_cdb(path)  # raises unless the whole file is consumed
        assert len(images) == len(labels) == n
        assert set(np.unique(labels)) == set(range(10))
        assert all(set(np.unique(im)) <= {0, 255} for im in images[:500])
        if name == "Test 20000.cdb":
            assert (np.bincount(labels) == 2000).all()


def test_hoda_reader_rejects_a_bad_marker(tmp_path, data_root):
    buf = bytearray((data_root / "hoda" / "Test 20000.cdb").read_bytes()[:5000])
    buf[1024] = 0x00
    bad = tmp_path / "bad.cdb"
    bad.write_bytes(bytes(buf))
    with pytest.raises(ValueError, match="0xFF"):
        data.read_cdb(bad)


def test_hoda_preprocessing_gives_28x28_binary_centred(data_root):
    images, labels = data.read_cdb(data_root / "hoda" / "Test 20000.cdb")
    x = data.hoda_to_28(images[:300])
    assert x.shape == (300, 1, 28, 28) and x.dtype == torch.float32
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    assert x[:, :, :3].sum() == 0 and x[:, :, -3:].sum() == 0  # margins are black
    ink = x.mean(0)[0]
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    cy, cx = (ink * ys).sum() / ink.sum(), (ink * xs).sum() / ink.sum()
    assert abs(cy - 13.5) < 2 and abs(cx - 13.5) < 2


@pytest.mark.parametrize("train,n", [(True, 5000), (False, 10000)])
def test_mnist_offline_shapes(train, n, data_root):
    x, y = data.mnist(train)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() == 0 and x.max() == 1 and 0.1 < x.mean() < 0.15
    assert y.min() == 0 and y.max() == 9


def test_fashion_mnist_offline_shapes(data_root):
    x, y = data.fashion_mnist(train=False)
    assert x.shape == (10000, 1, 28, 28) and torch.bincount(y).tolist() == [1000] * 10


def test_missing_data_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_DATA", str(tmp_path))
    monkeypatch.setenv("GENMODELS_OFFLINE", "1")
    monkeypatch.setenv("GENMODELS_ROOT", str(tmp_path / "project"))
    for loader, name in [(data.mnist, "MNIST"), (data.fashion_mnist, "Fashion-MNIST"), (data.cifar10, "CIFAR-10")]:
        with pytest.raises(data.DataNotFoundError) as e:
            loader(True)
        msg = str(e.value)
        assert name in msg and str(tmp_path) in msg and "GENMODELS_DATA" in msg
    with pytest.raises(data.DataNotFoundError, match="Hoda"):
        data.hoda()
    assert not (tmp_path / "project" / "data").exists()  # nothing half-downloaded left behind


def test_fake_cifar10_shapes():
    x, y = data.fake_cifar10(16)
    assert x.shape == (16, 3, 32, 32) and 0 <= x.min() and x.max() <= 1 and y.shape == (16,)


@pytest.mark.parametrize("name", data.TOY_SETS)
def test_toy_sets_sizes_and_seeds(name):
    a, b = data.toy_2d(name, 1000, seed=1), data.toy_2d(name, 1000, seed=1)
    assert a.shape == (1000, 2) and a.dtype == torch.float32 and torch.equal(a, b)
    assert not torch.equal(a, data.toy_2d(name, 1000, seed=2))


def test_gaussian_grid_and_rot_moments():
    x = data.gaussian_grid(100_000, sigma=0.5, seed=0)
    assert torch.allclose(x.mean(0), torch.tensor([1.0, 1.0]), atol=0.02)
    assert torch.allclose(torch.cov(x.T), torch.eye(2) * (1 + 0.25), atol=0.03)  # between + within
    r = data.toy_2d("GaussiansRot", 50_000, radius=0.7, variance=0.1)
    assert torch.allclose(r.mean(0), torch.zeros(2), atol=0.02)
    assert torch.allclose(torch.cov(r.T), torch.eye(2) * (0.49 / 2 + 0.1), atol=0.02)


def test_spiral_mean_radius():
    """E|r| = E[theta] / 2 = pi (r is rarely negative); angle and radius together: test_kde's polar-cell test."""
    x = data.spiral(50_000, r_std=0.5, seed=0)
    assert x.shape == (50_000, 2)
    assert abs(x.norm(dim=1).mean().item() - np.pi) < 0.05


def test_swiss_roll_and_split():
    x = data.swiss_roll(5000, seed=0)
    assert x.shape == (5000, 2) and x.abs().max() < 2
    parts = data.split(1000, (0.85, 0.10, 0.05), seed=0)
    assert [len(p) for p in parts] == [850, 100, 50]
    assert len(torch.unique(torch.cat(parts))) == 1000


# ----------------------------------------------------------------------------- cut-short and corrupt files (issue 32)

def small_cdb(src, n: int) -> bytes:
    """The first n records of a Hoda CDB file (per-record sizes) with the header's count set to n: a valid file."""
    buf = src.read_bytes()
    pos = 1024
    for _ in range(n):
        pos += 6 + struct.unpack_from("<H", buf, pos + 4)[0]  # marker, label, W, H, byte count, data
    head = bytearray(buf[:1024])
    struct.pack_into("<I", head, 6, n)
    return bytes(head) + buf[1024:pos]


def test_a_cut_short_cdb_gives_one_clear_error_naming_the_file_wherever_it_is_cut(tmp_path, data_root):
    whole = small_cdb(data_root / "hoda" / "Test 20000.cdb", 30)
    good = tmp_path / "good.cdb"
    good.write_bytes(whole)
    images, labels = data.read_cdb(good)
    assert len(images) == len(labels) == 30
    end_of_3 = len(small_cdb(data_root / "hoda" / "Test 20000.cdb", 3))
    # every 5th byte, and every byte of the header's end and the first three records (marker, label, W, H, count, runs)
    cuts = sorted(set(range(0, len(whole), 5)) | set(range(1020, end_of_3 + 1)) | {len(whole) - 1})
    bad = tmp_path / "cut Test 20000.cdb"
    for cut in cuts:
        bad.write_bytes(whole[:cut])
        with pytest.raises(data.DataFileError) as e:
            data.read_cdb(bad)
        msg = str(e.value)
        assert str(bad) in msg and "cut short" in msg, (cut, msg)
        assert "delete it" in msg  # what to do
    bad.write_bytes(whole + b"\x00\x01")
    with pytest.raises(data.DataFileError, match="longer than"):
        data.read_cdb(bad)
    assert len(cuts) > 400


def test_cut_short_idx_files_give_a_clear_error_naming_the_file(tmp_path, data_root):
    import gzip

    labels_gz = (data_root / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    raw = gzip.decompress(labels_gz)
    for name, content in [("t10k-labels-idx1-ubyte", raw[:5000]),  # uncompressed, cut: reshape error before
                          ("t10k-labels-idx1-ubyte.gz", labels_gz[:3000]),  # gzip cut: EOFError before
                          ("t10k-labels-idx1-ubyte.gz", gzip.compress(raw[:6])),  # cut inside the header
                          ("t10k-labels-idx1-ubyte.gz", gzip.compress(b"PK\x03\x04" + raw[4:])),  # not IDX
                          ("t10k-labels-idx1-ubyte.gz", b"not gzip at all")]:
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(data.DataFileError) as e:
            data._read_idx(p)
        assert str(p) in str(e.value) and "delete it" in str(e.value), str(e.value)
        p.unlink()
    # through the public loader: a damaged offline copy names its file
    root = tmp_path / "root"
    (root / "mnist").mkdir(parents=True)
    (root / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(gzip.decompress((data_root / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())[:40_016]))
    (root / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(labels_gz)
    (root / "mnist" / "mnist_5k.csv.gz").write_bytes((data_root / "mnist" / "mnist_5k.csv.gz").read_bytes()[:2000])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENMODELS_DATA", str(root))
        with pytest.raises(data.DataFileError, match="t10k-images-idx3-ubyte.gz.*cut short"):
            data.mnist(train=False)
        with pytest.raises(data.DataFileError, match="mnist_5k.csv.gz"):
            data.mnist(train=True)


# ----------------------------------------------------------------------------- where data is looked for

def test_a_relative_data_root_is_taken_from_the_project_root_not_the_current_folder(tmp_path, monkeypatch, data_root):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "offline" / "hoda").mkdir(parents=True)
    for f in data.HODA_FILES:
        (project / "offline" / "hoda" / f).symlink_to(data_root / "hoda" / f)
    monkeypatch.setenv("GENMODELS_ROOT", str(project))
    monkeypatch.setenv("GENMODELS_DATA", "offline")
    monkeypatch.setenv("GENMODELS_OFFLINE", "1")
    monkeypatch.chdir(project / "notebooks")  # where a notebook's kernel runs
    assert data.data_root() == (project / "offline").resolve()
    assert data.hoda_folder() == (project / "offline" / "hoda").resolve()
    monkeypatch.setenv("GENMODELS_DATA", "elsewhere")
    with pytest.raises(data.DataNotFoundError) as e:
        data.mnist(train=False)
    msg = str(e.value)
    assert "GENMODELS_DATA=elsewhere" in msg and "relative path" in msg and "project's root" in msg
    assert str(project / "elsewhere") in msg
    with pytest.raises(data.DataNotFoundError, match="relative path"):
        data.hoda_folder()


def test_hoda_with_no_data_root_finds_data_hoda_in_a_fresh_clone(tmp_path, monkeypatch, data_root):
    """The Colab case: no GENMODELS_DATA, the files in <clone>/data/hoda; data.hoda() needs no argument (here
    the first 50 and 40 digits of the two files, so that the test stays fast)."""
    project = tmp_path / "clone"
    (project / "data" / "hoda").mkdir(parents=True)
    for f, n in zip(data.HODA_FILES, (50, 40)):
        (project / "data" / "hoda" / f).write_bytes(small_cdb(data_root / "hoda" / f, n))
    monkeypatch.setenv("GENMODELS_ROOT", str(project))
    monkeypatch.delenv("GENMODELS_DATA", raising=False)
    monkeypatch.setenv("GENMODELS_OFFLINE", "1")
    assert data.data_root() is None
    assert data.hoda_folder() == project / "data" / "hoda"
    x, y = data.hoda()
    assert x.shape == (90, 1, 28, 28) and y.shape == (90,) and set(torch.unique(x).tolist()) <= {0.0, 1.0}
    scans, labels = data.hoda_scans("RemainingSamples.cdb")
    assert len(scans) == 40 and torch.equal(torch.as_tensor(labels), y[50:])
