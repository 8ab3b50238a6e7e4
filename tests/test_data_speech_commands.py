"""Speech Commands: a tiny tree in the official layouts written here, WAV checks, and the real clips."""
import collections
import tarfile
import wave

import numpy as np
import pytest

from conftest import SHARED_DATA
from minifb.data import speech_commands as sc
from minifb.data.wav import read_wav, write_wav

OTHER_WORDS = ("cat", "dog", "bird")


def clip(seed: int, length: int = 16000) -> np.ndarray:
    return np.random.default_rng(seed).integers(-3000, 3000, size=length).astype(np.int16)


@pytest.fixture
def tree(tmp_path):
    """speech_commands_v0.02 with 3 speakers of 'yes' and 'no', 2 of each other word, one noise
    file and split lists: speaker s1 is in validation, s2 in testing, the rest train."""
    folder = tmp_path / "speech_commands_v0.02"
    lengths = {"s0": 12000, "s1": 16000, "s2": 17000, "s3": 16000}  # padded, exact, trimmed
    for word in ("yes", "no") + OTHER_WORDS:
        (folder / word).mkdir(parents=True)
        for speaker in ("s0", "s1", "s2", "s3") if word in ("yes", "no") else ("s0", "s3"):
            write_wav(folder / word / f"{speaker}_nohash_0.wav", clip(hash((word, speaker)) % 1000, lengths[speaker]))
    (folder / sc.NOISE_FOLDER).mkdir()
    write_wav(folder / sc.NOISE_FOLDER / "noise.wav", clip(7, 40000))
    (folder / "validation_list.txt").write_text("yes/s1_nohash_0.wav\nno/s1_nohash_0.wav\n")
    (folder / "testing_list.txt").write_text("yes/s2_nohash_0.wav\nno/s2_nohash_0.wav\n")
    return tmp_path


def test_official_splits_follow_the_lists(tree):
    assert sc.official_split(tree, "v0.02", "validation") == ["no/s1_nohash_0.wav", "yes/s1_nohash_0.wav"]
    train = sc.official_split(tree, "v0.02", "train")
    assert len(train) == 4 + 2 * len(OTHER_WORDS) and not any("s1_" in n or "s2_" in n for n in train)
    assert all(sc.NOISE_FOLDER not in n for n in train)


def test_clips_are_padded_or_trimmed_at_the_end(tree):
    folder = tree / "speech_commands_v0.02"
    waveforms, labels, names = sc.load_speech_commands(tree, split="test", task="all")
    assert waveforms.shape == (2, 16000) and waveforms.dtype == np.int16
    np.testing.assert_array_equal(waveforms[1], read_wav(folder / "yes/s2_nohash_0.wav")[0][:16000])
    waveforms, labels, names = sc.load_speech_commands(tree, split="train", task="all")
    short = names.index("yes/s0_nohash_0.wav")
    np.testing.assert_array_equal(waveforms[short, :12000], read_wav(folder / names[short])[0])
    assert not waveforms[short, 12000:].any()
    assert [sc.WORDS["v0.02"][i] for i in labels] == [n.split("/")[0] for n in names]


def test_twelve_class_task_adds_silence_and_unknown(tree):
    waveforms, labels, names = sc.load_speech_commands(tree, split="train", task="12", seed=3,
                                                       silence_fraction=0.5, unknown_fraction=0.5)
    counts = collections.Counter(sc.LABELS_12[i] for i in labels)
    assert counts == {"yes": 2, "no": 2, sc.UNKNOWN: 2, sc.SILENCE: 2}
    unknown = [n for n in names if n.startswith(sc.UNKNOWN)]
    assert all(n.split("/")[1] in OTHER_WORDS for n in unknown) and len(set(unknown)) == 2
    noise = read_wav(tree / "speech_commands_v0.02" / sc.NOISE_FOLDER / "noise.wav")[0].astype(np.float64)
    for row in np.flatnonzero(labels == sc.LABELS_12.index(sc.SILENCE)):
        start, volume = names[row].split("@")[1].split("*")
        expected = noise[int(start):int(start) + 16000] * float(volume)
        np.testing.assert_allclose(waveforms[row], expected, atol=0.5 + 0.001 * np.abs(noise).max())
    again = sc.load_speech_commands(tree, split="train", task="12", seed=3, silence_fraction=0.5, unknown_fraction=0.5)
    np.testing.assert_array_equal(again[0], waveforms)
    assert again[2] == names


def test_bad_arguments_are_named(tree):
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        sc.load_speech_commands(tree, split="dev")
    with pytest.raises(ValueError, match="unknown task '10'"):
        sc.load_speech_commands(tree, task="10")
    with pytest.raises(FileNotFoundError, match="speech_commands_v0.01.*download=True.*sha256"):
        sc.load_speech_commands(tree, version="v0.01")


def write_raw_wav(path, channels: int, width: int, frames: int = 100) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(16000)
        w.writeframes(b"\x01" * frames * channels * width)


@pytest.mark.parametrize("channels, width", [(1, 1), (2, 2), (1, 4)], ids=["8-bit", "stereo", "32-bit"])
def test_wav_other_than_16_bit_mono_is_refused_naming_the_file(tree, channels, width):
    bad = tree / "speech_commands_v0.02" / "yes" / "s0_nohash_0.wav"
    write_raw_wav(bad, channels, width)
    with pytest.raises(ValueError, match=f"{bad}.*{channels} channel.*{8 * width}-bit.*expected 16-bit PCM mono"):
        sc.load_speech_commands(tree, split="train", task="all")


def test_not_a_wav_file_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF but not really")
    with pytest.raises(ValueError, match="noise.wav is not a readable PCM WAV"):
        read_wav(bad)


def test_wav_round_trip(tmp_path):
    samples = clip(1, 1234)
    write_wav(tmp_path / "a.wav", samples, 8000)
    read, rate = read_wav(tmp_path / "a.wav")
    np.testing.assert_array_equal(read, samples)
    assert rate == 8000 and read.dtype == np.int16


def test_speaker_keys_of_the_test_set_layout():
    assert sc.speaker_key("yes/0a9f9af7_nohash_1.wav") == "0a9f9af7"
    assert sc.speaker_key("_unknown_/backward_0c540988_nohash_0.wav.wav") == "0c540988"
    assert sc.speaker_key("_silence_/1024.wav") == "1024"


@pytest.fixture(scope="session")
def real_speech_commands(tmp_path_factory):
    """The real test set, noise files and lists, extracted once (about 10 s of xz)."""
    archives = sorted((SHARED_DATA / "speech_commands").glob("*.tar.xz"))
    if len(archives) < 3:
        pytest.skip(f"real Speech Commands archives not found in {SHARED_DATA / 'speech_commands'}")
    root = tmp_path_factory.mktemp("speech_commands")
    for archive in archives:
        with tarfile.open(archive, "r|xz") as tar:  # streaming: one pass of decompression
            tar.extractall(root, filter="data")
    return root


REAL_COUNTS = {"_silence_": 408, "_unknown_": 408, "down": 406, "go": 402, "left": 412, "no": 405, "off": 402,
               "on": 396, "right": 396, "stop": 411, "up": 425, "yes": 419}


@pytest.mark.slow
def test_real_test_set_counts_and_speaker_split(real_speech_commands):
    waveforms, labels, names = sc.load_speech_commands_test_set(real_speech_commands)
    assert waveforms.shape == (4890, 16000)
    assert dict(collections.Counter(sc.LABELS_12[i] for i in labels)) == REAL_COUNTS
    train = sc.load_speech_commands_test_set_split(real_speech_commands, "train")
    test = sc.load_speech_commands_test_set_split(real_speech_commands, "test")
    assert (len(train[2]), len(test[2])) == (3941, 949)
    train_keys, test_keys = ({sc.speaker_key(n) for n in part[2]} for part in (train, test))
    assert (len(train_keys), len(test_keys)) == (521, 126) and not train_keys & test_keys
    assert collections.Counter(sc.LABELS_12[i] for i in test[1])["stop"] == 92


@pytest.mark.slow
def test_real_lists_and_noise(real_speech_commands):
    assert len(sc.official_split(real_speech_commands, "v0.02", "test")) == 11005
    assert len(sc.official_split(real_speech_commands, "v0.02", "validation")) == 9981
    noise = sc.load_background_noise(real_speech_commands)
    assert len(noise) == 6 and min(len(n) for n in noise.values()) >= 60 * 16000


@pytest.mark.slow
def test_shipped_sample_holds_real_test_set_clips(real_speech_commands):
    from minifb.data import load_speech_commands_sample
    waveforms, labels, names = load_speech_commands_sample()
    folder = sc.dataset_folder(real_speech_commands, sc.TEST_SET)
    np.testing.assert_array_equal(sc.read_clips([folder / n for n in names]), waveforms)


def test_test_set_split_is_speaker_disjoint_by_the_sha1_rule(tmp_path):
    import hashlib
    folder = tmp_path / "speech_commands_test_set_v0.02"
    speakers = [f"{i:08x}" for i in range(0, 40 * 7919, 7919)]
    files = {"yes": [f"{s}_nohash_0.wav" for s in speakers[:20]],
             "_unknown_": [f"cat_{s}_nohash_1.wav.wav" for s in speakers[10:40]],
             "_silence_": [f"{n}.wav" for n in range(15)]}
    for label, names in files.items():
        (folder / label).mkdir(parents=True)
        for name in names:
            write_wav(folder / label / name, clip(len(name), 100))
    train = sc.load_speech_commands_test_set_split(tmp_path, "train")
    test = sc.load_speech_commands_test_set_split(tmp_path, "test")
    assert sorted(train[2] + test[2]) == sc.load_speech_commands_test_set(tmp_path)[2]
    for names, held_out in ((train[2], False), (test[2], True)):
        for name in names:
            key = name.split("/")[1].split(".")[0].split("_nohash_")[0].removeprefix("cat_")
            assert (int(hashlib.sha1(key.encode()).hexdigest(), 16) % 100 < 20) == held_out
    assert len(test[2]) > 0 and test[0].shape == (len(test[2]), 16000)
    with pytest.raises(ValueError, match="part must be 'train' or 'test', got 'validation'"):
        sc.load_speech_commands_test_set_split(tmp_path, "validation")
