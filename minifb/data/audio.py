"""The audio frontend from first principles, on NumPy or CuPy (the array module of the input).

waveform (B, T) -> frames (B, F, win_length) -> periodic Hann window -> zero-pad to n_fft and
|rFFT|^2 (B, F, n_fft//2 + 1) -> mel filterbank (B, F, n_mels) -> log with a floor ->
(B, n_mels, F), optionally followed by an orthonormal DCT-II for MFCCs.

Framing: no centering and no padding, so a frame starts every hop_length samples while a whole
window fits: F = 1 + (T - win_length) // hop_length, which is 98 frames for one second at
16 kHz with the defaults (30 ms window, 10 ms hop), as in the reference Speech Commands
frontend. ``center=True`` instead pads n_fft // 2 zeros at both ends (101 frames).
Defaults: 16 kHz, n_fft 512, window 480, hop 160, 40 mel bands from 0 Hz to sample_rate / 2.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import checks
from ..backend import get_array_module


def pcm16_to_float(waveforms, dtype=np.float32):
    """int16 PCM samples scaled to floats in [-1, 1): x / 32768."""
    checks.array("pcm16_to_float", "waveforms", waveforms, kinds="iu", what="of int16 PCM samples")
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"pcm16_to_float: dtype must be a floating type, got {np.dtype(dtype)}")
    return waveforms.astype(dtype) / 32768


def frame(waveforms, frame_length: int, hop_length: int):
    """(B, T) -> (B, 1 + (T - frame_length) // hop_length, frame_length): overlapping frames."""
    checks.array("frame", "waveforms", waveforms, 2, what="waveforms (B, T)")
    checks.integer("frame", "frame_length", frame_length, 1)
    checks.integer("frame", "hop_length", hop_length, 1)
    xp = get_array_module(waveforms)
    length = waveforms.shape[-1]
    if length < frame_length:
        raise ValueError(f"frame: signal of {length} samples is shorter than one frame of {frame_length}")
    n_frames = 1 + (length - frame_length) // hop_length
    starts = hop_length * xp.arange(n_frames)
    return waveforms[:, starts[:, None] + xp.arange(frame_length)[None, :]]


def hann_window(length: int, xp=np, dtype=np.float32):
    """Periodic Hann window w[n] = 0.5 - 0.5 cos(2 pi n / length), n = 0..length-1 (the form
    whose shifted copies at hop length/2 sum to a constant, as used for spectral analysis)."""
    n = xp.arange(length, dtype=np.float64)
    return (0.5 - 0.5 * xp.cos(2 * math.pi * n / length)).astype(dtype)


def power_spectrum(frames, n_fft: int):
    """|rfft(frames * hann, n=n_fft)|^2 along the last axis: (..., L) -> (..., n_fft // 2 + 1).
    Frames shorter than n_fft are zero-padded at the end."""
    xp = get_array_module(frames)
    windowed = frames * hann_window(frames.shape[-1], xp, frames.dtype)
    spectrum = xp.fft.rfft(windowed, n=n_fft, axis=-1)
    return (spectrum.real ** 2 + spectrum.imag ** 2).astype(frames.dtype)


def hz_to_mel(hz, scale: str = "htk"):
    """HTK: 2595 log10(1 + f / 700) (O'Shaughnessy 1987). Slaney (Auditory Toolbox, 1998):
    linear below 1 kHz at 3 mels per 200 Hz, logarithmic above with 27 mels per factor 6.4."""
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    if scale == "slaney":
        log_step = math.log(6.4) / 27.0
        return np.where(hz < 1000.0, hz * 3.0 / 200.0,
                        15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step)
    raise ValueError(f"hz_to_mel: unknown scale {scale!r}; expected 'htk' or 'slaney'")


def mel_to_hz(mel, scale: str = "htk"):
    """The inverse of hz_to_mel."""
    mel = np.asarray(mel, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    if scale == "slaney":
        log_step = math.log(6.4) / 27.0
        return np.where(mel < 15.0, mel * 200.0 / 3.0, 1000.0 * np.exp(log_step * (mel - 15.0)))
    raise ValueError(f"mel_to_hz: unknown scale {scale!r}; expected 'htk' or 'slaney'")


def mel_filterbank(n_mels: int = 40, n_fft: int = 512, sample_rate: int = 16000, f_min: float = 0.0,
                   f_max: float | None = None, scale: str = "htk", norm: str | None = None,
                   xp=np, dtype=np.float32):
    """Triangular mel filters, (n_mels, n_fft // 2 + 1).

    n_mels + 2 edges are spaced evenly on the mel scale from f_min to f_max; filter m rises
    linearly from edge m to edge m+1 and falls to edge m+2, evaluated at the rFFT bin
    frequencies k * sample_rate / n_fft. norm="slaney" scales each filter by
    2 / (edge m+2 - edge m) in Hz so that every filter has the same area.
    """
    checks.integer("mel_filterbank", "n_mels", n_mels, 1)
    checks.integer("mel_filterbank", "n_fft", n_fft, 1)
    checks.number("mel_filterbank", "sample_rate", sample_rate, 0, low_open=True)
    checks.number("mel_filterbank", "f_min", f_min)
    if f_max is not None:
        checks.number("mel_filterbank", "f_max", f_max)
    checks.choice("mel_filterbank", "scale", scale, ("htk", "slaney"))
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"mel_filterbank: need 0 <= f_min < f_max <= sample_rate / 2, got {f_min}, {f_max}, "
                         f"{sample_rate}")
    if norm not in (None, "slaney"):
        raise ValueError(f"mel_filterbank: unknown norm {norm!r}; expected None or 'slaney'")
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min, scale), hz_to_mel(f_max, scale), n_mels + 2), scale)
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (center - lower)
    falling = (upper - bins) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= 2.0 / (upper - lower)
    return xp.asarray(weights.astype(dtype))


@functools.lru_cache(maxsize=8)
def _cached_filterbank(n_mels, n_fft, sample_rate, f_min, f_max, scale, norm, xp, dtype):
    """The filterbank of ``log_mel_spectrogram``, built once per setting and array module (read only)."""
    return mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max, scale, norm, xp, dtype)


def dct_matrix(n_out: int, n_in: int, xp=np, dtype=np.float32):
    """Orthonormal DCT-II, (n_out, n_in): D[k, n] = s_k cos(pi k (2n + 1) / (2 n_in)),
    s_0 = sqrt(1 / n_in), s_k = sqrt(2 / n_in) (Ahmed, Natarajan and Rao, 1974)."""
    checks.integer("dct_matrix", "n_out", n_out, 1)
    checks.integer("dct_matrix", "n_in", n_in, 1)
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    matrix = np.sqrt(2.0 / n_in) * np.cos(np.pi * k * (2 * n + 1) / (2 * n_in))
    matrix[0] /= np.sqrt(2.0)
    return xp.asarray(matrix.astype(dtype))


def log_mel_spectrogram(waveforms, sample_rate: int = 16000, n_fft: int = 512, win_length: int = 480,
                        hop_length: int = 160, n_mels: int = 40, f_min: float = 0.0,
                        f_max: float | None = None, scale: str = "htk", norm: str | None = None,
                        floor: float = 1e-6, center: bool = False):
    """log(max(mel power, floor)) of float waveforms (B, T) -> (B, n_mels, frames), same dtype."""
    checks.array("log_mel_spectrogram", "waveforms", waveforms)
    if waveforms.ndim != 2 or waveforms.dtype.kind != "f":
        raise ValueError(f"log_mel_spectrogram: expected float waveforms (B, T), got {waveforms.dtype} "
                         f"{waveforms.shape} (scale int16 PCM with pcm16_to_float)")
    sizes = (("n_fft", n_fft), ("win_length", win_length), ("hop_length", hop_length), ("n_mels", n_mels))
    for label, value in sizes:
        checks.integer("log_mel_spectrogram", label, value, 1)
    checks.number("log_mel_spectrogram", "sample_rate", sample_rate, 0, low_open=True)
    checks.number("log_mel_spectrogram", "floor", floor, 0, low_open=True)  # log(floor) must be a number
    checks.flag("log_mel_spectrogram", "center", center)
    checks.choice("log_mel_spectrogram", "scale", scale, ("htk", "slaney"))
    if norm not in (None, "slaney"):
        raise ValueError(f"log_mel_spectrogram: unknown norm {norm!r}; expected None or 'slaney'")
    xp = get_array_module(waveforms)
    if win_length > n_fft:
        raise ValueError(f"log_mel_spectrogram: win_length {win_length} exceeds n_fft {n_fft}")
    if center:
        waveforms = xp.pad(waveforms, ((0, 0), (n_fft // 2, n_fft // 2)))
    power = power_spectrum(frame(waveforms, win_length, hop_length), n_fft)
    # The filters depend only on the settings: built once, not on the host for every batch.
    filters = _cached_filterbank(n_mels, n_fft, sample_rate, f_min, f_max, scale, norm, xp,
                                 np.dtype(waveforms.dtype))
    batch, frames, bins = power.shape
    mel = (power.reshape(batch * frames, bins) @ filters.T).reshape(batch, frames, n_mels)  # one 2-D GEMM
    return xp.ascontiguousarray(xp.log(xp.maximum(mel, floor)).transpose(0, 2, 1))


def mfcc(waveforms, n_mfcc: int = 13, **log_mel_options):
    """Mel-frequency cepstral coefficients, (B, n_mfcc, frames): the orthonormal DCT-II of the
    log-mel spectrogram along the mel axis (Davis and Mermelstein, 1980)."""
    checks.integer("mfcc", "n_mfcc", n_mfcc, 1)
    checks.array("mfcc", "waveforms", waveforms, 2, "f", "float waveforms (B, T)")
    log_mel = log_mel_spectrogram(waveforms, **log_mel_options)
    xp = get_array_module(log_mel)
    return dct_matrix(n_mfcc, log_mel.shape[1], xp, log_mel.dtype) @ log_mel
