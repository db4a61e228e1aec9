"""The split is stratified, seeded and deterministic."""

from __future__ import annotations

import pytest

from emotion_pipeline.data.splitting import SplitError, class_counts, split_counts, stratified_split


def _items(counts: dict[str, int]) -> list[tuple[str, str]]:
    return [(f"{label}/{i:03d}.jpg", label) for label, n in counts.items() for i in range(n)]


def test_split_is_stratified() -> None:
    counts = {"angry": 84, "happy": 99, "sad": 78}
    split = stratified_split(_items(counts), 0.1, 0.2, seed=42)
    got = class_counts(split)
    for label, n in counts.items():
        assert {name: got[name][label] for name in got} == split_counts(n, 0.1, 0.2)
    assert got["test"] == {"angry": 8, "happy": 10, "sad": 8}
    paths = [p for rows in split.values() for p, _ in rows]
    assert sorted(paths) == sorted(p for p, _ in _items(counts)) and len(set(paths)) == len(paths)


def test_split_is_deterministic_and_seeded() -> None:
    items = _items({"angry": 30, "happy": 30, "sad": 30})
    first = stratified_split(items, 0.1, 0.2, seed=1)
    again = stratified_split(list(reversed(items)), 0.1, 0.2, seed=1)
    other = stratified_split(items, 0.1, 0.2, seed=2)
    assert first["test"] == again["test"]
    assert first["test"] != other["test"]


@pytest.mark.parametrize(
    ("counts", "message"),
    [({"angry": 10}, "at least 2 classes"), ({"angry": 10, "sad": 2}, r"class sad .*'sad': 2")],
)
def test_split_refuses_what_it_cannot_stratify(counts: dict[str, int], message: str) -> None:
    with pytest.raises(SplitError, match=message):
        stratified_split(_items(counts), 0.1, 0.2, seed=0)
