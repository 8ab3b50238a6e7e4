"""Downloads and extraction against a local HTTP server: success, no-op, checksum failure,
interrupted transfer, unsafe archive members; then the dataset loaders' download=True."""
import hashlib
import http.server
import io
import pickle
import tarfile
import threading

import numpy as np
import pytest

from minifb.data import cifar10, speech_commands
from minifb.data.download import DownloadError, download, download_and_extract, extract_archive
from minifb.data.wav import write_wav


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}      # url path -> bytes
    truncated: set = set()  # paths whose body is cut in half after announcing the full length
    requests: list = []

    def do_GET(self):
        self.requests.append(self.path)
        if self.path not in self.files:
            self.send_error(404)
            return
        body = self.files[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2] if self.path in self.truncated else body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local server; returns (handler class to fill, base URL)."""
    handler = type("Handler", (_Handler,), {"files": {}, "truncated": set(), "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def tar_bytes(members: dict, links: dict = (), mode: str = "w:gz") -> bytes:
    """A tar archive in memory: name -> bytes (files), and name -> link target (symlinks)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in dict(links).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_writes_verified_file_and_is_a_noop_when_present(server, tmp_path):
    handler, base = server
    body = np.random.default_rng(0).bytes(3 << 20)  # several chunks
    handler.files["/data.bin"] = body
    dest = tmp_path / "data.bin"
    download(base + "/data.bin", dest, checksum=sha256(body), progress=False)
    assert dest.read_bytes() == body
    download(base + "/data.bin", dest, checksum=sha256(body), progress=False)
    assert handler.requests == ["/data.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_checksum_mismatch_leaves_nothing_and_says_where_to_put_the_file(server, tmp_path):
    handler, base = server
    handler.files["/data.bin"] = b"not what was published"
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError, match=r"expected 0{64}.*by hand.*data\.bin"):
        download(base + "/data.bin", dest, checksum="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_nothing(server, tmp_path):
    handler, base = server
    body = b"x" * 100_000
    handler.files["/data.bin"] = body
    handler.truncated.add("/data.bin")
    with pytest.raises(DownloadError, match="by hand"):
        download(base + "/data.bin", tmp_path / "data.bin", checksum=sha256(body), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_size_other_than_published_is_refused(server, tmp_path):
    handler, base = server
    body = b"y" * 1000
    handler.files["/data.bin"] = body
    with pytest.raises(DownloadError, match="gave 1000 bytes, expected 1001"):
        download(base + "/data.bin", tmp_path / "data.bin", checksum=sha256(body), size=1001, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_is_a_clear_error(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match="could not fetch.*missing.bin.*by hand"):
        download(base + "/missing.bin", tmp_path / "missing.bin", checksum="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("members, links", [
    ({"../escape.txt": b"x"}, {}),
    ({"/tmp/absolute.txt": b"x"}, {}),
    ({"folder/a.txt": b"x"}, {"folder/link": "../../outside"}),
    ({"folder/a.txt": b"x"}, {"folder/link": "/etc/passwd"}),
], ids=["dotdot", "absolute", "link-up", "link-absolute"])
def test_unsafe_members_are_rejected_before_anything_is_written(tmp_path, members, links):
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(tar_bytes(members, links))
    target = tmp_path / "out" / "folder"
    with pytest.raises(DownloadError, match="refusing to extract"):
        extract_archive(archive, target)
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_extraction_unwraps_one_top_folder_and_keeps_safe_links(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    archive.write_bytes(tar_bytes({"data/a.txt": b"a", "data/sub/b.txt": b"b"}, {"data/sub/link": "../a.txt"}))
    target = extract_archive(archive, tmp_path / "data")
    assert (target / "a.txt").read_bytes() == b"a" and (target / "sub" / "link").read_bytes() == b"a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "ok.tar.gz"]


def test_truncated_archive_leaves_no_partial_folder(tmp_path):
    archive = tmp_path / "cut.tar.gz"
    whole = tar_bytes({f"data/{i}.bin": np.random.default_rng(i).bytes(50_000) for i in range(4)})
    archive.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(DownloadError, match="cannot read archive"):
        extract_archive(archive, tmp_path / "data")
    assert [p.name for p in tmp_path.iterdir()] == ["cut.tar.gz"]


def cifar_archive() -> tuple[bytes, np.ndarray]:
    """The official layout with one tiny training batch and test batch."""
    data = np.random.default_rng(1).integers(0, 256, size=(4, 3072), dtype=np.uint8)
    batch = pickle.dumps({b"data": data, b"labels": [0, 1, 2, 3], b"batch_label": b"b", b"filenames": [b"f"] * 4})
    members = {f"cifar-10-batches-py/{n}": batch for n in cifar10.TRAIN_BATCHES + cifar10.TEST_BATCHES}
    return tar_bytes(members), data


def test_load_cifar10_downloads_once(server, tmp_path, monkeypatch):
    handler, base = server
    archive, data = cifar_archive()
    handler.files["/cifar-10-python.tar.gz"] = archive
    monkeypatch.setattr(cifar10, "URL", base + "/cifar-10-python.tar.gz")
    monkeypatch.setattr(cifar10, "MD5", hashlib.md5(archive).hexdigest())
    images, labels = cifar10.load_cifar10(tmp_path, train=False, download=True)
    np.testing.assert_array_equal(images[2], data[2].reshape(3, 32, 32).transpose(1, 2, 0))
    np.testing.assert_array_equal(labels, [0, 1, 2, 3])
    images, _ = cifar10.load_cifar10(tmp_path, train=True, download=True)
    assert images.shape == (20, 32, 32, 3) and handler.requests == ["/cifar-10-python.tar.gz"]


def test_load_cifar10_bad_checksum_says_where_to_put_the_archive(server, tmp_path, monkeypatch):
    handler, base = server
    handler.files["/cifar-10-python.tar.gz"] = cifar_archive()[0]
    monkeypatch.setattr(cifar10, "URL", base + "/cifar-10-python.tar.gz")
    with pytest.raises(DownloadError, match=f"place it at {tmp_path / 'cifar-10-python.tar.gz'}"):
        cifar10.load_cifar10(tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []


def test_speech_commands_test_set_download(server, tmp_path, monkeypatch):
    handler, base = server
    wav = tmp_path / "clip.wav"
    write_wav(wav, np.arange(16000, dtype=np.int16))
    members = {f"{label}/{name}": wav.read_bytes() for label, name in
               [("yes", "a1_nohash_0.wav"), ("_unknown_", "cat_b2_nohash_0.wav.wav"), ("_silence_", "7.wav")]}
    archive = tar_bytes(members)  # the official test set extracts flat
    wav.unlink()
    handler.files["/test_set.tar.gz"] = archive
    archives = dict(speech_commands.ARCHIVES)
    archives[speech_commands.TEST_SET] = speech_commands.Archive(base + "/test_set.tar.gz", sha256(archive), None)
    monkeypatch.setattr(speech_commands, "ARCHIVES", archives)
    waveforms, labels, names = speech_commands.load_speech_commands_test_set(tmp_path, download=True)
    assert names == ["_silence_/7.wav", "_unknown_/cat_b2_nohash_0.wav.wav", "yes/a1_nohash_0.wav"]
    np.testing.assert_array_equal(labels, [0, 1, speech_commands.LABELS_12.index("yes")])
    np.testing.assert_array_equal(waveforms[1], np.arange(16000))
    download_and_extract(base + "/never-fetched", tmp_path / "x.tar.gz",
                         tmp_path / "speech_commands_test_set_v0.02", checksum="0")
    assert handler.requests == ["/test_set.tar.gz"]
