"""Stage faces: find every face in every image of the split, and write the split lists the later
stages read: each image's largest face as a square crop, or the whole image where none is found
(`faces.fallback: whole`), or nothing (`skip`: the image is listed in skipped.csv, `no face found`).

Beside the lists (path, label, md5, and `source`: the original image) it writes the crops, faces.csv
(every image's faces: count, box, confidence), counts.json and skipped.csv (the split's, plus the
images skipped here), and settings.json, the framing the train stage saves inside the model. With
`faces.detect: false` it copies the split's files as they are and does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections import Counter
from pathlib import Path

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.core.progress import Progress
from emotion_pipeline.core.tables import read_table, table, write_atomic, write_json, write_table
from emotion_pipeline.data.faces import (
    NO_FACE,
    SETTINGS_FILE,
    FaceSettings,
    detect,
    original_box,
    settings_config,
    settings_from,
)
from emotion_pipeline.data.images import ImageError, load_photo
from emotion_pipeline.data.splitting import SPLIT_COLUMNS, SPLITS, class_counts, content_hash

COPIED = (*(f"{name}.csv" for name in SPLITS), "counts.json", "skipped.csv")
FACE_COLUMNS = ("path", "label", "faces", "face", "x0", "y0", "x1", "y1", "confidence")
LIST_COLUMNS = (*SPLIT_COLUMNS, "source")


def crop_file(out: Path, path: str, label: str, md5: str) -> Path:
    """Where an image's crop is kept: readable, and unique even for two files of the same name."""
    return out / "crops" / label / f"{Path(path).stem}-{md5[:8]}.png"


def frame_split(
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--split-dir", required=True, help="the split stage's folder")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    params = stage_params(args.params)
    settings = settings_from(params["faces"])
    split, out = Path(args.split_dir), Path(args.out_dir)

    if settings is None:
        for name in COPIED:
            write_atomic(out / name, (split / name).read_bytes())
        write_table(out / "faces.csv", table([], FACE_COLUMNS))
        write_json(out / SETTINGS_FILE, settings_config(settings))
        print("faces: off (faces.detect: false): the split's lists, whole images")
        return 0

    rows = {name: read_table(split / f"{name}.csv").to_dict("records") for name in SPLITS}
    progress = Progress("faces: searched", sum(map(len, rows.values())))
    lists, found = {}, []
    skipped = list(read_table(split / "skipped.csv").itertuples(index=False, name=None))
    for name in SPLITS:
        lists[name], split_found, split_skipped = frame_split(rows[name], settings, out, progress)
        found += split_found
        skipped += split_skipped
    counts = class_counts({name: [(path, label) for path, label, *_ in kept] for name, kept in lists.items()})
    classes = sorted({row["label"] for split_rows in rows.values() for row in split_rows})
    empty = [f"{label} in {name}" for name in SPLITS for label in classes if not counts[name].get(label)]
    if empty:
        left = ", ".join(empty)
        print(
            f"error: faces: no image with a face left for {left} (try faces.fallback=whole)", file=sys.stderr
        )
        return 1

    for name in SPLITS:
        write_table(out / f"{name}.csv", table(lists[name], LIST_COLUMNS))
    write_table(out / "faces.csv", table(found, FACE_COLUMNS))
    write_table(out / "skipped.csv", table(sorted(skipped), ("path", "reason")))
    write_json(out / "counts.json", counts)
    write_json(out / SETTINGS_FILE, settings_config(settings))
    found_per_image = Counter(min(2, faces) for faces in {row[0]: row[2] for row in found}.values())
    print(
        f"faces: {found_per_image[0]} images without a face, {found_per_image[1]} with one, "
        f"{found_per_image[2]} with several; {sum(map(len, lists.values()))} images kept ({out})"
    )
    return 0


if __name__ == "__main__":
    exit_with(main())
