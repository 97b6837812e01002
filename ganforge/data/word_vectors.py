"""Pretrained word vectors for a text encoder: the text formats GloVe and word2vec publish.

- GloVe (``glove.6B.50d.txt``): one word a line, then its numbers, separated by spaces.
- word2vec text (``-binary 0``, fastText ``.vec``): the same, after a first line ``<count> <dim>``.
- either may be gzipped (``.gz``).

Only the words asked for are kept (files hold hundreds of thousands); words match case-insensitively,
the first line of a word wins (the files list frequent spellings first).
"""
from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np

from ..errors import DataError

log = logging.getLogger("ganforge.data")


def read_word_vectors(path: str | Path, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Vectors (len(words), dim) float32 for ``words`` from the file at ``path``, and a bool mask of the
    words the file has (the others are zero)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such word-vector file")
    wanted = {w.lower(): i for i, w in enumerate(words)}
    found: dict[int, np.ndarray] = {}
    dim = None
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, start=1):
                parts = line.rstrip("\n").rstrip().split(" ")
                if n == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    dim = int(parts[1])          # word2vec's header
                    continue
                if len(parts) < 2 or not parts[0]:
                    continue
                if dim is None:
                    dim = len(parts) - 1
                if len(parts) - 1 != dim:        # GloVe 840B has a few "words" with spaces: the numbers are last
                    if len(parts) - 1 < dim:
                        raise DataError(f"{path} line {n}: {len(parts) - 1} numbers, expected {dim}")
                    parts = [" ".join(parts[:-dim]), *parts[-dim:]]
                i = wanted.get(parts[0].lower())
                if i is None or i in found:
                    continue
                try:
                    found[i] = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    raise DataError(f"{path} line {n}: not a word followed by {dim} numbers") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if dim is None:
        raise DataError(f"{path}: no word vectors in the file")
    vectors = np.zeros((len(words), dim), np.float32)
    known = np.zeros(len(words), bool)
    for i, v in found.items():
        vectors[i], known[i] = v, True
    if not known.any():
        raise DataError(f"{path}: none of the {len(words)} caption words has a vector in this file")
    missing = [w for w, k in zip(words, known) if not k]
    if missing:
        log.warning("%s: no vector for %d of %d caption words (%s%s); they are learnt from scratch", path,
                    len(missing), len(words), ", ".join(missing[:10]), " ..." if len(missing) > 10 else "")
    return vectors, known
