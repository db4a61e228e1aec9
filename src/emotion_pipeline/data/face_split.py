"""The faces stage's work on a whole split: each image's largest face as a square crop, or the whole
image where none is found (`faces.fallback: whole`), or nothing (`skip`: the image is listed in
skipped.csv, `no face found`).

Beside the lists (path, label, md5, and `source`: the original image) it writes the crops, faces.csv
(every image's faces: count, box, confidence), counts.json and skipped.csv (the split's, plus the
images skipped here), and settings.json, the framing the train stage saves inside the model.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from emotion_pipeline.core.progress import Progress
from emotion_pipeline.core.tables import read_table, table, write_atomic, write_json, write_table
from emotion_pipeline.data.faces import (
    NO_FACE,
    SETTINGS_FILE,
    FaceSettings,
    detect,
    original_box,
    settings_config,
)
from emotion_pipeline.data.images import ImageError, load_photo
from emotion_pipeline.data.splitting import SPLIT_COLUMNS, SPLITS, class_counts, content_hash

COPIED = (*(f"{name}.csv" for name in SPLITS), "counts.json", "skipped.csv")
FACE_COLUMNS = ("path", "label", "faces", "face", "x0", "y0", "x1", "y1", "confidence")
LIST_COLUMNS = (*SPLIT_COLUMNS, "source")


class NoFaceLeft(ValueError):
    """Skipping images without a face would leave a class without an image in some split."""


def crop_file(out: Path, path: str, label: str, md5: str) -> Path:
    """Where an image's crop is kept: readable, and unique even for two files of the same name."""
    return out / "crops" / label / f"{Path(path).stem}-{md5[:8]}.png"


def copy_split(split: Path, out: Path) -> None:
    """Detection off: the split's files as they are, no faces, and settings that say so."""
    for name in COPIED:
        write_atomic(out / name, (split / name).read_bytes())
    write_table(out / "faces.csv", table([], FACE_COLUMNS))
    write_json(out / SETTINGS_FILE, settings_config(None))


def frame_rows(
    rows: list[dict[str, str]], settings: FaceSettings, out: Path, progress: Progress
) -> tuple[list[tuple[str, ...]], list[tuple[object, ...]], list[tuple[str, str]]]:
    """One split's list rows, faces.csv rows and skipped images."""
    kept, found, skipped = [], [], []
    for row in rows:
        path, label = row["path"], row["label"]
        progress.advance()
        try:
            photo = load_photo(Path(path))
        except ImageError as error:  # the split decoded it small; at full size it may still fail
            skipped.append((path, str(error)))
            continue
        faces = detect(photo.image, settings.min_confidence)
        found += [
            (path, label, len(faces), index, *original_box(face.box, photo.scale), round(face.confidence, 4))
            for index, face in enumerate(faces, 1)
        ] or [(path, label, 0, *[""] * 6)]
        if faces:
            image = settings.crop(photo.image, faces[0])
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            target = write_atomic(crop_file(out, path, label, row["md5"]), buffer.getvalue())
            kept.append((target.as_posix(), label, content_hash(target), path))
        elif settings.fallback == "whole":
            kept.append((path, label, row["md5"], path))
        else:
            skipped.append((path, NO_FACE))
    return kept, found, skipped


@dataclass(frozen=True)
class FramedSplit:
    """What framing a split found: faces per image (0, 1, 2 = several) and images kept."""

    per_image: Counter[int]
    kept: int

    def __str__(self) -> str:
        return (
            f"{self.per_image[0]} images without a face, {self.per_image[1]} with one, "
            f"{self.per_image[2]} with several; {self.kept} images kept"
        )


def frame_split(split: Path, out: Path, settings: FaceSettings) -> FramedSplit:
    """Frame every image of the split in `split` and write the faces stage's files to `out`; nothing
    but crops is written when a class would be left without an image in some split (`NoFaceLeft`)."""
    rows = {name: read_table(split / f"{name}.csv").to_dict("records") for name in SPLITS}
    progress = Progress("faces: searched", sum(map(len, rows.values())))
    lists, found = {}, []
    skipped = list(read_table(split / "skipped.csv").itertuples(index=False, name=None))
    for name in SPLITS:
        lists[name], split_found, split_skipped = frame_rows(rows[name], settings, out, progress)
        found += split_found
        skipped += split_skipped
    counts = class_counts({name: [(path, label) for path, label, *_ in kept] for name, kept in lists.items()})
    classes = sorted({row["label"] for split_rows in rows.values() for row in split_rows})
    empty = [f"{label} in {name}" for name in SPLITS for label in classes if not counts[name].get(label)]
    if empty:
        raise NoFaceLeft(f"no image with a face left for {', '.join(empty)} (try faces.fallback=whole)")

    for name in SPLITS:
        write_table(out / f"{name}.csv", table(lists[name], LIST_COLUMNS))
    write_table(out / "faces.csv", table(found, FACE_COLUMNS))
    write_table(out / "skipped.csv", table(sorted(skipped), ("path", "reason")))
    write_json(out / "counts.json", counts)
    write_json(out / SETTINGS_FILE, settings_config(settings))
    per_image = Counter(min(2, faces) for faces in {row[0]: row[2] for row in found}.values())
    return FramedSplit(per_image, sum(map(len, lists.values())))
