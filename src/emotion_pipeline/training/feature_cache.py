"""The feature cache's file format: one `.npz` per split, read and written only here.

An image is stored as K augmented `views` where it is trained on and as it is (`plain`) where it is
scored. A stage that needs both for a split may find them in two caches (`merged`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotion_pipeline.core.tables import replacing


@dataclass(frozen=True)
class SplitFeatures:
    """One split's cached features: labels always; views and plain features where computed."""

    labels: np.ndarray  # (n,) class names
    views: np.ndarray | None = None  # (n, K, *feature_shape): K augmented views of each image
    plain: np.ndarray | None = None  # (n, *feature_shape): each image as it is

    def merged(self, other: SplitFeatures) -> SplitFeatures:
        """These features completed by `other`'s (the same images, in the same order)."""
        if not np.array_equal(self.labels, other.labels):
            raise ValueError("feature caches of one split disagree on its images")
        return SplitFeatures(
            self.labels,
            self.views if self.views is not None else other.views,
            self.plain if self.plain is not None else other.plain,
        )


def cache_file(directory: str | Path, split: str) -> Path:
    return Path(directory) / f"{split}.npz"


def save_features(directory: str | Path, split: str, features: SplitFeatures) -> None:
    arrays = {"labels": np.asarray(features.labels, dtype=str)}
    arrays.update({k: v for k, v in (("views", features.views), ("plain", features.plain)) if v is not None})
    with replacing(cache_file(directory, split)) as tmp:
        np.savez(tmp, **arrays)


def load_features(directory: str | Path, split: str) -> SplitFeatures:
    with np.load(cache_file(directory, split)) as data:
        return SplitFeatures(data["labels"], data.get("views"), data.get("plain"))


def load_merged(directories: Sequence[str | Path], split: str) -> SplitFeatures:
    """A split's features from every cache that holds the split, each completing the others."""
    held = [load_features(d, split) for d in directories if cache_file(d, split).is_file()]
    if not held:
        raise FileNotFoundError(
            f"no feature cache holds the {split} split: {', '.join(map(str, directories))}"
        )
    merged = held[0]
    for other in held[1:]:
        merged = merged.merged(other)
    return merged
