"""Writing a file so that readers see the old file or the whole new one, never half of it.

The bytes go to a temporary file in the target's folder, are flushed to disk, and the temporary
file is renamed over the target with ``os.replace`` (atomic within one file system). If writing
fails or is interrupted, the temporary file is removed and the target is left as it was; an
operating-system error (a full disk: ENOSPC, or EFBIG "File too large" past a file-size limit)
comes back naming the caller and the file being written, with its errno kept.
"""
from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, who: str):
    """``with atomic_write(path, "save_checkpoint") as f: f.write(...)``: a binary file that
    becomes ``path`` when the block ends without error. ``who`` names the caller in the error
    raised when the folder of ``path`` does not exist."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: the folder {folder} of {path} does not exist")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the permissions of an ordinary new file, not mkstemp's 0600
        os.replace(tmp, path)
    except OSError as e:
        os.unlink(tmp)
        if e.errno is None:  # not from the operating system: nothing to add
            raise
        raise OSError(e.errno, f"{who}: cannot write {path} ({e.strerror})") from e
    except BaseException:
        os.unlink(tmp)
        raise
