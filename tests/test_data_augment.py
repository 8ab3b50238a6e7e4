"""Augmentation: crops stay inside the padding, flips are flips, shifts and noise mixing."""
import numpy as np
import pytest

from minifb.backend import asnumpy
from minifb.data import augment, cifar10


def images(n=16, size=8, seed=0):
    return np.random.default_rng(seed).integers(1, 256, size=(n, size, size, 3), dtype=np.uint8)


def test_each_crop_is_a_window_of_the_padded_image_maybe_mirrored(device, xp):
    x = images()
    out = asnumpy(augment.random_crop_flip(xp.asarray(x), padding=2, rng=np.random.default_rng(1)))
    assert out.shape == x.shape and out.dtype == np.uint8
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    flips = 0
    for i in range(len(x)):
        windows = [(top, left, mirror) for top in range(5) for left in range(5) for mirror in (False, True)
                   if np.array_equal(out[i], (lambda w: w[:, ::-1] if mirror else w)(padded[i, top:top + 8, left:left + 8]))]
        assert windows, f"image {i} is not a crop of its padded copy"
        flips += windows[0][2]
    assert 0 < flips < len(x)


def test_no_padding_no_flip_is_identity_and_flip_only_mirrors(device, xp):
    x = xp.asarray(images())
    np.testing.assert_array_equal(asnumpy(augment.random_crop_flip(x, padding=0, flip=False)), asnumpy(x))
    out = asnumpy(augment.random_crop_flip(x, padding=0, rng=np.random.default_rng(2)))
    for original, got in zip(asnumpy(x), out):
        assert np.array_equal(got, original) or np.array_equal(got, original[:, ::-1])


def test_same_seed_same_augmentation_on_every_device(device, xp):
    x = images()
    a = augment.random_crop_flip(xp.asarray(x), rng=np.random.default_rng(5))
    b = augment.random_crop_flip(x, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(asnumpy(a), b)


def test_normalize_gives_nchw_standard_scores(device, xp):
    x = images(4)
    got = augment.normalize(xp.asarray(x))
    assert got.shape == (4, 3, 8, 8) and got.dtype == np.float32
    expected = (x / 255.0 - np.array(cifar10.MEAN)) / np.array(cifar10.STD)
    np.testing.assert_allclose(asnumpy(got), expected.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"normalize: expected channels-last images \(N, H, W, 3\), got shape \(4, 3, 8, 8\)"):
        augment.normalize(xp.asarray(x.transpose(0, 3, 1, 2)))


def _kept(length, shift):
    """1 where np.roll(x, shift) holds a sample of x, 0 where the shift fills zeros."""
    mask = np.ones(length, dtype=np.float32)
    if shift > 0:
        mask[:shift] = 0
    elif shift < 0:
        mask[shift:] = 0
    return mask


def test_time_shift_moves_each_clip_with_zero_fill(device, xp):
    x = np.random.default_rng(0).uniform(0.1, 1, size=(8, 50)).astype(np.float32)
    out = asnumpy(augment.random_time_shift(xp.asarray(x), max_shift=10, rng=np.random.default_rng(3)))
    assert out.dtype == np.float32
    shifts = []
    for original, got in zip(x, out):
        matches = [s for s in range(-10, 11) if np.array_equal(got, np.roll(original, s) * _kept(50, s))]
        assert len(matches) == 1
        shifts.append(matches[0])
    assert len(set(shifts)) > 1


def test_noise_is_a_scaled_crop_of_one_recording(device, xp):
    rng = np.random.default_rng(0)
    recordings = [rng.integers(-20000, 20000, size=n).astype(np.int16) for n in (300, 500)]
    bank, lengths = augment.stack_noise(recordings, dtype=np.float64)
    x = rng.uniform(-0.5, 0.5, size=(200, 100))
    out = asnumpy(augment.mix_background_noise(xp.asarray(x), xp.asarray(bank), lengths, probability=0.8,
                                                max_volume=0.1, rng=np.random.default_rng(4)))
    added = out - x
    untouched = np.all(added == 0, axis=1)
    assert 0.1 < untouched.mean() < 0.3  # probability 0.8 of mixing
    for row in np.flatnonzero(~untouched)[:20]:
        fits = []
        for recording in recordings:
            noise = recording / 32768
            for start in range(len(noise) - 100 + 1):
                crop = noise[start:start + 100]
                volume = added[row] @ crop / (crop @ crop)
                if 0 <= volume < 0.1 and np.allclose(added[row], volume * crop, atol=1e-12):
                    fits.append(volume)
        assert fits, f"clip {row}: the added signal is not a scaled noise crop"
    assert np.abs(out).max() <= 1


def test_noise_shorter_than_clips_is_refused():
    bank, lengths = augment.stack_noise([np.zeros(50, np.int16)])
    with pytest.raises(ValueError, match="noise recordings of 50 samples are shorter than the clips \\(100\\)"):
        augment.mix_background_noise(np.zeros((2, 100), np.float32), bank, lengths)


def test_cifar10_transforms_in_a_loader(device, xp):
    from minifb.data import DataLoader
    x = images(10, 32)
    labels = np.arange(10)
    train = DataLoader(x, labels, batch_size=4, shuffle=True, seed=0, device=device,
                       transform=augment.cifar10_train_transform)
    batches = list(train)
    assert [b[0].shape for b in batches] == [(4, 3, 32, 32), (4, 3, 32, 32), (2, 3, 32, 32)]
    assert all(b[0].dtype == np.float32 for b in batches)
    evaluation = next(iter(DataLoader(x, labels, batch_size=10, device=device, transform=augment.cifar10_eval_transform)))
    np.testing.assert_allclose(asnumpy(evaluation[0]), asnumpy(augment.normalize(xp.asarray(x))))
    crops = asnumpy(batches[0][0])
    assert not np.allclose(crops, asnumpy(augment.normalize(xp.asarray(x[asnumpy(batches[0][1])]))))


def test_speech_commands_transform(device, xp):
    clips = xp.asarray(np.random.default_rng(0).integers(-2000, 2000, size=(3, 16000)).astype(np.int16))
    noise, lengths = augment.stack_noise([np.random.default_rng(1).integers(-900, 900, 20000).astype(np.int16)])
    labels = xp.arange(3)
    train = augment.speech_commands_transform(xp.asarray(noise), lengths)
    features, same_labels = train((clips, labels), np.random.default_rng(2))
    assert features.shape == (3, 1, 40, 98) and features.dtype == np.float32 and same_labels is labels
    evaluation = augment.speech_commands_transform(train=False)
    expected = asnumpy(augment.log_mel_spectrogram(augment.pcm16_to_float(clips)))
    np.testing.assert_array_equal(asnumpy(evaluation((clips, labels))[0])[:, 0], expected)
    assert not np.allclose(asnumpy(features)[:, 0], expected)


def test_spec_augment_masks_whole_bands_and_frames(device, xp):
    """Every changed entry lies in a masked band (all frames) or a masked frame block (all bands),
    spans are consecutive and no wider than allowed, channels share the masks; with value 0."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((32, 2, 10, 30)).astype(np.float32) + 5  # no zeros: every mask is visible
    out = asnumpy(augment.spec_augment(xp.asarray(x), freq_masks=1, freq_width=3, time_masks=2, time_width=4,
                                       rng=np.random.default_rng(8)))
    assert out.shape == x.shape and out.dtype == np.float32
    masked = out == 0
    assert (out[~masked] == x[~masked]).all()
    np.testing.assert_array_equal(masked[:, 0], masked[:, 1])
    widths = []
    for m in masked[:, 0]:
        bands = m.all(axis=1)  # a band masked over every frame
        frames = m.all(axis=0)
        np.testing.assert_array_equal(m, bands[:, None] | frames[None, :])
        assert bands.sum() <= 3 and frames.sum() <= 8
        if bands.any():
            where = np.flatnonzero(bands)
            assert where[-1] - where[0] + 1 == len(where)  # one band mask: consecutive
        widths.append(bands.sum())
    assert 0 < np.mean(widths) < 3  # widths vary over [0, 3]


def test_spec_augment_without_masks_is_identity_and_rejects_bad_settings(device, xp):
    x = xp.asarray(np.random.default_rng(0).standard_normal((4, 6, 9)).astype(np.float32))
    np.testing.assert_array_equal(asnumpy(augment.spec_augment(x, 0, 5, 0, 5)), asnumpy(x))
    np.testing.assert_array_equal(asnumpy(augment.spec_augment(x, 3, 0, 3, 0)), asnumpy(x))
    full = asnumpy(augment.spec_augment(x, freq_masks=1, freq_width=6, time_masks=0, value=-1.0,
                                        rng=np.random.default_rng(1)))
    assert set(np.unique(full[full != asnumpy(x)])) <= {-1.0}
    a = augment.spec_augment(x, rng=np.random.default_rng(3))
    b = augment.spec_augment(asnumpy(x), rng=np.random.default_rng(3))
    np.testing.assert_array_equal(asnumpy(a), b)  # same draws on every device
    with pytest.raises(ValueError, match=r"spec_augment: expected spectrograms"):
        augment.spec_augment(x[0])
    with pytest.raises(ValueError, match="spec_augment: time_width must be an integer >= 0"):
        augment.spec_augment(x, time_width=-1)
