"""Stage features: run the frozen VGG16 once per image (K augmented views per training image).

Changing epochs, learning rate, dropout or dense units then re-trains only the small head.
In `train.mode: online` nothing is computed here: training runs the full network itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from emotion_pipeline.features import extract
from emotion_pipeline.model import build_augmentation, build_vgg16, feature_extractor, seed_everything, set_precision
from emotion_pipeline.params import load_params
from emotion_pipeline.splitting import read_split


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
    if params["train"]["mode"] == "online":
        for name in ("train", "val"):
            np.savez(out / f"{name}.npz", features=np.zeros((0,), "float32"), labels=np.array([], dtype=str))
        print("features: train.mode is online, no features cached")
        return 0

    seed_everything(params["seed"])
    policy = set_precision(params["precision"])
    size, batch = params["image_size"], params["batch_size"]
    extractor = feature_extractor(build_vgg16(args.base, size), size)
    augment = params["augment"]
    views = int(augment["views"])
    print(f"features: {size}px, {policy}, {views} augmented views per training image")

    train_paths, train_labels = read_split(Path(args.split_dir) / "train.csv")
    features = extract(
        extractor, train_paths, size, batch, "train", views, build_augmentation(augment, params["seed"])
    )
    np.savez(out / "train.npz", features=features, labels=np.repeat(train_labels, views))

    val_paths, val_labels = read_split(Path(args.split_dir) / "val.csv")
    np.savez(out / "val.npz", features=extract(extractor, val_paths, size, batch, "val"), labels=val_labels)
    print(f"features: {features.shape[0]} training rows of shape {features.shape[1:]} → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
