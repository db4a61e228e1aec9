"""Benchmark: the report's baseline against the stronger recipe, as mean ± std over k folds, and
the FER2013 configuration trained from random weights with its held-out test figures.

    python bench/recipes.py --web ../shared/datasets/web-emotions            # minutes
    python bench/recipes.py --fer ../shared/datasets/fer2013-3class/train    # about an hour

Runs `dvc exp run` in a throw-away git copy of the project and prints wall times and metrics.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from project_copy import copy_project, figures, timed

RANDOM = ["-S", "model.weights=none"]
# The README's stronger recipe; its k folds score the head part of it on the same cached features.
WEB_RECIPE = [
    *("-S", "train.early_stopping=5", "-S", "train.class_weights=true", "-S", "train.label_smoothing=0.1"),
    *("-S", "train.finetune_epochs=10", "-S", "train.finetune_blocks=1"),
]
# The FER2013 configuration (the README shows the same command): one place for bench/recipes.py and
# bench/gpu_fer.py. Swap or add a `key=value` here, as `dvc exp run -S` takes it.
FER_SETTINGS = [
    "image_size=44",
    "data.val_fraction=0.1",
    "batch_size=64",
    "train.trainable_base=true",
    "model.batch_norm=true",
    "model.width_multiplier=0.5",
    "train.optimizer=adam",
    "model.learning_rate=0.001",
    "train.weight_decay=0.05",
    "train.schedule=cosine",
    "epochs=40",
    "model.dense_units=256",
    "model.dropout=0.5",
    "augment.vertical_flip=false",
    "augment.width_shift=0.1",
    "augment.height_shift=0.1",
    "augment.erasing=0.25",
    "train.class_weights=true",
    "train.label_smoothing=0.1",
    "train.select=val_macro_f1",
    "train.calibrate=true",
    "train.tta=true",
]
FER = [arg for setting in FER_SETTINGS for arg in ("-S", setting)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--web", type=Path, help="web-emotions folder: baseline vs recipe over k folds")
    parser.add_argument("--fer", type=Path, help="FER2013 3-class training folder: the FER configuration")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp))
        if args.web:
            web = ["-S", f"data.dir={args.web.resolve()}", *RANDOM, "-S", f"crossval.folds={args.folds}"]
            for name, extra in (("baseline", []), ("recipe", WEB_RECIPE)):
                seconds, _, _ = timed(project, "dvc", "exp", "run", "-n", f"web-{name}", *web, *extra)
                print(f"web-emotions {name}: {seconds:.0f} s; {figures(project)}")
        if args.fer:
            seconds, _, _ = timed(
                project,
                "dvc",
                "exp",
                "run",
                "-n",
                "fer2013",
                "-S",
                f"data.dir={args.fer.resolve()}",
                *RANDOM,
                *FER,
            )
            print(f"FER2013 angry/happy/sad from random weights: {seconds / 60:.1f} min; {figures(project)}")


if __name__ == "__main__":
    main()
