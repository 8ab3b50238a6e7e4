"""Safe downloads and archive extraction shared by the dataset loaders.

Guarantees, so that an interrupted or tampered download never leaves something that looks
like data:
- a download is written to a temporary name next to its destination, checked against its
  size and checksum (md5 or sha256), and only then renamed into place;
- an archive is checked member by member before anything is written (no absolute paths, no
  '..', no links that point outside, no devices), extracted into a temporary folder next to
  the target and renamed into place as a whole.
Any failure raises DownloadError saying where to put the files by hand.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

CHUNK_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """A download or an extraction failed; the message says how to provide the files by hand."""


def file_digest(path, algorithm: str) -> str:
    """Hex digest ('md5' or 'sha256') of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest, *, checksum: str, algorithm: str = "sha256", size: int | None = None,
             timeout: float = 60.0, progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest`` (a file path) unless a file with the right checksum is there.

    The bytes go to a temporary file in dest's folder, with a tqdm progress bar; the file is
    renamed to ``dest`` only when the whole body arrived (the announced length, and ``size``
    bytes when given) and its ``algorithm`` digest equals ``checksum``. Otherwise the temporary
    file is removed and DownloadError is raised.
    """
    dest = Path(dest)
    if dest.is_file() and file_digest(dest, algorithm) == checksum:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    by_hand = f"download {url} by hand and place it at {dest} ({algorithm} {checksum})"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.new(algorithm)
        received = 0
        try:
            with os.fdopen(fd, "wb") as fh, urllib.request.urlopen(url, timeout=timeout) as response:
                announced = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=announced or size, unit="B", unit_scale=True, desc=dest.name,
                          disable=not progress) as bar:
                    for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                        fh.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, HTTPException, OSError) as e:
            raise DownloadError(f"download: could not fetch {url} ({e}); {by_hand}") from e
        for expected in (announced, size):
            if expected is not None and received != expected:
                raise DownloadError(f"download: {url} gave {received} bytes, expected {expected} "
                                    f"(interrupted?); {by_hand}")
        if digest.hexdigest() != checksum:
            raise DownloadError(f"download: {url} has {algorithm} {digest.hexdigest()}, expected {checksum} "
                                f"(corrupted or changed); {by_hand}")
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def _check_member(member: tarfile.TarInfo, archive) -> None:
    """Reject a tar member that could write outside the extraction folder."""
    path = PurePosixPath(member.name)
    where = f"extract: archive {archive} member {member.name!r}"
    if path.is_absolute() or member.name.startswith(("/", "\\")) or ".." in path.parts:
        raise DownloadError(f"{where} has an absolute path or '..'; refusing to extract it")
    if member.issym() or member.islnk():
        # A symlink is resolved from its own folder, a hard link from the archive root.
        base = str(path.parent) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, member.linkname))
        if posixpath.isabs(member.linkname) or resolved == ".." or resolved.startswith("../"):
            raise DownloadError(f"{where} links to {member.linkname!r} outside the archive; refusing to "
                                "extract it")
    elif not (member.isfile() or member.isdir()):
        raise DownloadError(f"{where} is a device or special file; refusing to extract it")


def extract_archive(archive, target) -> Path:
    """Extract a .tar/.tar.gz/.tar.xz ``archive`` so that its contents become folder ``target``.

    Every member is checked first (see module docstring). The archive is unpacked into a
    temporary folder beside ``target``; if it holds a single folder named like ``target``
    (archives that wrap their files in one top folder) that folder is used, else the temporary
    folder itself; it is then renamed to ``target``, so a failed extraction leaves nothing.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise DownloadError(f"extract: {target} already exists; remove it or use it as it is")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        try:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(member, archive)
                # The stdlib's own "data" filter (Python >= 3.11.4) is a second line of defence.
                safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=members, **safety)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DownloadError(f"extract: cannot read archive {archive} ({e}); delete it and download it "
                                "again") from e
        entries = list(tmp.iterdir())
        single = len(entries) == 1 and entries[0].is_dir() and entries[0].name == target.name
        inner = entries[0] if single else tmp
        os.replace(inner, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def download_and_extract(url: str, archive, target, *, checksum: str, algorithm: str = "sha256",
                         size: int | None = None, progress: bool = True) -> Path:
    """``target`` when it exists (a no-op); else download ``url`` to ``archive``, verify, extract."""
    target = Path(target)
    if target.is_dir():
        return target
    download(url, archive, checksum=checksum, algorithm=algorithm, size=size, progress=progress)
    return extract_archive(archive, target)
