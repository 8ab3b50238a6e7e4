"""Readers of LRA's byte-level text tasks (Tay et al., 2021), for users who have the files.

Text (IMDB reviews, byte level, 2 classes): a table with a header naming the columns ``Source``
(the review) and ``Target`` (0 or 1), tab- or comma-separated (LRA's text pipeline reads its own
tables ``TASK_train.tsv``, ``TASK_val.tsv``, ``TASK_test.tsv`` with commas; a review with commas
is then quoted, CSV style). Reviews from another source can be written in that layout.

Retrieval (ACL Anthology Network pairs, LRA's ``new_aan_pairs.{train,eval,test}.tsv``): no
header, five tab-separated columns ``label id1 id2 text1 text2``, no quoting; the label is
written as a number (``1.0`` or ``0``): whether the two papers cite one another.

Bytes become ids ``byte + 1`` (0 is padding), as the ``ByteTextEncoder`` LRA uses does; a text is
cut to ``max_length`` bytes (LRA: 1,000 for Text in its base configuration, 4,000 per document for
Retrieval) and padded with 0.
"""
from __future__ import annotations

import csv
import io

import numpy as np

VOCABULARY_SIZE = 257  # 256 bytes + padding


def byte_tokens(texts, max_length: int) -> np.ndarray:
    """uint16 ids (N, max_length) of texts (str, as UTF-8, or bytes): byte + 1, cut and padded with 0."""
    tokens = np.zeros((len(texts), max_length), np.uint16)
    for row, text in enumerate(texts):
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        values = np.frombuffer(raw[:max_length], np.uint8)
        tokens[row, :len(values)] = values.astype(np.uint16) + 1
    return tokens


def read_text_classification(path, max_length: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(tokens uint16 (N, max_length), labels int64) from a Source/Target table (see the module docstring)."""
    with open(path, "r", encoding="utf-8", newline="") as f:
        text = f.read()
    header = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in header else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    if reader.fieldnames is None or not {"Source", "Target"} <= set(reader.fieldnames):
        raise ValueError(f"read_text_classification: {path} needs a header with the columns Source and "
                         f"Target, got {reader.fieldnames}")
    sources, labels = [], []
    for line, row in enumerate(reader, 2):
        try:
            labels.append(int(row["Target"]))
        except (TypeError, ValueError):
            raise ValueError(f"read_text_classification: {path} line {line}: Target must be an integer, "
                             f"got {row['Target']!r}") from None
        sources.append(row["Source"])
    return byte_tokens(sources, max_length), np.asarray(labels, np.int64)


def read_retrieval_pairs(path, max_length: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens of text1, tokens of text2, both uint16 (N, max_length), labels int64) from an AAN pairs
    file."""
    first, second, labels = [], [], []
    with open(path, "rb") as f:
        for line_number, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            fields = line.split(b"\t")
            if len(fields) != 5:
                raise ValueError(f"read_retrieval_pairs: {path} line {line_number}: expected 5 tab-separated "
                                 f"columns (label id1 id2 text1 text2), got {len(fields)}")
            try:
                label = float(fields[0])
            except ValueError:
                raise ValueError(f"read_retrieval_pairs: {path} line {line_number}: the label must be a "
                                 f"number, got {fields[0][:20]!r}") from None
            if label not in (0.0, 1.0):
                raise ValueError(f"read_retrieval_pairs: {path} line {line_number}: the label must be 0 or "
                                 f"1, got {label}")
            labels.append(int(label))
            first.append(fields[3])
            second.append(fields[4])
    return byte_tokens(first, max_length), byte_tokens(second, max_length), np.asarray(labels, np.int64)
