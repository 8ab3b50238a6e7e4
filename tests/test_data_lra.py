"""Long Range Arena data: the generators (seeded, correct answers), the official layouts (fixtures
written here in those formats), the grayscale CIFAR sequences and the cached task loader."""
import pickle

import numpy as np
import pytest

from minifb.data import listops, lra, lra_image, lra_text, pathfinder

SMALL = dict(max_depth=4, max_args=4, min_length=8, max_length=64, chunk=256)


def evaluate(ids):
    """A ListOps tree's value from its token ids, by a stack, written independently of the generator."""
    ops = {"[MIN": min, "[MAX": max, "[MED": lambda a: int(np.median(a)), "[SM": lambda a: sum(a) % 10}
    stack = []
    for t in (int(t) for t in ids if t):
        word = listops.VOCABULARY[t]
        if word in ops:
            stack.append((ops[word], []))
        elif word == "]":
            op, args = stack.pop()
            if not stack:
                return op(args)
            stack[-1][1].append(op(args))
        else:
            stack[-1][1].append(int(word))
    raise AssertionError("unbalanced tree")


# ---- ListOps --------------------------------------------------------------------------------------

def test_listops_generator_is_seeded_and_its_answers_are_right():
    tokens, lengths, labels = listops.generate_listops(300, seed=3, **SMALL)
    again = listops.generate_listops(300, seed=3, **SMALL)
    other = listops.generate_listops(300, seed=4, **SMALL)
    assert all(np.array_equal(a, b) for a, b in zip((tokens, lengths, labels), again))
    assert not np.array_equal(tokens, other[0])
    assert tokens.shape == (300, 64) and tokens.dtype == np.uint8
    assert (lengths > 8).all() and (lengths < 64).all()
    assert np.array_equal(lengths, (tokens > 0).sum(axis=1))
    assert all(tokens[i, lengths[i]:].max(initial=0) == 0 for i in range(300))   # padding only at the end
    assert [evaluate(row) for row in tokens] == labels.tolist()
    assert len({row.tobytes() for row in tokens}) == 300                            # no duplicates
    assert set(np.unique(labels)) == set(range(10))
    assert tokens[:, 0].min() >= listops.OPERATOR and tokens[:, 0].max() < listops.END   # the root is an operator


def test_listops_generator_with_lra_settings():
    tokens, lengths, labels = listops.generate_listops(4, seed=0, chunk=64)
    assert tokens.shape == (4, 2000) and (lengths > 500).all() and (lengths < 2000).all()
    assert [evaluate(row) for row in tokens] == labels.tolist()


# MAX(2, MIN(4, 7), 0) = 4 and MED(3, SM(5, 8), 9, 1) = MED(3, 3, 9, 1) = 3, in the official layout.
OFFICIAL_LISTOPS = ("Source\tTarget\r\n"
                    "( ( ( ( [MAX 2 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )\t4\r\n"
                    "( ( ( ( ( [MED 3 ) ( ( ( [SM 5 ) 8 ) ] ) ) 9 ) 1 ) ] )\t3\r\n")


def ids(*words):
    return [listops.VOCABULARY.index(w) for w in words]


def test_listops_reader_parses_the_official_layout(tmp_path):
    path = tmp_path / "basic_test.tsv"
    path.write_bytes(OFFICIAL_LISTOPS.encode())
    tokens, labels = listops.read_listops_tsv(path, max_length=12)
    assert labels.tolist() == [4, 3]
    first = ids("[MAX", "2", "[MIN", "4", "7", "]", "0", "]")
    second = ids("[MED", "3", "[SM", "5", "8", "]", "9", "1", "]")
    assert tokens[0].tolist() == first + [0] * 4 and tokens[1].tolist() == second + [0] * 3
    assert [evaluate(row) for row in tokens] == [4, 3]
    cut, _ = listops.read_listops_tsv(path, max_length=5)           # longer sequences are cut, as LRA does
    assert cut[1].tolist() == second[:5]


def test_listops_writer_gives_the_official_layout(tmp_path):
    tokens, labels = listops.read_listops_tsv(_write(tmp_path / "in.tsv", OFFICIAL_LISTOPS), max_length=12)
    listops.write_listops_tsv(tmp_path / "out.tsv", tokens, labels)
    assert (tmp_path / "out.tsv").read_bytes() == OFFICIAL_LISTOPS.encode()


def test_listops_tsv_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(listops, "WRITE_CHUNK", 16)   # written in several pieces
    tokens, _, labels = listops.generate_listops(50, seed=1, **SMALL)
    listops.write_listops_tsv(tmp_path / "basic_train.tsv", tokens, labels)
    read_tokens, read_labels = listops.read_listops_tsv(tmp_path / "basic_train.tsv", max_length=64)
    assert np.array_equal(read_tokens, tokens) and np.array_equal(read_labels, labels)


def _write(path, text):
    path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize("text,match", [
    ("Input\tOutput\n( [MAX 1 ) ] )\t1\n", "header"),
    ("Source\tTarget\n( ( [MAX 1 ) 2 ) ] )\tnine\n", "integer target"),
    ("Source\tTarget\n( ( [MAX 1 ) 12 ) ] )\t2\n", "unknown ListOps token b'12'"),
    ("Source\tTarget\n( ( [MAXI 1 ) 2 ) ] )\t2\n", "unknown ListOps token b'\\[MAXI'"),
    ("Source\tTarget\n( ( [MAX 1 ) 2 ) ] )\t11\n", "targets must be digits"),
])
def test_listops_reader_rejects_bad_files(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        listops.read_listops_tsv(_write(tmp_path / "bad.tsv", text))


def test_listops_generator_rejects_bad_settings():
    with pytest.raises(ValueError, match="generate_listops"):
        listops.generate_listops(10, 0, max_args=1)


# ---- Image ----------------------------------------------------------------------------------------

def test_grayscale_is_tensorflows():
    pixels = np.array([[[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [10, 200, 30]]]],
                      np.uint8)
    # floor(255.5 * (0.2989 r + 0.5870 g + 0.1140 b) / 255), clipped to 255
    expected = [[int(255.5 * (0.2989 * r + 0.5870 * g + 0.1140 * b) / 255) for r, g, b in pixels[0, 0]]]
    expected[0][3] = 255
    assert lra_image.grayscale(pixels).tolist() == [expected]
    assert expected == [[76, 149, 29, 255, 0, 124]]
    with pytest.raises(ValueError, match="grayscale: expected uint8 images"):
        lra_image.grayscale(pixels.astype(np.float32))


def fake_cifar(root, per_batch=4):
    """A cifar-10-batches-py folder of random images in the official pickle layout."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, per_batch).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch))
    return folder


def test_lra_image_tokens_are_row_major_gray_levels(tmp_path):
    folder = fake_cifar(tmp_path)
    tokens, labels = lra_image.load_lra_image(tmp_path, "test")
    batch = pickle.loads((folder / "test_batch").read_bytes())
    rgb = batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    assert tokens.shape == (4, 1024) and tokens.dtype == np.uint8
    assert np.array_equal(tokens.reshape(4, 32, 32), lra_image.grayscale(rgb))
    assert labels.tolist() == batch[b"labels"]
    with pytest.raises(ValueError, match="split must be one of"):
        lra_image.load_lra_image(tmp_path, "validation")


def test_lra_image_split_is_lras():
    """train[:90%] and train[90%:] of the 50,000 training images, and the 10,000 test images."""
    train, val = (np.arange(50_000)[lra_image.split_slice(s, 50_000)] for s in ("train", "val"))
    assert len(train) == 45_000 and len(val) == 5_000 and train[-1] + 1 == val[0] == 45_000
    assert len(np.arange(10_000)[lra_image.split_slice("test", 10_000)]) == 10_000


# ---- Pathfinder -----------------------------------------------------------------------------------

def connected(image, a, b):
    """Whether pixels a and b are joined by ink (8-neighbours), by a flood fill."""
    ink = image > 0
    seen, todo = {tuple(a)}, [tuple(a)]
    while todo:
        y, x = todo.pop()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                p = (y + dy, x + dx)
                if 0 <= p[0] < 32 and 0 <= p[1] < 32 and ink[p] and p not in seen:
                    seen.add(p)
                    todo.append(p)
    return tuple(b) in seen


def test_pathfinder_is_seeded_and_balanced():
    images, labels = pathfinder.generate_pathfinder(400, seed=0, chunk=512)
    again = pathfinder.generate_pathfinder(400, seed=0, chunk=512)
    assert np.array_equal(images, again[0]) and np.array_equal(labels, again[1])
    assert not np.array_equal(images, pathfinder.generate_pathfinder(400, seed=1, chunk=512)[0])
    assert images.shape == (400, 32, 32) and images.dtype == np.uint8
    assert set(np.unique(images)) == {0, 255}
    assert 0.4 < labels.mean() < 0.6


def test_pathfinder_label_says_whether_the_markers_are_joined():
    """With solid curves (no gaps between dashes) a positive's markers are joined by ink and a
    negative's are not: the label is in the picture."""
    images, labels, markers = pathfinder.generate_pathfinder(60, seed=2, gap=0.0, chunk=256, markers=True)
    assert labels.min() == 0 and labels.max() == 1
    for image, label, (a, b) in zip(images, labels, markers):
        assert image[tuple(a)] == 255 and image[tuple(b)] == 255
        assert connected(image, a, b) == bool(label)


def test_pathfinder_rejects_bad_settings():
    with pytest.raises(ValueError, match="do not fit|may not fit"):
        pathfinder.generate_pathfinder(10, 0, length=20)
    with pytest.raises(ValueError, match="generate_pathfinder: need"):
        pathfinder.generate_pathfinder(0, 0)


# ---- Text and Retrieval ---------------------------------------------------------------------------

def as_ids(text, length):
    raw = list(text.encode("utf-8"))[:length]
    return [b + 1 for b in raw] + [0] * (length - len(raw))


def test_text_reader_parses_comma_and_tab_tables(tmp_path):
    review = 'Great film, "truly".\nSee it — twice'
    csv_text = 'Source,Target\n"Great film, ""truly"".\nSee it — twice",1\nbad,0\n'
    tokens, labels = lra_text.read_text_classification(_write(tmp_path / "imdb_train.tsv", csv_text), max_length=40)
    assert labels.tolist() == [1, 0]
    assert tokens[0].tolist() == as_ids(review, 40) and tokens[1].tolist() == as_ids("bad", 40)
    assert tokens.dtype == np.uint16 and tokens.max() <= 256
    tab_text = "Source\tTarget\nshort one\t0\n"
    tokens, labels = lra_text.read_text_classification(_write(tmp_path / "t.tsv", tab_text), max_length=5)
    assert tokens.tolist() == [as_ids("short", 5)] and labels.tolist() == [0]
    with pytest.raises(ValueError, match="header with the columns Source and Target"):
        lra_text.read_text_classification(_write(tmp_path / "x.tsv", "text,label\na,1\n"))
    with pytest.raises(ValueError, match="line 2: Target must be an integer"):
        lra_text.read_text_classification(_write(tmp_path / "y.tsv", "Source,Target\na,yes\n"))


def test_retrieval_reader_parses_aan_pairs(tmp_path):
    text = ("1.0\tW04-1\tP01-2\tA paper on parsing.\tAnother on tagging.\n"
            "0\tJ90-3\tC02-4\tShort\tAlso \"quoted\" here\r\n")
    first, second, labels = lra_text.read_retrieval_pairs(_write(tmp_path / "new_aan_pairs.train.tsv", text), 16)
    assert labels.tolist() == [1, 0]
    assert first.tolist() == [as_ids("A paper on parsing.", 16), as_ids("Short", 16)]
    assert second.tolist() == [as_ids("Another on tagging.", 16), as_ids('Also "quoted" here', 16)]
    with pytest.raises(ValueError, match="line 1: expected 5 tab-separated columns"):
        lra_text.read_retrieval_pairs(_write(tmp_path / "bad.tsv", "1\ta\tb\tonly one text\n"))
    with pytest.raises(ValueError, match="the label must be 0 or 1"):
        lra_text.read_retrieval_pairs(_write(tmp_path / "bad2.tsv", "2\ta\tb\tc\td\n"))


# ---- the task loader ------------------------------------------------------------------------------

def test_generated_listops_is_written_in_the_official_layout_and_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(lra, "LISTOPS_SIZES", (12, 3, 3))
    tokens, labels = lra.load_lra("listops", tmp_path, "train", seed=5)
    folder = tmp_path / "minifb-listops-s5"
    assert tokens.shape == (12, 2000) and labels.shape == (12,)
    assert [evaluate(row) for row in tokens] == labels.tolist()
    assert (folder / "basic_val.tsv").read_bytes().startswith(b"Source\tTarget\r\n")
    assert sorted(p.name for p in folder.iterdir()) == ["basic_test.tsv", "basic_train.tsv", "basic_val.tsv",
                                                         "tokens.npz"]
    monkeypatch.setattr(listops, "generate_listops", None)        # a second load reads the cache
    again, _ = lra.load_lra("listops", tmp_path, "train", seed=5)
    assert np.array_equal(again, tokens)
    test_tokens, _ = lra.load_lra("listops", tmp_path, "test", seed=5)
    assert len(test_tokens) == 3


def test_official_listops_files_are_preferred(tmp_path):
    folder = tmp_path / "lra_release" / "listops-1000"
    folder.mkdir(parents=True)
    for split in lra.SPLITS:
        _write(folder / f"basic_{split}.tsv", OFFICIAL_LISTOPS)
    tokens, labels = lra.load_lra("listops", tmp_path, "val")
    assert labels.tolist() == [4, 3] and tokens.shape == (2, 2000)
    assert not (tmp_path / "minifb-listops-s0").exists()


def test_generated_pathfinder_is_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(lra, "PATHFINDER_SIZES", (20, 4, 4))
    tokens, labels = lra.load_lra("pathfinder", tmp_path, "val", seed=1)
    assert tokens.shape == (4, 1024) and tokens.dtype == np.uint8 and labels.shape == (4,)
    images, all_labels = pathfinder.generate_pathfinder(28, seed=1)
    assert np.array_equal(tokens, images[20:24].reshape(4, -1)) and np.array_equal(labels, all_labels[20:24])
    assert (tmp_path / "minifb-pathfinder32-s1" / "pathfinder.npz").exists()


def test_load_lra_rejects_unknown_tasks(tmp_path):
    with pytest.raises(ValueError, match="load_lra: task must be one of"):
        lra.load_lra("path-x", tmp_path, "train")
