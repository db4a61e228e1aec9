"""Stage split: find every image, check it decodes, and write a stratified, seeded split.

Every file under the data folder is either in a split or in `skipped.csv` with its reason; each
split row carries the md5 of the image's bytes, so an image edited in place reruns what reads it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.core.progress import Progress
from emotion_pipeline.core.tables import table, write_json, write_table
from emotion_pipeline.data.folders import class_folders, find_images
from emotion_pipeline.data.images import ImageError, load_image
from emotion_pipeline.data.splitting import (
    SPLIT_COLUMNS,
    SPLITS,
    SplitError,
    class_counts,
    content_hash,
    stratified_split,
)

CHECK_SIZE = 8  # decoding at a tiny size proves the file is readable without keeping pixels


def warn_unused_classes(data_dir: Path, files: Counter[str], used: set[str]) -> None:
    """Name the class folders left out for want of a readable image: an empty folder is not a class."""
    names = [folder.name for folder in class_folders(data_dir) if folder.name not in used]
    unused = [
        f"{name} ({files[name]} file(s), none readable)" if files[name] else f"{name} (empty)"
        for name in names
    ]
    if unused:
        print(f"split: ignoring class folders without a usable image: {', '.join(unused)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    params = stage_params(args.params)

    data_dir = Path(args.data_dir)
    try:
        candidates, skipped = find_images(data_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    usable: list[tuple[str, str]] = []
    digests: dict[str, str] = {}
    progress = Progress("split: checked", len(candidates), "files")
    for candidate in candidates:
        try:
            load_image(candidate.path, CHECK_SIZE)
            path = candidate.path.as_posix()
            digests[path] = content_hash(candidate.path)
            usable.append((path, candidate.label))
        except (ImageError, OSError) as error:
            skipped.append((candidate.path, str(error)))
        progress.advance()
    warn_unused_classes(data_dir, Counter(c.label for c in candidates), {label for _, label in usable})

    try:
        split = stratified_split(
            usable, params["data"]["test_fraction"], params["data"]["val_fraction"], params["seed"]
        )
    except SplitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    out = Path(args.out_dir)
    for name in SPLITS:
        rows = [(path, label, digests[path]) for path, label in split[name]]
        write_table(out / f"{name}.csv", table(rows, SPLIT_COLUMNS))
    write_table(out / "skipped.csv", table(sorted((p.as_posix(), r) for p, r in skipped), ("path", "reason")))
    counts = class_counts(split)
    write_json(out / "counts.json", counts)
    for name in SPLITS:
        print(f"split: {name:5s} {sum(counts[name].values()):6d} images {counts[name]}")
    print(f"split: skipped {len(skipped)} files (see {out / 'skipped.csv'})")
    return 0


if __name__ == "__main__":
    exit_with(main())
