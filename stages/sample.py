"""Stage sample: synthetic faces from the project's own generator, `sample.per_class` of each class,
for a first offline run that visibly learns: the committed sample's 120 drawings are too few to train
VGG16 from random weights. Off (0 per class) it leaves an empty folder."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.data.synthetic import generate_sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="folder for <class>/<class>_NNN.jpg")
    args = parser.parse_args(argv)
    settings = stage_params(args.params)["sample"]

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if not settings["per_class"]:
        print("sample: off (sample.per_class = 0)")
        return 0
    counts = generate_sample(out, settings["per_class"], settings["size"], settings["seed"])
    made = ", ".join(f"{count} {name}" for name, count in counts.items())
    print(f"sample: {made} at {settings['size']} px in {out}")
    return 0


if __name__ == "__main__":
    exit_with(main())
