"""Stage crossval: stratified k-fold over every image, so the recipe's accuracy and macro-F1 come with
a spread, not only the point estimate of one small test split.

Each fold trains as the train stage does (`training.folds` says how a fold differs: no validation
images). The report reads its JSON directly; `dvc metrics diff` shows it beside the test metrics.
"""

from __future__ import annotations

import argparse

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import crossval_folds, stage_params
from emotion_pipeline.core.tables import write_json
from emotion_pipeline.model.weights import follow_base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--features-dir", action="append", required=True, help="feature caches (repeatable)")
    parser.add_argument("--split-dir", required=True, help="the image lists (for fine-tuning)")
    parser.add_argument("--base", required=True, help="VGG16 base weights")
    parser.add_argument("--out", required=True, help="JSON with mean, std and per-fold values")
    args = parser.parse_args(argv)
    params = follow_base(stage_params(args.params), "crossval")

    if not crossval_folds(params):
        write_json(args.out, {"folds": 0})
        print("crossval: off (crossval.folds < 2)")
        return 0
    # TensorFlow only now: when the stage is off it costs no import, which every run would pay.
    from emotion_pipeline.training.folds import cross_validate, pooled_examples

    result = cross_validate(params, pooled_examples(args.features_dir, args.split_dir), args.base)
    write_json(args.out, result)
    print(
        f"crossval: accuracy {result['accuracy']['mean']:.3f} ± {result['accuracy']['std']:.3f}, "
        f"macro-F1 {result['macro_f1']['mean']:.3f} ± {result['macro_f1']['std']:.3f}"
    )
    return 0


if __name__ == "__main__":
    exit_with(main())
