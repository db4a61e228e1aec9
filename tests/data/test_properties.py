"""Properties over many generated inputs: the split's guarantees for any classes, fractions and seed,
and the loader's promise that no byte string raises anything but `ImageError`."""

from __future__ import annotations

import random

import numpy as np
import pytest
from corpus import GREEN, encode, noise
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from emotion_pipeline.data.images import ImageError, load_image
from emotion_pipeline.data.splitting import MIN_PER_CLASS, SPLITS, stratified_split

# The slow tier: hundreds of generated inputs each.
pytestmark = pytest.mark.slow

# Same examples on every run and machine, no example database: a red test is red everywhere.
DETERMINISTIC = settings(
    derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

labels = st.text(st.characters(categories=["L"]), min_size=1, max_size=6)
class_sizes = st.dictionaries(labels, st.integers(MIN_PER_CLASS, 300), min_size=2, max_size=5)


def targets(n: int, test_fraction: float, val_fraction: float) -> dict[str, float]:
    """The ideal, unrounded share of `n` images per split."""
    return {
        "test": n * test_fraction,
        "val": (n - n * test_fraction) * val_fraction,
        "train": n * (1 - test_fraction) * (1 - val_fraction),
    }


@settings(DETERMINISTIC, max_examples=120)
@given(
    sizes=class_sizes,
    test_fraction=st.floats(0.05, 0.3),
    val_fraction=st.floats(0.1, 0.3),
    seed=st.integers(0, 2**32 - 1),
    shuffle=st.randoms(use_true_random=False),
)
@example(sizes={"a": 7, "b": 8}, test_fraction=0.05, val_fraction=0.1, seed=0, shuffle=random.Random(0))
@example(sizes={"a": 7, "b": 9}, test_fraction=0.3, val_fraction=0.1, seed=1, shuffle=random.Random(1))
def test_split_is_a_stratified_partition_close_to_its_targets(
    sizes: dict[str, int], test_fraction: float, val_fraction: float, seed: int, shuffle: random.Random
) -> None:
    items = [(f"{label}/{index:03d}.png", label) for label, n in sizes.items() for index in range(n)]
    split = stratified_split(items, test_fraction, val_fraction, seed)

    rows = [row for name in SPLITS for row in split[name]]
    assert len(rows) == len(set(rows))  # disjoint, no duplicates
    assert set(rows) == set(items)  # nothing lost, nothing invented
    for label, n in sizes.items():
        for name, target in targets(n, test_fraction, val_fraction).items():
            count = sum(1 for _, row_label in split[name] if row_label == label)
            assert count >= 1, f"class {label!r} has no {name} image"
            assert abs(count - target) <= 1, f"{label!r} ({n}): {name} {count}, target {target:.3f}"

    shuffled = shuffle.sample(items, len(items))
    assert stratified_split(shuffled, test_fraction, val_fraction, seed) == split  # order-free, repeatable


def _valid_images() -> list[bytes]:
    """Small valid files of every accepted format, as seeds for corruption."""
    rgb, rgba = noise(0, (24, 16)), Image.new("RGBA", (16, 16), (*GREEN, 128))
    frames = {"append_images": [Image.new("RGB", (24, 16), GREEN)], "save_all": True}
    return [
        encode(rgb, "PNG"),
        encode(rgba, "PNG"),
        encode(rgb, "JPEG"),
        encode(rgb, "JPEG", progressive=True),
        encode(rgb, "GIF", **frames),
        encode(rgb, "WEBP"),
        encode(rgba, "WEBP", lossless=True),
        encode(rgb, "BMP"),
    ]


MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\xff\xd8\xff\xe0", b"GIF87a", b"GIF89a", b"BM", b"RIFF"]
random_bytes = st.binary(max_size=2048)
behind_magic = st.builds(
    lambda magic, tail: magic + tail if magic != b"RIFF" else magic + tail[:4] + b"WEBPVP8 " + tail[4:],
    st.sampled_from(MAGIC),
    random_bytes,
)


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    """A valid image with a few bytes overwritten and maybe cut short: it gets past the format checks."""
    data = bytearray(draw(st.sampled_from(_valid_images())))
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(1, len(data)))])


@settings(DETERMINISTIC, max_examples=300)
@given(data=st.one_of(random_bytes, behind_magic, corrupted()))
def test_any_bytes_give_an_image_or_an_image_error(data: bytes) -> None:
    try:
        array = load_image(data, 8)
    except ImageError as error:
        reason = str(error)
        assert reason and reason == " ".join(reason.split()), "the reason must be one line"
    else:
        assert array.shape == (8, 8, 3) and array.dtype == np.uint8
