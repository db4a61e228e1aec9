"""Benchmark: baseline (20 epochs) + improved (30 epochs), the report's way against ours.

(a) the report's way: augmentation through the frozen VGG16 every epoch, float32; the 30-epoch run
    starts from scratch (`dvc exp run -S train.mode=online -S precision=float32`, then `--force`).
(b) ours: `dvc exp run` for the baseline, then `dvc exp run -S epochs=30` (features cached once).
It also measures VGG16's raw forward-pass throughput beside the feature stage's, on this machine
(a GPU, where TensorFlow sees one). Run from the project root with the environment active:

    python bench/experiments.py --data ../shared/datasets/web-emotions

Each `dvc exp run` is printed with where its time went (each stage that ran, and DVC itself);
`--crossval 5` then turns on 5-fold cross-validation and shows which stages that reruns.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from project_copy import breakdown_line, copy_project, figures, timed


def forward_throughput(image_size: int, precision: str, batch: int = 32, batches: int = 6) -> float:
    """Images per second through the frozen VGG16 on random pixels, after one warm-up batch."""
    import tensorflow as tf

    from emotion_pipeline.model.network import build_vgg16, feature_extractor
    from emotion_pipeline.model.runtime import set_precision

    set_precision(precision)
    extractor = feature_extractor(build_vgg16(None, image_size), image_size)
    forward = tf.function(lambda x: extractor(x, training=False))
    images = tf.constant(
        np.random.default_rng(0).integers(0, 256, (batch, image_size, image_size, 3)), tf.float32
    )
    forward(images).numpy()
    started = time.perf_counter()
    for _ in range(batches):
        forward(images).numpy()
    return batch * batches / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="../shared/datasets/web-emotions")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, nargs=2, default=(20, 30), metavar=("BASELINE", "IMPROVED"))
    parser.add_argument("--skip-report-way", action="store_true", help="time only (b)")
    parser.add_argument("--crossval", type=int, default=0, help="then turn on k-fold cross-validation")
    args = parser.parse_args()

    import tensorflow as tf

    print(f"devices: {[d.device_type for d in tf.config.list_physical_devices()]}")
    common = [
        "-S",
        f"data.dir={Path(args.data).resolve()}",
        "-S",
        "model.weights=none",
        "-S",
        f"image_size={args.image_size}",
    ]
    baseline, improved = (["-S", f"epochs={n}"] for n in args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp))
        b1, out, where = timed(project, "dvc", "exp", "run", "-n", "baseline", *common, *baseline)
        print(f"(b) baseline: {figures(project)}")
        print(f"(b) baseline {b1:.1f} s: {breakdown_line(where)}")
        b2, _, where = timed(project, "dvc", "exp", "run", "-n", "improved", *common, *improved)
        print(f"(b) improved: {figures(project)}")
        print(f"(b) improved {b2:.1f} s: {breakdown_line(where)}")
        progress = r"features: train views \d+/\d+ images \(([\d.]+) images/s\)"
        rates = [float(rate) for rate in re.findall(progress, out)]
        policy = re.search(r"features: \d+px, (\S+),", out)
        print(f"(b) ours: baseline {b1:.1f} s, improved {b2:.1f} s, together {b1 + b2:.1f} s")
        if args.crossval:
            folds = [*common, *improved, "-S", f"crossval.folds={args.crossval}"]
            seconds, _, where = timed(project, "dvc", "exp", "run", "-n", "crossval", *folds)
            print(f"(b) then crossval.folds={args.crossval}: {figures(project)}")
            print(f"(b) crossval {seconds:.1f} s, stages run: {breakdown_line(where)}")
        if not args.skip_report_way:
            online = [*common, "-S", "train.mode=online", "-S", "precision=float32"]
            a1, _, _ = timed(project, "dvc", "exp", "run", "--force", *online, *baseline)
            print(f"(a) baseline: {figures(project)}")
            a2, _, _ = timed(project, "dvc", "exp", "run", "--force", *online, *improved)
            print(f"(a) improved: {figures(project)}")
            print(f"(a) the report's way: baseline {a1:.1f} s, improved {a2:.1f} s, together {a1 + a2:.1f} s")
            print(f"speed-up (a)/(b), baseline + improved: {(a1 + a2) / (b1 + b2):.1f}x")
    if rates and policy:
        raw = forward_throughput(args.image_size, policy.group(1))
        print(
            f"feature extraction {rates[-1]:.1f} img/s ({policy.group(1)}, with augmentation and decoding) "
            f"vs raw VGG16 forward pass {raw:.1f} img/s: ratio {raw / rates[-1]:.2f}"
        )


if __name__ == "__main__":
    main()
