"""Speech Commands (Warden, 2018, arXiv:1804.03209; CC BY 4.0): one-second 16 kHz spoken words.

Layouts read here, under one ``root`` folder:
- ``speech_commands_v0.01/`` or ``speech_commands_v0.02/`` (the full archives, extracted flat):
  one folder per word of ``<speaker>_nohash_<n>.wav`` clips, ``_background_noise_/`` and the
  official split lists ``validation_list.txt`` and ``testing_list.txt``; training is every clip
  in neither list.
- ``speech_commands_test_set_v0.02/`` (the official 12-class test set): folders ``_silence_``,
  ``_unknown_`` (files ``<word>_<speaker>_nohash_<n>.wav.wav``) and the ten command words.

Tasks: "12" is the ten commands plus ``_silence_`` and ``_unknown_`` (labels in ``LABELS_12``:
silence 0, unknown 1, then the commands); "all" is every word of the version (35 for v0.02,
30 for v0.01). Clips are zero-padded or trimmed at the end to 16,000 samples and returned as
int16 (``minifb.data.audio.pcm16_to_float`` scales them to [-1, 1)).
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .download import download_and_extract
from .wav import fit_length, read_wav

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
NOISE_FOLDER = "_background_noise_"
SILENCE, UNKNOWN = "_silence_", "_unknown_"
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
LABELS_12 = (SILENCE, UNKNOWN) + COMMANDS
WORDS = {
    "v0.01": ("bed", "bird", "cat", "dog", "down", "eight", "five", "four", "go", "happy", "house", "left",
              "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six", "stop", "three",
              "tree", "two", "up", "wow", "yes", "zero"),
}
WORDS["v0.02"] = tuple(sorted(WORDS["v0.01"] + ("backward", "forward", "follow", "learn", "visual")))
SPLITS = ("train", "validation", "test")
TEST_SET = "test_set_v0.02"


class Archive(NamedTuple):
    url: str
    sha256: str
    size: int | None  # bytes, where published


ARCHIVES = {
    "v0.01": Archive("http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
                     "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d", None),
    "v0.02": Archive("http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
                     "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58", 2_428_923_189),
    TEST_SET: Archive("http://download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz",
                      "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df", 112_563_277),
}


def dataset_folder(root, version: str) -> Path:
    """The folder of one archive ('v0.01', 'v0.02' or 'test_set_v0.02') under ``root``."""
    if version not in ARCHIVES:
        raise ValueError(f"speech_commands: unknown version {version!r}; expected one of {tuple(ARCHIVES)}")
    return Path(root) / f"speech_commands_{version}"


def download_speech_commands(root, version: str = "v0.02") -> Path:
    """Fetch and extract one official archive under ``root`` (sha256-checked); a no-op when present."""
    folder = dataset_folder(root, version)
    archive = ARCHIVES[version]
    return download_and_extract(archive.url, Path(root) / Path(archive.url).name, folder,
                                checksum=archive.sha256, size=archive.size)


def _require(folder: Path, version: str, what: str) -> None:
    if not folder.is_dir():
        raise FileNotFoundError(
            f"speech_commands: {what} not found at {folder}; pass download=True, or download "
            f"{ARCHIVES[version].url} (sha256 {ARCHIVES[version].sha256}) by hand and extract it into "
            f"{folder}")


def read_clips(paths) -> np.ndarray:
    """int16 (N, 16000) of WAV files, each padded or trimmed at the end to one second."""
    clips = np.zeros((len(paths), CLIP_SAMPLES), dtype=np.int16)
    for i, path in enumerate(paths):
        samples, rate = read_wav(path)
        if rate != SAMPLE_RATE:
            raise ValueError(f"speech_commands: {path} is sampled at {rate} Hz; expected {SAMPLE_RATE}")
        clips[i] = fit_length(samples, CLIP_SAMPLES)
    return clips


def official_split(root, version: str = "v0.02", split: str = "train") -> list[str]:
    """Sorted clip names ('word/file.wav') of an official split, from validation_list.txt and
    testing_list.txt; training is every word clip in neither list."""
    if split not in SPLITS:
        raise ValueError(f"official_split: unknown split {split!r}; expected one of {SPLITS}")
    folder = dataset_folder(root, version)
    _require(folder, version, f"Speech Commands {version}")
    listed = {s: set((folder / f"{s}_list.txt").read_text().split()) for s in ("validation", "testing")}
    if split != "train":
        return sorted(listed["validation" if split == "validation" else "testing"])
    held_out = listed["validation"] | listed["testing"]
    clips = (f"{p.parent.name}/{p.name}" for p in folder.glob("*/*.wav") if p.parent.name != NOISE_FOLDER)
    return sorted(c for c in clips if c not in held_out)


def load_background_noise(root, version: str = "v0.02") -> dict[str, np.ndarray]:
    """The long noise recordings of ``_background_noise_`` as int16 arrays, by file name."""
    folder = dataset_folder(root, version) / NOISE_FOLDER
    _require(folder, version, "the background noise folder")
    return {p.name: read_wav(p)[0] for p in sorted(folder.glob("*.wav"))}


def sample_silence(noise: dict[str, np.ndarray], count: int, rng: np.random.Generator):
    """``count`` one-second 'silence' clips: random crops of random noise files at a random
    volume uniform in [0, 1). Returns (int16 (count, 16000), names 'noise.wav@start*volume')."""
    files = sorted(noise)
    clips = np.zeros((count, CLIP_SAMPLES), dtype=np.int16)
    names = []
    for i in range(count):
        name = files[rng.integers(len(files))]
        start = int(rng.integers(len(noise[name]) - CLIP_SAMPLES + 1))
        volume = rng.uniform()
        clips[i] = np.round(noise[name][start:start + CLIP_SAMPLES] * volume).astype(np.int16)
        names.append(f"{SILENCE}/{name}@{start}*{volume:.3f}")
    return clips, names


def labels_of(task: str, version: str = "v0.02") -> tuple[str, ...]:
    """Class names of a task, in label order: LABELS_12 for "12", the version's words for "all"."""
    if task == "12":
        return LABELS_12
    if task == "all":
        return WORDS[version]
    raise ValueError(f"speech_commands: unknown task {task!r}; expected '12' or 'all'")


def load_speech_commands(root, version: str = "v0.02", split: str = "train", task: str = "12",
                         download: bool = False, seed: int = 0, silence_fraction: float = 0.1,
                         unknown_fraction: float = 0.1):
    """(waveforms int16 (N, 16000), labels int64 (N,), clip names) of an official split.

    Task "12" keeps every clip of the ten commands, adds ceil(silence_fraction * that count)
    silence clips cut from the noise files, and ceil(unknown_fraction * that count) clips drawn
    without replacement from the other words (the recipe of the dataset's reference training
    script); the draw depends only on ``seed`` and ``split``. Task "all" keeps every word clip.
    """
    if version not in WORDS:
        raise ValueError(f"load_speech_commands: version {version!r} has no word folders; expected one of "
                         f"{tuple(WORDS)} (use load_speech_commands_test_set for {TEST_SET!r})")
    classes = labels_of(task, version)
    if download:
        download_speech_commands(root, version)
    folder = dataset_folder(root, version)
    names = official_split(root, version, split)
    if task == "all":
        labels = [classes.index(n.split("/")[0]) for n in names]
        return read_clips([folder / n for n in names]), np.asarray(labels, dtype=np.int64), names
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    commands = [n for n in names if n.split("/")[0] in COMMANDS]
    others = [n for n in names if n.split("/")[0] not in COMMANDS]
    n_unknown = min(math.ceil(len(commands) * unknown_fraction), len(others))
    unknown = [others[i] for i in np.sort(rng.choice(len(others), n_unknown, replace=False))]
    silence, silence_names = sample_silence(load_background_noise(root, version),
                                            math.ceil(len(commands) * silence_fraction), rng)
    waveforms = np.concatenate([read_clips([folder / n for n in commands + unknown]), silence])
    labels = ([classes.index(n.split("/")[0]) for n in commands] + [classes.index(UNKNOWN)] * len(unknown)
              + [classes.index(SILENCE)] * len(silence_names))
    clip_names = commands + [f"{UNKNOWN}/{n}" for n in unknown] + silence_names
    return waveforms, np.asarray(labels, dtype=np.int64), clip_names


def load_speech_commands_test_set(root, download: bool = False):
    """(waveforms int16 (4890, 16000), labels int64 in LABELS_12 order, names '<label>/<file>')
    of the official 12-class test set (v0.02)."""
    if download:
        download_speech_commands(root, TEST_SET)
    folder = dataset_folder(root, TEST_SET)
    _require(folder, TEST_SET, "the Speech Commands test set")
    names = sorted(f"{label}/{p.name}" for label in LABELS_12 for p in (folder / label).glob("*.wav"))
    labels = [LABELS_12.index(n.split("/")[0]) for n in names]
    return read_clips([folder / n for n in names]), np.asarray(labels, dtype=np.int64), names


def speaker_key(name: str) -> str:
    """The speaker of a test-set clip '<label>/<file>': the file name up to '_nohash_', without the
    leading '<word>_' for _unknown_ clips; for _silence_ clips (no speaker) the file stem."""
    label, file = name.split("/")
    if label == SILENCE:
        return file.split(".")[0]
    key = file.split("_nohash_")[0]
    return key.split("_", 1)[1] if label == UNKNOWN else key


def is_held_out(key: str, percent: int = 20) -> bool:
    """Speaker-disjoint hold-out rule: int(sha1(key), 16) % 100 < percent."""
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 100 < percent


def load_speech_commands_test_set_split(root, part: str = "train", download: bool = False):
    """A speaker-disjoint split of the official test-set clips for training and evaluating on
    real audio when the full archive is not at hand: 'train' (3,941 clips) or 'test' (949);
    returns (waveforms, labels, names) like load_speech_commands_test_set."""
    if part not in ("train", "test"):
        raise ValueError(f"load_speech_commands_test_set_split: part must be 'train' or 'test', got {part!r}")
    waveforms, labels, names = load_speech_commands_test_set(root, download=download)
    keep = np.array([is_held_out(speaker_key(n)) == (part == "test") for n in names], dtype=bool)
    return waveforms[keep], labels[keep], [n for n, k in zip(names, keep) if k]
