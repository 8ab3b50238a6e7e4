"""Data augmentation and normalisation on the device of the data, vectorized over the batch.

The few random numbers each batch needs (crop offsets, flips, shifts, noise choices, mask spans)
are drawn on the host from a NumPy Generator (minifb.backend.generator() unless one is given) and moved
to the data's device; the pixels and samples are only touched there, with one gather each. So
a seed gives the same augmentation on 'cpu' and 'cuda'.
"""
from __future__ import annotations

import numpy as np

from .. import checks
from ..backend import generator, get_array_module, is_array
from .audio import log_mel_spectrogram, pcm16_to_float
from .cifar10 import MEAN, STD


def _rng(rng):
    return generator() if rng is None else rng


def random_crop_flip(images, padding: int = 4, flip: bool = True, rng: np.random.Generator | None = None):
    """Random crops of channels-last images (N, H, W, C) from a copy zero-padded by ``padding``
    pixels on every side, each mirrored left-right with probability 1/2 when ``flip``
    (the CIFAR augmentation of He et al. 2016). Same shape and dtype as ``images``."""
    checks.array("random_crop_flip", "images", images, 4, what="channels-last images (N, H, W, C)")
    checks.integer("random_crop_flip", "padding", padding, 0)
    checks.flag("random_crop_flip", "flip", flip)
    checks.generator("random_crop_flip", rng)
    xp = get_array_module(images)
    rng = _rng(rng)
    n, height, width, _ = images.shape
    padded = xp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    top = xp.asarray(rng.integers(0, 2 * padding + 1, size=n))
    left = xp.asarray(rng.integers(0, 2 * padding + 1, size=n))
    mirrored = xp.asarray(rng.random(n) < 0.5 if flip else np.zeros(n, dtype=bool))
    rows = top[:, None] + xp.arange(height)[None, :]
    columns = xp.arange(width)[None, :]
    columns = left[:, None] + xp.where(mirrored[:, None], width - 1 - columns, columns)
    return padded[xp.arange(n)[:, None, None], rows[:, :, None], columns[:, None, :]]


def _per_channel(who, name, values, channels):
    """Per-channel statistics as a float64 array of ``channels`` finite numbers."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: {name} must be {channels} numbers, got {values!r}") from None
    if array.shape != (channels,) or not np.isfinite(array).all():
        raise ValueError(f"{who}: {name} must be {channels} finite numbers (one per channel of the images), "
                         f"got {values!r}")
    return array


def normalize(images, mean=MEAN, std=STD, dtype=np.float32):
    """uint8 channels-last images (N, H, W, C) -> float NCHW (x / 255 - mean) / std per channel."""
    checks.array("normalize", "images", images, kinds="biuf",
                 what="channels-last images (N, H, W, C) of numbers")
    channels = len(mean) if hasattr(mean, "__len__") else 3
    if images.ndim != 4 or images.shape[-1] != channels:
        raise ValueError(f"normalize: expected channels-last images (N, H, W, {channels}), got shape "
                         f"{images.shape}")
    mean = _per_channel("normalize", "mean", mean, images.shape[-1])
    std = _per_channel("normalize", "std", std, images.shape[-1])
    if not (std > 0).all():
        raise ValueError(f"normalize: std must be > 0 for every channel, got {tuple(std.tolist())}")
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"normalize: dtype must be a floating type, got {np.dtype(dtype)}")
    xp = get_array_module(images)
    scale = xp.asarray(1.0 / (255.0 * std), dtype=dtype)
    shift = xp.asarray(mean / std, dtype=dtype)
    return xp.ascontiguousarray((images.astype(dtype) * scale - shift).transpose(0, 3, 1, 2))


def random_time_shift(waveforms, max_shift: int = 1600, rng: np.random.Generator | None = None):
    """Shift each clip of (B, T) by an integer uniform in [-max_shift, max_shift] samples
    (1600 = 100 ms at 16 kHz), filling with zeros; what moves past either end is dropped."""
    checks.array("random_time_shift", "waveforms", waveforms, 2, what="waveforms (B, T)")
    checks.integer("random_time_shift", "max_shift", max_shift, 0)
    checks.generator("random_time_shift", rng)
    xp = get_array_module(waveforms)
    batch, length = waveforms.shape
    shifts = xp.asarray(_rng(rng).integers(-max_shift, max_shift + 1, size=batch))
    source = xp.arange(length)[None, :] - shifts[:, None]
    inside = (source >= 0) & (source < length)
    gathered = waveforms[xp.arange(batch)[:, None], xp.clip(source, 0, length - 1)]
    return xp.where(inside, gathered, xp.zeros((), dtype=waveforms.dtype))


def stack_noise(recordings, dtype=np.float32):
    """Noise recordings (int16 1-D arrays of any lengths) -> (float (K, L_max) zero-padded in
    [-1, 1), int64 lengths (K,)): the form mix_background_noise takes."""
    recordings = list(recordings)
    if not recordings or not all(is_array(r) and r.ndim == 1 and r.size for r in recordings):
        raise ValueError(f"stack_noise: expected one or more non-empty 1-d arrays, got "
                         f"{[getattr(r, 'shape', type(r).__name__) for r in recordings]}")
    lengths = np.array([len(r) for r in recordings], dtype=np.int64)
    bank = np.zeros((len(recordings), lengths.max()), dtype=dtype)
    for row, recording in zip(bank, recordings):
        row[:len(recording)] = recording / 32768
    return bank, lengths


def mix_background_noise(waveforms, noise, lengths, probability: float = 0.8, max_volume: float = 0.1,
                         rng: np.random.Generator | None = None):
    """Add, with ``probability`` per clip, a random one-clip-long crop of a random noise recording
    scaled by a volume uniform in [0, max_volume), then clip to [-1, 1] (the Speech Commands
    reference recipe). ``noise``, ``lengths``: from stack_noise, on the device of waveforms."""
    checks.array("mix_background_noise", "waveforms", waveforms, 2, "f", "float waveforms (B, T)")
    checks.array("mix_background_noise", "noise", noise, 2, "f", "a float noise bank (K, L) from stack_noise")
    checks.number("mix_background_noise", "probability", probability, 0, 1)
    checks.number("mix_background_noise", "max_volume", max_volume, 0)
    checks.generator("mix_background_noise", rng)
    xp = get_array_module(waveforms)
    batch, length = waveforms.shape
    lengths = np.asarray(lengths)
    if lengths.shape != (noise.shape[0],) or lengths.dtype.kind not in "iu":
        raise ValueError(f"mix_background_noise: lengths must be {noise.shape[0]} integers (one per noise "
                         f"recording), got {lengths.dtype} of shape {lengths.shape}")
    if lengths.min() < length:
        raise ValueError(f"mix_background_noise: noise recordings of {lengths.min()} samples are shorter "
                         f"than the clips ({length})")
    rng = _rng(rng)
    which = rng.integers(0, len(lengths), size=batch)
    starts = (rng.random(batch) * (lengths[which] - length + 1)).astype(np.int64)
    volume = rng.uniform(0, max_volume, size=batch) * (rng.random(batch) < probability)
    crops = noise[xp.asarray(which)[:, None], xp.asarray(starts)[:, None] + xp.arange(length)[None, :]]
    mixed = waveforms + xp.asarray(volume, dtype=waveforms.dtype)[:, None] * crops
    return xp.clip(mixed, -1, 1)


def _mask_spans(size: int, count: int, max_width: int, batch: int, xp, rng):
    """(batch, size) bool: the union of ``count`` spans per row, each of a width uniform in
    [0, max_width] (at most ``size``) starting uniformly where it fits."""
    widths = rng.integers(0, min(max_width, size) + 1, size=(batch, count))
    starts = (rng.random((batch, count)) * (size - widths + 1)).astype(np.int64)
    widths, starts = xp.asarray(widths), xp.asarray(starts)
    position = xp.arange(size)[None, None, :]
    inside = (position >= starts[:, :, None]) & (position < (starts + widths)[:, :, None])
    return inside.any(axis=1)


def spec_augment(features, freq_masks: int = 2, freq_width: int = 7, time_masks: int = 2,
                 time_width: int = 12, value: float = 0.0, rng: np.random.Generator | None = None):
    """SpecAugment's frequency and time masking (Park et al., 2019; no time warping) of spectrograms
    (B, ..., n_mels, frames): in each example, ``freq_masks`` bands of f consecutive mel channels,
    f uniform in [0, freq_width], and ``time_masks`` blocks of t consecutive frames, t uniform in
    [0, time_width], are set to ``value`` (0 is the mean of standardised features). Masks may
    overlap; the same masks apply to every channel of an example. Same shape and dtype."""
    xp = get_array_module(features)
    if features.ndim < 3:
        raise ValueError(f"spec_augment: expected spectrograms (B, ..., n_mels, frames), "
                         f"got shape {features.shape}")
    for name, number in (("freq_masks", freq_masks), ("freq_width", freq_width), ("time_masks", time_masks),
                         ("time_width", time_width)):
        if not isinstance(number, (int, np.integer)) or number < 0:
            raise ValueError(f"spec_augment: {name} must be an integer >= 0, got {number!r}")
    rng = _rng(rng)
    batch, bands, frames = features.shape[0], features.shape[-2], features.shape[-1]
    masked_bands = _mask_spans(bands, freq_masks, freq_width, batch, xp, rng)
    masked_frames = _mask_spans(frames, time_masks, time_width, batch, xp, rng)
    masked = masked_bands[:, :, None] | masked_frames[:, None, :]  # (B, n_mels, frames)
    masked = masked.reshape((batch,) + (1,) * (features.ndim - 3) + masked.shape[1:])
    return xp.where(masked, xp.asarray(value, dtype=features.dtype), features)


def cifar10_train_transform(batch, rng: np.random.Generator):
    """DataLoader transform of the CIFAR recipe: (uint8 NHWC images, labels) -> (float32 NCHW
    normalised random crops (padding 4) with random flips, labels)."""
    images, labels = batch
    return normalize(random_crop_flip(images, padding=4, rng=rng)), labels


def cifar10_eval_transform(batch, rng: np.random.Generator | None = None):
    """DataLoader transform for evaluation: normalisation only."""
    images, labels = batch
    return normalize(images), labels


def speech_commands_transform(noise=None, lengths=None, train: bool = True, **log_mel_options):
    """A DataLoader transform (int16 clips (B, T), labels) -> (float32 log-mel (B, 1, n_mels,
    frames), labels): one input channel for the convolutional trunks. With ``train``, each clip
    is first shifted by up to 100 ms and mixed with background noise when ``noise`` (from
    stack_noise, on the device of the batches) is given."""
    checks.flag("speech_commands_transform", "train", train)
    if (noise is None) != (lengths is None):
        raise ValueError("speech_commands_transform: give noise and lengths together (both from stack_noise)")

    def transform(batch, rng: np.random.Generator | None = None):
        clips, labels = batch
        waveforms = pcm16_to_float(clips)
        if train:
            waveforms = random_time_shift(waveforms, rng=rng)
            if noise is not None:
                waveforms = mix_background_noise(waveforms, noise, lengths, rng=rng)
        return log_mel_spectrogram(waveforms, **log_mel_options)[:, None], labels

    return transform
