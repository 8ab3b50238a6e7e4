"""The shipped samples: sizes, balanced classes, and the lossless pixel coding."""
import numpy as np

from minifb.data import load_cifar10_sample, load_speech_commands_sample, samples
from minifb.data.speech_commands import LABELS_12


def test_cifar10_sample_is_balanced_uint8_images():
    for train, per_class in ((True, 200), (False, 100)):
        images, labels = load_cifar10_sample(train)
        assert images.shape == (10 * per_class, 32, 32, 3) and images.dtype == np.uint8
        np.testing.assert_array_equal(np.bincount(labels, minlength=10), [per_class] * 10)
        assert images.std() > 40  # natural images, not a constant or a failed decode


def test_speech_commands_sample_has_20_clips_per_class():
    waveforms, labels, names = load_speech_commands_sample()
    assert waveforms.shape == (240, 16000) and waveforms.dtype == np.int16
    np.testing.assert_array_equal(np.bincount(labels), [20] * 12)
    assert all(n.split("/")[0] == LABELS_12[label] for n, label in zip(names, labels))
    assert all(np.abs(w).max() > 0 for w in waveforms)


def test_row_coding_round_trips():
    x = np.random.default_rng(0).integers(0, 256, size=(5, 4, 6, 3), dtype=np.uint8)
    coded = samples.encode_rows(x)
    assert coded.dtype == np.uint8
    np.testing.assert_array_equal(samples.decode_rows(coded), x)
