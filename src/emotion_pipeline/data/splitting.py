"""A stratified, seeded split that works for small classes and gives the same files every time.

Each split file lists path, label and the md5 of the file's bytes: an image edited in place under
the same name changes the split files, so DVC reruns every stage that reads its pixels.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotion_pipeline.core.tables import read_table

SPLITS = ("train", "val", "test")
SPLIT_COLUMNS = ("path", "label", "md5")
MIN_PER_CLASS = 7  # fewer cannot keep every split within one image of its share (one each at least)


class SplitError(ValueError):
    """The data cannot be split as asked; the message names the class and its counts."""


def split_counts(n: int, test_fraction: float, val_fraction: float) -> dict[str, int]:
    """Images of one class per split: test first, then validation from the rest, at least one each."""
    n_test = max(1, round(n * test_fraction))
    n_val = max(1, round((n - n_test) * val_fraction))
    return {"train": n - n_test - n_val, "val": n_val, "test": n_test}


def stratified_split(
    items: Sequence[tuple[str, str]], test_fraction: float, val_fraction: float, seed: int
) -> dict[str, list[tuple[str, str]]]:
    """Split (path, label) pairs per class with the same proportions; output sorted by path."""
    by_label: dict[str, list[str]] = {}
    for path, label in sorted(items):
        by_label.setdefault(label, []).append(path)
    counts = {label: len(paths) for label, paths in by_label.items()}
    if len(by_label) < 2:
        raise SplitError(f"need at least 2 classes to classify, found {len(by_label)}: {counts}")
    small = {label: n for label, n in counts.items() if n < MIN_PER_CLASS}
    if small:
        raise SplitError(
            f"class {', '.join(small)} has too few images to stratify ({small}; at least "
            f"{MIN_PER_CLASS} per class are needed); all counts: {counts}"
        )
    rng = np.random.default_rng(seed)
    result: dict[str, list[tuple[str, str]]] = {name: [] for name in SPLITS}
    for label, paths in by_label.items():
        order = rng.permutation(len(paths))
        sizes = split_counts(len(paths), test_fraction, val_fraction)
        start = 0
        for name in ("test", "val", "train"):
            result[name] += [(paths[i], label) for i in order[start : start + sizes[name]]]
            start += sizes[name]
    return {name: sorted(rows) for name, rows in result.items()}


def content_hash(path: str | Path) -> str:
    """The md5 of a file's bytes, as DVC computes it."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_split(path: str | Path) -> tuple[list[str], list[str]]:
    """The paths and labels of one split file."""
    rows = read_table(path)
    return rows["path"].tolist(), rows["label"].tolist()


def read_sources(path: str | Path) -> list[str]:
    """The original image of each row of a split file: the faces stage's lists name it under `source`
    (their paths are face crops); the split stage's paths are the originals."""
    rows = read_table(path)
    return rows["source" if "source" in rows else "path"].tolist()


def class_counts(split: dict[str, list[tuple[str, str]]]) -> dict[str, dict[str, int]]:
    """Images per class per split, for the counts JSON and the distribution plot."""
    return {name: dict(sorted(Counter(label for _, label in rows).items())) for name, rows in split.items()}
