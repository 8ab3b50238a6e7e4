"""CIFAR-10 from the official pickled layout: tiny batches written here, and the real data."""
import importlib.util
import pickle
import subprocess
import sys

import numpy as np
import pytest

from conftest import SHARED_DATA
from minifb.data import cifar10, load_cifar10


def write_batches(root, count: int = 3, seed: int = 0) -> dict:
    """Official-format batches of ``count`` random images each; returns name -> (data, labels)."""
    folder = root / cifar10.FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    written = {}
    for name in cifar10.TRAIN_BATCHES + cifar10.TEST_BATCHES:
        data = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=count).tolist()
        with open(folder / name, "wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * count}, fh, protocol=2)
        written[name] = data, labels
    return written


def test_reads_planes_into_channels_last_images_in_batch_order(tmp_path):
    written = write_batches(tmp_path)
    images, labels = load_cifar10(tmp_path, train=True)
    assert images.shape == (15, 32, 32, 3) and images.dtype == np.uint8 and labels.dtype == np.int64
    data, batch_labels = written["data_batch_2"]
    red, green, blue = data[1, :1024], data[1, 1024:2048], data[1, 2048:]
    pixel = 5 * 32 + 7  # row 5, column 7 in row-major order
    assert tuple(images[3 + 1, 5, 7]) == (red[pixel], green[pixel], blue[pixel])
    assert labels[3 + 1] == batch_labels[1]
    test_images, test_labels = load_cifar10(tmp_path, train=False)
    assert test_images.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(test_labels, written["test_batch"][1])


def test_missing_data_names_files_and_url(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1.*cifar-10-batches-py.*download=True.*cifar-10-python"):
        load_cifar10(tmp_path)


def test_malformed_batch_is_a_clear_error(tmp_path):
    write_batches(tmp_path)
    with open(tmp_path / cifar10.FOLDER / "test_batch", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(ValueError, match=r"test_batch holds data uint8 \(2, 100\).*expected \(N, 3072\)"):
        load_cifar10(tmp_path, train=False)


@pytest.fixture(scope="session")
def real_cifar10(tmp_path_factory):
    """The real CIFAR-10 rebuilt once from the shared lossless WebP mosaics."""
    source = SHARED_DATA / "cifar10"
    if not (source / "unpack.py").is_file():
        pytest.skip(f"real CIFAR-10 not found at {source}")
    if importlib.util.find_spec("PIL") is None:
        pytest.skip("unpacking the real CIFAR-10 mosaics needs Pillow, which is not installed")
    root = tmp_path_factory.mktemp("cifar10")
    subprocess.run([sys.executable, str(source / "unpack.py"), str(root)], check=True, capture_output=True)
    return root


@pytest.fixture(scope="session")
def real_cifar10_train(real_cifar10):
    return load_cifar10(real_cifar10, train=True)


@pytest.mark.slow
def test_real_cifar10_statistics(real_cifar10, real_cifar10_train):
    images, labels = real_cifar10_train
    assert images.shape == (50000, 32, 32, 3)
    np.testing.assert_array_equal(np.bincount(labels), [5000] * 10)
    values = np.arange(256) / 255.0
    for channel in range(3):  # moments from a histogram: exact and cheap for 51 million pixels
        counts = np.bincount(images[..., channel].ravel(), minlength=256) / images[..., channel].size
        mean = counts @ values
        assert abs(mean - cifar10.MEAN[channel]) < 5e-5
        assert abs(np.sqrt(counts @ (values - mean) ** 2) - cifar10.STD[channel]) < 5e-5
    test_images, test_labels = load_cifar10(real_cifar10, train=False)
    assert test_images.shape == (10000, 32, 32, 3)
    np.testing.assert_array_equal(np.bincount(test_labels), [1000] * 10)


@pytest.mark.slow
def test_shipped_sample_is_the_first_images_of_each_class(real_cifar10, real_cifar10_train):
    from minifb.data import load_cifar10_sample
    from minifb.data.make_samples import first_per_class
    for train, count in ((True, 200), (False, 100)):
        images, labels = real_cifar10_train if train else load_cifar10(real_cifar10, train=False)
        keep = first_per_class(labels, count)
        sample_images, sample_labels = load_cifar10_sample(train)
        np.testing.assert_array_equal(sample_images, images[keep])
        np.testing.assert_array_equal(sample_labels, labels[keep])
