"""Stage faces: find every face in every image of the split, and write the split lists the later
stages read, each image as its largest face's crop (`data.face_split` says what else it writes).
With `faces.detect: false` it copies the split's files as they are and does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.data.face_split import NoFaceLeft, copy_split, frame_split
from emotion_pipeline.data.faces import settings_from


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--split-dir", required=True, help="the split stage's folder")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    settings = settings_from(stage_params(args.params)["faces"])
    split, out = Path(args.split_dir), Path(args.out_dir)

    if settings is None:
        copy_split(split, out)
        print("faces: off (faces.detect: false): the split's lists, whole images")
        return 0
    try:
        framed = frame_split(split, out, settings)
    except NoFaceLeft as error:
        print(f"error: faces: {error}", file=sys.stderr)
        return 1
    print(f"faces: {framed} ({out})")
    return 0


if __name__ == "__main__":
    exit_with(main())
