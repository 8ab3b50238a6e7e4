"""16-bit PCM mono WAV files with the standard library's ``wave`` module.

Speech Commands is stored as 16 kHz, 16-bit, mono PCM; anything else is refused with the file
named, rather than silently reinterpreted.
"""
from __future__ import annotations

import wave

import numpy as np

from ..atomic_file import atomic_write


def read_wav(path) -> tuple[np.ndarray, int]:
    """(int16 samples of shape (T,), sample rate) of a 16-bit PCM mono WAV file."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width = w.getnchannels(), w.getsampwidth()
            rate, frames = w.getframerate(), w.getnframes()
            if channels != 1 or width != 2:
                raise ValueError(f"read_wav: {path} has {channels} channel(s) of {8 * width}-bit samples; "
                                 f"expected 16-bit PCM mono")
            raw = w.readframes(frames)
    except (wave.Error, EOFError) as e:
        raise ValueError(f"read_wav: {path} is not a readable PCM WAV file ({e}); "
                         "expected 16-bit PCM mono") from e
    return np.frombuffer(raw, dtype="<i2").astype(np.int16), rate


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad at the end or trim the end of a 1-D clip to exactly ``length`` samples."""
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


def write_wav(path, samples, sample_rate: int = 16000) -> None:
    """Write int16 ``samples`` (T,) as a 16-bit PCM mono WAV (temporary name, then renamed)."""
    samples = np.asarray(samples)
    if samples.ndim != 1 or samples.dtype != np.int16:
        raise ValueError(f"write_wav: expected int16 samples of shape (T,), got {samples.dtype} "
                         f"{samples.shape}")
    with atomic_write(path, "write_wav") as f, wave.open(f, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(samples.astype("<i2").tobytes())
