"""ListOps (Nangia & Bowman, 2018) as Long Range Arena sets it (Tay et al., 2021): a seeded
generator, the official TSV layout (written and read) and the tokeniser.

An expression is a tree: each node is a digit 0-9 or an operator applied to 2..``max_args``
arguments, MAX, MIN, MED (the median, rounded down) or SM (the sum modulo 10); the answer, one
of 10 classes, is the value of the root. LRA's generator draws every node below the maximum depth
as an operator with probability 1/4 (else a digit), the arity, operator and digits uniformly,
nesting depth up to 10, and keeps the trees whose length, counting digits, operators and closing
brackets, lies strictly between 500 and 2,000. The root of a kept tree is always an operator,
so drawing it as one from the start gives the same distribution with fewer rejected trees.

The generator here draws whole batches of trees at once, level by level with NumPy (minifb's
own code; its draws differ from the official Python-``random`` generator's, its distribution is
the same). Duplicates are dropped, as the official generator's set does.

TSV layout of the official release (``basic_train.tsv``, ``basic_val.tsv``, ``basic_test.tsv``):
a header ``Source<TAB>Target``, CRLF line ends, and each tree written as nested binary pairs,
(((op a1) a2) ... ]), for example ``( ( ( [MAX 2 ) 9 ) ] )`` for MAX(2, 9) = 9. The tokeniser
drops the parentheses, as LRA's fixed input pipeline does, and keeps the brackets, so a
sequence reads ``[MAX 2 9 ]`` with ids from ``VOCABULARY`` (0 is padding).
"""
from __future__ import annotations

import csv
import io

import numpy as np

from ..atomic_file import atomic_write

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
VOCABULARY = ("<pad>",) + tuple(str(d) for d in range(10)) + OPERATORS + ("]",)
DIGIT, OPERATOR, END = 1, 11, 15  # the first digit's id, the first operator's id, the closing bracket's id
VALUE_P = 0.25  # the probability that a node above the deepest level is an operator (LRA's VALUE_P)
SPLITS = ("train", "val", "test")


def generate_listops(count: int, seed: int, max_depth: int = 10, max_args: int = 10, min_length: int = 500,
                     max_length: int = 2000, chunk: int = 2048):
    """``count`` distinct trees: (tokens uint8 (count, max_length) padded with 0, lengths int64,
    labels int64). Deterministic for a given seed and settings; LRA's settings by default."""
    if count < 1 or max_depth < 1 or max_args < 2 or not 0 <= min_length < max_length - 1:
        raise ValueError(f"generate_listops: need count >= 1, max_depth >= 1, max_args >= 2 and "
                         f"0 <= min_length < max_length - 1, got {count}, {max_depth}, {max_args}, "
                         f"{min_length}, {max_length}")
    rng = np.random.default_rng(seed)
    rows, labels, seen = [], [], set()
    while len(rows) < count:
        tokens, lengths, values = _generate_chunk(rng, chunk, max_depth, max_args, min_length, max_length)
        for row, length, value in zip(tokens, lengths, values):
            key = row[:length].tobytes()
            if key not in seen and len(rows) < count:
                seen.add(key)
                rows.append(row)
                labels.append(value)
    tokens = np.stack(rows)
    return tokens, (tokens > 0).sum(axis=1).astype(np.int64), np.asarray(labels, np.int64)


def _generate_chunk(rng, trees, max_depth, max_args, min_length, max_length):
    """``trees`` trees drawn level by level; those of an accepted length, tokenised in preorder.

    Each level holds its nodes grouped by parent, in argument order: the tree, the parent's index
    in the level above, whether the node is an operator, its operator (0-3) or digit."""
    levels = []
    tree, parent = np.arange(trees), np.full(trees, -1)
    is_op = np.ones(trees, bool)
    depth = 1
    while len(tree):
        n = len(tree)
        if depth > 1:
            is_op = rng.random(n) < VALUE_P if depth < max_depth else np.zeros(n, bool)
        symbol = np.where(is_op, rng.integers(0, len(OPERATORS), n), rng.integers(0, 10, n))
        arity = np.where(is_op, rng.integers(2, max_args + 1, n), 0)
        levels.append(dict(tree=tree, parent=parent, is_op=is_op, symbol=symbol, arity=arity))
        tree, parent = np.repeat(tree, arity), np.repeat(np.arange(n), arity)
        depth += 1

    # Bottom-up: subtree sizes (a digit 1; an operator 2 + its arguments) and values.
    for level, below in zip(levels[::-1], [None] + levels[:0:-1]):
        level["size"] = np.where(level["is_op"], 2, 1).astype(np.int64)
        level["value"] = np.where(level["is_op"], 0, level["symbol"])
        if below is not None:
            arguments = np.bincount(below["parent"], weights=below["size"], minlength=len(level["tree"]))
            level["size"] += arguments.astype(np.int64)
            level["value"] = np.where(level["is_op"], _apply(level, below), level["value"])
    root = levels[0]
    keep = (root["size"] > min_length) & (root["size"] < max_length)
    # Top-down: preorder positions. A node sits after its parent's operator and its earlier siblings.
    root["position"] = np.zeros(trees, np.int64)
    for level, below in zip(levels, levels[1:]):
        sizes = below["size"]
        before = np.cumsum(sizes) - sizes                       # sizes of everything earlier in the level
        first_sibling = _group_starts(below["parent"])
        below["position"] = level["position"][below["parent"]] + 1 + before - before[first_sibling]
    tokens = np.zeros((trees, max_length), np.uint8)
    for level in levels:
        kept = keep[level["tree"]]   # the rejected trees may not even fit the array
        op, t, p = level["is_op"][kept], level["tree"][kept], level["position"][kept]
        tokens[t, p] = np.where(op, OPERATOR, DIGIT) + level["symbol"][kept]
        tokens[t[op], (p + level["size"][kept] - 1)[op]] = END
    return tokens[keep], root["size"][keep], root["value"][keep]


def _apply(level, below):
    """Each operator of ``level`` applied to its arguments in ``below`` (grouped by parent)."""
    n = len(level["tree"])
    values = below["value"]
    has_args = level["arity"] > 0
    counts = level["arity"][has_args]
    starts = np.cumsum(counts) - counts
    result = np.zeros(n, np.int64)
    if not len(starts):
        return result
    ordered = np.sort(below["parent"] * 10 + values) % 10       # digits sorted within each group
    median = (ordered[starts + (counts - 1) // 2] + ordered[starts + counts // 2]) // 2
    candidates = np.stack([np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts),
                           median, np.add.reduceat(values, starts) % 10])
    result[has_args] = candidates[level["symbol"][has_args], np.arange(len(starts))]
    return result


# ---- the official TSV layout --------------------------------------------------------------------

def to_sources(tokens) -> list[str]:
    """Tokenised trees (N, length), padded with 0, as the official release writes them.

    Each argument is followed by ')'; an operator with k arguments is preceded by k + 1 '(' and
    its ']' followed by ')', and by one more that closes the enclosing pair unless it is the root's.
    The arities come from the levels: a node's parent is the last operator before it one level up."""
    tokens = np.asarray(tokens)
    rows, places = np.nonzero(tokens)
    ids = tokens[rows, places].astype(np.int64)
    is_op, is_end = (ids >= OPERATOR) & (ids < END), ids == END
    level = np.cumsum(is_op.astype(np.int64) - is_end) - is_op   # open operators before each token
    starts_node = ~is_end
    index = np.arange(len(ids))
    parent = np.full(len(ids), -1)
    for depth in range(1, int(level.max(initial=0)) + 1):
        last_op = np.maximum.accumulate(np.where(is_op & (level == depth - 1), index, -1))
        here = starts_node & (level == depth)
        parent[here] = last_op[here]
    arity = np.bincount(parent[parent >= 0], minlength=len(ids))
    last_of_row = np.ones(len(ids), bool)
    last_of_row[:-1] = rows[1:] != rows[:-1]
    # Pieces: 10 digits, then every (operator, arity), then the root's ']' and any other ']'.
    max_arity = int(arity.max(initial=2))
    table = [f"{d} )" for d in range(10)]
    table += ["( " * (k + 1) + name for name in OPERATORS for k in range(max_arity + 1)]
    table += ["] )", "] ) )"]
    piece = np.where(is_op, 10 + (ids - OPERATOR) * (max_arity + 1) + arity, ids - DIGIT)
    piece = np.where(is_end, len(table) - 2 + ~last_of_row, piece)
    words = np.array(table, dtype=object)[piece]
    bounds = np.searchsorted(rows, np.arange(len(tokens) + 1))
    return [" ".join(words[a:b].tolist()) for a, b in zip(bounds[:-1], bounds[1:])]


def to_source(tokens) -> str:
    """One tokenised tree as the official release writes it (see ``to_sources``)."""
    return to_sources(np.asarray(tokens)[None])[0]


WRITE_CHUNK = 8192  # trees turned into text at a time: the per-token arrays of to_sources stay small


def write_listops_tsv(path, tokens, labels) -> None:
    """The official layout: header Source, Target; one tree (``to_source``) and its value a line; atomic."""
    with atomic_write(path, "write_listops_tsv") as f:
        for first in range(0, max(len(tokens), 1), WRITE_CHUNK):
            text = io.StringIO()
            writer = csv.writer(text, delimiter="\t")
            if first == 0:
                writer.writerow(["Source", "Target"])
            rows = slice(first, first + WRITE_CHUNK)
            writer.writerows(zip(to_sources(tokens[rows]), (int(label) for label in labels[rows])))
            f.write(text.getvalue().encode())


def read_listops_tsv(path, max_length: int = 2000):
    """(tokens uint8 (N, max_length), labels int64 (N,)) from a file of the official layout.

    Parentheses are dropped, sequences longer than ``max_length`` cut (as LRA's pipeline does),
    shorter ones padded with 0. Vectorised over the bytes of the whole file."""
    data = open(path, "rb").read()
    lines = data.replace(b"\r", b"").split(b"\n")
    if not lines or lines[0].split(b"\t") != [b"Source", b"Target"]:
        raise ValueError(f"read_listops_tsv: {path} does not start with the header 'Source<TAB>Target'")
    rows = [line for line in lines[1:] if line.strip()]
    try:
        sources, targets = zip(*(row.split(b"\t") for row in rows))
        labels = np.array([int(t) for t in targets], np.int64)
    except ValueError as e:
        raise ValueError(f"read_listops_tsv: {path}: every row must be 'Source<TAB>Target' with an integer "
                         f"target ({e})") from None
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"read_listops_tsv: {path}: targets must be digits 0-9, "
                         f"got {labels.min()}..{labels.max()}")
    return tokenize_sources(sources, max_length, str(path)), labels


def tokenize_sources(sources, max_length: int, where: str = "tokenize_sources") -> np.ndarray:
    """Token ids (N, max_length) of ListOps sources (bytes), parentheses dropped, cut and padded."""
    text = np.frombuffer(b" " + b"\n".join(sources) + b"\n", np.uint8)
    space = (text == ord(" ")) | (text == ord("\n"))
    starts = np.flatnonzero(~space[1:] & space[:-1]) + 1       # first byte of every token
    lengths = np.flatnonzero(space[1:] & ~space[:-1]) + 1 - starts  # the text ends in a line end
    row = np.cumsum(text == ord("\n"))[starts]
    first = text[starts]
    third = text[np.minimum(starts + 2, len(text) - 1)]
    ids = np.full(len(starts), -1, np.int64)
    digit = (first >= ord("0")) & (first <= ord("9"))
    ids[digit] = DIGIT + first[digit] - ord("0")
    ids[first == ord("]")] = END
    ids[(first == ord("(")) | (first == ord(")"))] = 0
    for k, name in enumerate(OPERATORS):
        ids[(first == ord("[")) & (third == ord(name[2]))] = OPERATOR + k
    known = np.array([len(VOCABULARY[i]) if i > 0 else 1 for i in range(len(VOCABULARY))])
    bad = (ids < 0) | (lengths != known[np.maximum(ids, 0)])
    if bad.any():
        i = starts[np.argmax(bad)]
        raise ValueError(f"{where}: unknown ListOps token {bytes(text[i:i + 8]).split()[0]!r} "
                         f"in line {row[np.argmax(bad)] + 1} of the data")
    kept = ids > 0
    ids, row = ids[kept], row[kept]
    tokens = np.zeros((len(sources), max_length), np.uint8)
    order = np.arange(len(ids)) - _group_starts(row)  # the token's place in its row
    fits = order < max_length
    tokens[row[fits], order[fits]] = ids[fits]
    return tokens


def _group_starts(keys):
    """For sorted ``keys``, the index of the first element equal to each one."""
    index = np.arange(len(keys))
    new = np.ones(len(keys), bool)
    new[1:] = keys[1:] != keys[:-1]
    return np.maximum.accumulate(np.where(new, index, 0))
