"""Stage features: run the frozen VGG16 once per image, so the head trains on features.

Per split it stores `views` (K augmented views of each image) where images are trained on, and
`plain` (each image as it is) where they are scored: training images get views, validation images
plain features; with `crossval.folds` every image gets both, since each is trained on in some fold
and scored in another. When training runs online (`train.mode: online`, or
`train.trainable_base`) nothing is computed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from emotion_pipeline.data import decoded_images
from emotion_pipeline.features import extract
from emotion_pipeline.model import (
    build_augmentation,
    build_vgg16,
    feature_extractor,
    seed_everything,
    set_precision,
)
from emotion_pipeline.params import load_params, trains_online
from emotion_pipeline.splitting import SPLITS, read_split

NONE = np.zeros((0,), "float32")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--split-dir", required=True)
    parser.add_argument("--base", required=True, help="VGG16 base weights from the base stage")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    params = load_params(args.params)

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if trains_online(params["train"]):
        for name in SPLITS:
            np.savez(out / f"{name}.npz", views=NONE, plain=NONE, labels=np.array([], dtype=str))
        print("features: training runs online (train.mode or train.trainable_base), no features cached")
        return 0

    seed_everything(params["seed"])
    policy = set_precision(params["precision"])
    size, batch, views = params["image_size"], params["batch_size"], int(params["augment"]["views"])
    extractor = feature_extractor(build_vgg16(args.base, size), size)
    augmentation = build_augmentation(params["augment"], params["seed"])
    crossval = int(params["crossval"]["folds"]) > 0
    print(f"features: {size}px, {policy}, {views} augmented views per training image")

    for name in SPLITS:
        paths, labels = read_split(Path(args.split_dir) / f"{name}.csv")
        want_views, want_plain = name == "train" or crossval, name != "train" or crossval
        images = decoded_images(paths, size)
        if want_views and want_plain:
            images = images.cache()  # both passes read pixels decoded once
        augmented, plain = NONE, NONE
        if want_views:
            augmented = extract(extractor, images, len(paths), batch, f"{name} views", views, augmentation)
            augmented = augmented.reshape(len(paths), views, *augmented.shape[1:])
        if want_plain:
            plain = extract(extractor, images, len(paths), batch, name)
        np.savez(out / f"{name}.npz", views=augmented, plain=plain, labels=np.array(labels))
    print(f"features: {extractor.output_shape[1:]} per image → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
