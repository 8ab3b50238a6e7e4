"""The audio frontend against float64 references written with explicit loops and a DFT matrix."""
import math

import numpy as np
import pytest

from minifb.backend import asnumpy
from minifb.data import audio


def reference_filterbank(n_mels, n_fft, rate, f_min, f_max, scale, norm):
    """Triangles built one weight at a time from the mel formulas."""
    def to_mel(f):
        if scale == "htk":
            return 2595 * math.log10(1 + f / 700)
        return 3 * f / 200 if f < 1000 else 15 + 27 * math.log(f / 1000) / math.log(6.4)

    def to_hz(m):
        if scale == "htk":
            return 700 * (10 ** (m / 2595) - 1)
        return 200 * m / 3 if m < 15 else 1000 * 6.4 ** ((m - 15) / 27)

    low, high = to_mel(f_min), to_mel(f_max)
    edges = [to_hz(low + (high - low) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    weights = np.zeros((n_mels, n_fft // 2 + 1))
    for m in range(n_mels):
        left, center, right = edges[m:m + 3]
        for k in range(n_fft // 2 + 1):
            f = k * rate / n_fft
            if left < f <= center:
                weights[m, k] = (f - left) / (center - left)
            elif center < f < right:
                weights[m, k] = (right - f) / (right - center)
        if norm == "slaney":
            weights[m] *= 2 / (right - left)
    return weights


def reference_log_mel(x, n_fft, win, hop, n_mels, scale="htk", norm=None, rate=16000, floor=1e-6):
    """One frame at a time: periodic Hann, zero-padding, a DFT matrix, the filterbank, the log."""
    window = np.array([math.sin(math.pi * n / win) ** 2 for n in range(win)])  # = 0.5 - 0.5 cos(2 pi n / win)
    dft = np.exp(-2j * np.pi * np.outer(np.arange(n_fft // 2 + 1), np.arange(n_fft)) / n_fft)
    filters = reference_filterbank(n_mels, n_fft, rate, 0.0, rate / 2, scale, norm)
    out = np.zeros((len(x), n_mels, 1 + (x.shape[1] - win) // hop))
    for b in range(len(x)):
        for t in range(out.shape[2]):
            padded = np.zeros(n_fft)
            padded[:win] = x[b, t * hop:t * hop + win] * window
            power = np.abs(dft @ padded) ** 2
            out[b, :, t] = np.log(np.maximum(filters @ power, floor))
    return out


@pytest.mark.parametrize("scale, norm", [("htk", None), ("slaney", "slaney")])
def test_log_mel_matches_reference(device, xp, scale, norm):
    x = np.random.default_rng(0).normal(scale=0.1, size=(2, 2000))
    expected = reference_log_mel(x, 512, 480, 160, 40, scale, norm)
    got = audio.log_mel_spectrogram(xp.asarray(x), scale=scale, norm=norm)
    assert got.shape == (2, 40, 10) and got.dtype == np.float64
    np.testing.assert_allclose(asnumpy(got), expected, rtol=1e-10, atol=1e-10)
    got32 = audio.log_mel_spectrogram(xp.asarray(x, dtype=np.float32), scale=scale, norm=norm)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(asnumpy(got32), expected, rtol=1e-4, atol=1e-3)


def test_other_sizes_and_floor(device, xp):
    x = np.zeros((1, 1000))
    x[0, 500:] = np.random.default_rng(1).normal(size=500)
    expected = reference_log_mel(x, 256, 200, 80, 20, floor=1e-3)
    got = audio.log_mel_spectrogram(xp.asarray(x), n_fft=256, win_length=200, hop_length=80, n_mels=20, floor=1e-3)
    np.testing.assert_allclose(asnumpy(got), expected, rtol=1e-10, atol=1e-10)
    assert np.all(asnumpy(got)[..., 0] == np.log(1e-3))  # the silent first frame sits on the floor


def test_frame_counts_for_one_second(device, xp):
    x = xp.zeros((3, 16000), dtype=np.float32)
    assert audio.log_mel_spectrogram(x).shape == (3, 40, 98)
    assert audio.log_mel_spectrogram(x, center=True).shape == (3, 40, 101)


def test_mfcc_is_the_orthonormal_dct_of_log_mel(device, xp):
    x = xp.asarray(np.random.default_rng(2).normal(size=(2, 3000)))
    log_mel = asnumpy(audio.log_mel_spectrogram(x))
    n = log_mel.shape[1]
    expected = np.zeros((2, 13, log_mel.shape[2]))
    for k in range(13):
        scale = math.sqrt((1 if k == 0 else 2) / n)
        for i in range(n):
            expected[:, k] += scale * math.cos(math.pi * k * (i + 0.5) / n) * log_mel[:, i]
    np.testing.assert_allclose(asnumpy(audio.mfcc(x)), expected, rtol=1e-10, atol=1e-10)
    square = audio.dct_matrix(16, 16, np, np.float64)
    np.testing.assert_allclose(square @ square.T, np.eye(16), atol=1e-12)


def test_mel_scales():
    assert audio.hz_to_mel(1000.0, "slaney") == pytest.approx(15.0)
    assert audio.hz_to_mel(6400.0, "slaney") == pytest.approx(42.0)
    assert audio.hz_to_mel(700.0, "htk") == pytest.approx(2595 * math.log10(2))
    f = np.linspace(0, 8000, 17)
    for scale in ("htk", "slaney"):
        np.testing.assert_allclose(audio.mel_to_hz(audio.hz_to_mel(f, scale), scale), f, atol=1e-9)


def test_unnormalized_filters_sum_to_one_between_first_and_last_centre():
    filters = audio.mel_filterbank(40, 512, 16000, xp=np, dtype=np.float64)
    centres = audio.mel_to_hz(np.linspace(0, audio.hz_to_mel(8000.0), 42))[1:-1]
    bins = np.arange(257) * 16000 / 512
    inside = (bins >= centres[0]) & (bins <= centres[-1])
    np.testing.assert_allclose(filters.sum(axis=0)[inside], 1.0, atol=1e-12)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"log_mel_spectrogram: expected float waveforms \(B, T\), got int16"):
        audio.log_mel_spectrogram(np.zeros((2, 16000), np.int16))
    with pytest.raises(ValueError, match="frame: signal of 100 samples is shorter than one frame of 480"):
        audio.log_mel_spectrogram(np.zeros((1, 100)))
    with pytest.raises(ValueError, match="unknown norm 'area'"):
        audio.mel_filterbank(norm="area")
    with pytest.raises(ValueError, match="unknown scale 'bark'"):
        audio.hz_to_mel(100.0, "bark")


def test_pcm16_to_float():
    x = np.array([-32768, 0, 16384, 32767], dtype=np.int16)
    got = audio.pcm16_to_float(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [-1.0, 0.0, 0.5, 32767 / 32768])


def test_against_librosa():
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(3).normal(scale=0.1, size=16000)
    for htk, norm in ((True, None), (False, "slaney")):
        filters = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, htk=htk, norm=norm)
        ours = audio.mel_filterbank(40, 512, 16000, scale="htk" if htk else "slaney", norm=norm, dtype=np.float64)
        np.testing.assert_allclose(ours, filters, rtol=1e-5, atol=1e-8)
    power = np.abs(librosa.stft(x, n_fft=512, hop_length=160, win_length=480, window="hann", center=False)) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=16000, n_mels=40, htk=True, norm=None)
    np.testing.assert_allclose(audio.log_mel_spectrogram(x[None])[0], np.log(np.maximum(mel, 1e-6)), rtol=1e-6, atol=1e-6)


def test_against_torchaudio():
    torchaudio = pytest.importorskip("torchaudio")
    import torch
    x = np.random.default_rng(4).normal(scale=0.1, size=(2, 16000))
    transform = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=512, win_length=480, hop_length=160,
                                                     n_mels=40, center=False, power=2.0, mel_scale="htk")
    expected = torch.log(torch.clamp(transform(torch.from_numpy(x)), min=1e-6)).numpy()
    np.testing.assert_allclose(audio.log_mel_spectrogram(x), expected, rtol=1e-6, atol=1e-6)
