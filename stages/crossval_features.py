"""Stage crossval_features: the VGG16 features k-fold cross-validation needs beyond the `features`
stage's, so that turning `crossval.folds` on reruns neither `features` nor `train`.

Every image is trained on in some fold (it needs augmented views) and scored in another (it needs
its plain features). This stage computes only what the feature cache lacks: plain features of the
training images, views of the validation images, both for the test images (or everything, when
training runs online and the cache is empty). With `crossval.folds: 0` it computes nothing and does
not import TensorFlow.
"""

from __future__ import annotations

import argparse

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import crossval_folds, stage_params
from emotion_pipeline.core.tables import write_json
from emotion_pipeline.data.splitting import SPLITS, read_split
from emotion_pipeline.model.weights import follow_base
from emotion_pipeline.training.feature_cache import load_merged, save_features


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--split-dir", required=True)
    parser.add_argument("--base", required=True, help="VGG16 base weights from the base stage")
    parser.add_argument("--features-dir", required=True, help="the features stage's cache")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    params = follow_base(stage_params(args.params), "crossval_features")

    folds = crossval_folds(params)
    write_json(f"{args.out_dir}/computed.json", {"folds": folds})  # the folder exists even when off
    if not folds:
        print("crossval_features: off (crossval.folds < 2)")
        return 0
    from emotion_pipeline.training.features import Extractor

    extractor = Extractor(params, args.base)
    print(f"crossval_features: {extractor}")
    for name in SPLITS:
        paths, labels = read_split(f"{args.split_dir}/{name}.csv")
        try:
            have = load_merged([args.features_dir], name)
        except FileNotFoundError:  # the features stage keeps no test features
            have = None
        views = have is None or have.views is None
        plain = have is None or have.plain is None
        save_features(args.out_dir, name, extractor.split(paths, labels, name, views=views, plain=plain))
    return 0


if __name__ == "__main__":
    exit_with(main())
