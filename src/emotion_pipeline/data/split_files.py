"""The split stage's files: every file under the data folder is either in a split or in `skipped.csv`
with its reason, and each split row carries the md5 of the image's bytes, so an image edited in place
reruns what reads it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from emotion_pipeline.core.progress import Progress
from emotion_pipeline.core.tables import table, write_json, write_table
from emotion_pipeline.data.folders import class_folders, find_images
from emotion_pipeline.data.images import ImageError, load_image
from emotion_pipeline.data.splitting import SPLIT_COLUMNS, SPLITS, class_counts, content_hash

CHECK_SIZE = 8  # decoding at a tiny size proves the file is readable without keeping pixels


@dataclass(frozen=True)
class Survey:
    """A data folder's files: the readable images (path, label) with their md5, the files skipped
    with their reason, and the class folders left out for want of a readable image."""

    usable: list[tuple[str, str]]
    digests: dict[str, str]
    skipped: list[tuple[Path, str]]
    unused: list[str]


def survey(data_dir: Path) -> Survey:
    """Find every image under `data_dir` and check it decodes; FileNotFoundError if there is no folder."""
    candidates, skipped = find_images(data_dir)
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
    files, used = Counter(c.label for c in candidates), {label for _, label in usable}
    names = [folder.name for folder in class_folders(data_dir) if folder.name not in used]
    unused = [  # an empty folder is not a class
        f"{name} ({files[name]} file(s), none readable)" if files[name] else f"{name} (empty)"
        for name in names
    ]
    return Survey(usable, digests, skipped, unused)


def write_split(
    out: Path, split: dict[str, list[tuple[str, str]]], found: Survey
) -> dict[str, dict[str, int]]:
    """The split lists, skipped.csv and counts.json in `out`; the counts of each class in each split."""
    for name in SPLITS:
        rows = [(path, label, found.digests[path]) for path, label in split[name]]
        write_table(out / f"{name}.csv", table(rows, SPLIT_COLUMNS))
    skipped = sorted((p.as_posix(), r) for p, r in found.skipped)
    write_table(out / "skipped.csv", table(skipped, ("path", "reason")))
    counts = class_counts(split)
    write_json(out / "counts.json", counts)
    return counts
