"""atomic_write: the target holds the old bytes or all of the new ones, never a partial file."""
import os

import pytest

from minifb.atomic_file import atomic_write


def test_a_finished_write_replaces_the_file_with_ordinary_permissions(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_write(target, "test") as f:
        f.write(b"new contents")
    assert target.read_bytes() == b"new contents"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["out.bin"]


def test_an_interrupted_write_keeps_the_old_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target, "test") as f:
            f.write(b"half of the new")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_a_missing_folder_is_named_with_the_caller(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"save_thing: the folder .*missing of .*out\.bin does not exist"):
        with atomic_write(tmp_path / "missing" / "out.bin", "save_thing"):
            pass
