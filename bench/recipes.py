"""Benchmark: the report's baseline against the stronger recipe (`imagenet-finetune`), as mean ± std
over k folds, and the `fer2013` recipe trained from random weights with its held-out test figures.

    python bench/recipes.py --web ../shared/datasets/web-emotions            # minutes
    python bench/recipes.py --fer ../shared/datasets/fer2013-3class/train    # about an hour

Runs `dvc exp run` in a throw-away git copy of the project and prints wall times and metrics.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from project_copy import copy_project, figures, timed

RANDOM = ["-S", "model.weights=none"]  # offline: no ImageNet download
# The recipes, from conf/recipe/: one `-S recipe=NAME` each, never a copy of their values.
WEB_RECIPE = ["-S", "recipe=imagenet-finetune"]
FER = ["-S", "recipe=fer2013"]


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
