"""Stage features: run the frozen VGG16 once per image, so the head trains on features.

Training images are stored as `augment.views` augmented views each, validation images as they are.
When training runs online (`train.mode: online`, or `train.trainable_base`) nothing is computed
and TensorFlow is not even imported.
"""

from __future__ import annotations

import argparse

import numpy as np

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params, trains_online
from emotion_pipeline.data.splitting import read_split
from emotion_pipeline.model.weights import follow_base
from emotion_pipeline.training.feature_cache import SplitFeatures, save_features

CACHED = ("train", "val")  # views of the training images, plain features of the validation images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--split-dir", required=True)
    parser.add_argument("--base", required=True, help="VGG16 base weights from the base stage")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    params = follow_base(stage_params(args.params), "features")
    splits = {name: read_split(f"{args.split_dir}/{name}.csv") for name in CACHED}

    if trains_online(params):
        for name, (_, labels) in splits.items():
            save_features(args.out_dir, name, SplitFeatures(np.asarray(labels, dtype=str)))
        print("features: training runs online (train.mode or train.trainable_base): no features cached")
        return 0
    from emotion_pipeline.training.features import Extractor

    extractor = Extractor(params, args.base)
    print(f"features: {extractor}")
    for name, (paths, labels) in splits.items():
        training = name == "train"
        save_features(
            args.out_dir, name, extractor.split(paths, labels, name, views=training, plain=not training)
        )
    print(f"features: {extractor.model.output_shape[1:]} per image → {args.out_dir}")
    return 0


if __name__ == "__main__":
    exit_with(main())
