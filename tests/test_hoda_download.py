"""helpers.data.hoda's download path, the one Colab takes, against a local HTTP server on 127.0.0.1 that serves
the offline copies of the Hoda files: found nowhere -> downloaded into data/hoda -> sha256 checked -> read.
A server that serves a corrupted file must give the clear checksum error and leave nothing where it would be used;
a server without the files, or no network at all, the not-found error naming every place looked."""
from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import torch

from helpers import data

from test_data import small_cdb


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


@pytest.fixture
def serve():
    """serve(folder) -> base URL of an HTTP server on 127.0.0.1 (a free port) serving `folder`; stopped after."""
    servers = []

    def start(folder: Path) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/DigitDB/"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture
def fresh_clone(tmp_path, monkeypatch):
    """A project root with no data (GENMODELS_ROOT), no GENMODELS_DATA, downloads allowed."""
    project = tmp_path / "clone"
    project.mkdir()
    monkeypatch.setenv("GENMODELS_ROOT", str(project))
    monkeypatch.delenv("GENMODELS_DATA", raising=False)
    monkeypatch.delenv("GENMODELS_OFFLINE", raising=False)
    return project


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def site(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A folder laid out like the public copy: DigitDB/<name>."""
    root = tmp_path / "site"
    (root / "DigitDB").mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / "DigitDB" / name).write_bytes(content)
    return root


def test_the_pinned_public_copy_and_its_hashes_are_the_ones_documented():
    assert data.HODA_BASE_URL == ("https://github.com/amir-saniyan/HodaDatasetReader/raw/"
                                  "a12d639fa9e768a2616f047ba9bc36d0758871ec/DigitDB/")
    assert data.HODA_SHA256 == {
        "Test 20000.cdb": "f947c38071c886677ec212fe5000863fafae0b4ed349d97d51c33abe3c8e2b07",
        "RemainingSamples.cdb": "11c9b0661b8de5f743b1b01ac76b4de19b238062d6da3500b5d6128fb1989e3d"}
    assert set(data.HODA_FILES) == set(data.HODA_SHA256)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "data.md").read_text()
    assert data.HODA_BASE_URL in doc and all(h in doc for h in data.HODA_SHA256.values())
    assert "non-commercial" in doc


def test_download_of_the_real_files_from_a_local_server_checks_sha256(data_root, fresh_clone, serve, monkeypatch):
    # a server whose DigitDB/ is the offline hoda/ folder: the real files and their real hashes
    site_root = fresh_clone.parent / "site"
    site_root.mkdir()
    (site_root / "DigitDB").symlink_to(data_root / "hoda", target_is_directory=True)
    url = serve(site_root)
    monkeypatch.setenv(data.HODA_URL_ENV, url)
    folder = data.hoda_folder()
    assert folder == fresh_clone / "data" / "hoda"
    for name, want in data.HODA_SHA256.items():
        assert sha256(folder / name) == want
    assert sorted(p.name for p in folder.iterdir()) == sorted(data.HODA_FILES)  # no temporary files left
    monkeypatch.setenv("GENMODELS_OFFLINE", "1")  # the second time nothing is downloaded
    assert data.hoda_folder() == folder


def test_hoda_end_to_end_from_a_local_server(data_root, fresh_clone, serve, monkeypatch, tmp_path):
    """data.hoda() with no argument in a fresh clone: download, check, read, preprocess (small files whose
    hashes stand in for the real ones, so that the test stays fast)."""
    files = {f: small_cdb(data_root / "hoda" / f, n) for f, n in zip(data.HODA_FILES, (30, 20))}
    monkeypatch.setattr(data, "HODA_SHA256", {f: hashlib.sha256(b).hexdigest() for f, b in files.items()})
    monkeypatch.setenv(data.HODA_URL_ENV, serve(site(tmp_path, files)))
    x, y = data.hoda()
    assert x.shape == (50, 1, 28, 28) and y.shape == (50,) and y.dtype == torch.int64
    assert (fresh_clone / "data" / "hoda" / "Test 20000.cdb").read_bytes() == files["Test 20000.cdb"]


@pytest.mark.parametrize("damage", ["one byte changed", "cut short"])
def test_a_corrupted_download_gives_the_checksum_error_and_is_not_kept(data_root, fresh_clone, serve, monkeypatch,
                                                                       tmp_path, damage):
    good = (data_root / "hoda" / "Test 20000.cdb").read_bytes()
    bad = good[:5000] + bytes([good[5000] ^ 0xFF]) + good[5001:] if damage == "one byte changed" else good[:-100]
    monkeypatch.setenv(data.HODA_URL_ENV, serve(site(tmp_path, {"Test 20000.cdb": bad})))
    with pytest.raises(data.ChecksumError) as e:
        data.hoda_folder()
    msg = str(e.value)
    assert hashlib.sha256(bad).hexdigest() in msg and data.HODA_SHA256["Test 20000.cdb"] in msg  # both hashes
    assert "Test%2020000.cdb" in msg  # the URL, space quoted
    assert "not kept" in msg and "To fix" in msg and "sha256sum" in msg
    target = fresh_clone / "data" / "hoda"
    assert not (target / "Test 20000.cdb").exists()
    assert not target.exists()  # no partial or temporary file, not even the folder, left behind


def test_no_files_on_the_server_or_offline_gives_the_not_found_error(fresh_clone, serve, monkeypatch, tmp_path):
    url = serve(site(tmp_path, {}))
    monkeypatch.setenv(data.HODA_URL_ENV, url)
    with pytest.raises(data.DataNotFoundError) as e:
        data.hoda()
    msg = str(e.value)
    assert "Hoda" in msg and url in msg and "failed" in msg and "GENMODELS_DATA" in msg and "docs/data.md" in msg
    assert str(fresh_clone / "data" / "hoda") in msg
    assert not (fresh_clone / "data").exists()  # a failed download leaves nothing behind
    monkeypatch.setenv("GENMODELS_OFFLINE", "1")
    with pytest.raises(data.DataNotFoundError, match="download skipped: GENMODELS_OFFLINE"):
        data.hoda()


def test_a_folder_passed_without_the_files_says_so(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="folder passed"):
        data.hoda(tmp_path)
