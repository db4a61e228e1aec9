"""Benchmark: training speed of the `fer2013` recipe's network (conf/recipe/fer2013.yaml: VGG16 with
BatchNorm and the training augmentation, the whole network trained, AdamW) at several input sizes
and widths, in the precision `auto` picks here.

    python bench/train_speed.py                      # 48 44 40 36 px at the configuration's width
    python bench/train_speed.py --sizes 48 44 --batch 64 --steps 30
    python bench/train_speed.py --sizes 44 --widths 1 0.5 1 0.5   # model.width_multiplier

Prints, per size, images per second over single training steps (median, and the slowest and
fastest step after the warm-up ones): on CPUs the speed does not follow the pixel count, because the
convolution kernels suit some sizes better than others, so the FER configuration's size is measured.
Each size and width trains in a fresh process: in one process the second network built ran slower (44 px:
87 img/s first, 59 img/s third, after 48 px).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from emotion_pipeline.core.recipes import compose
from emotion_pipeline.model.runtime import resolve_precision, set_precision
from emotion_pipeline.training.trainer import Network, compile_model

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["angry", "happy", "sad"]
WARM_UP = 5  # steps left out: the first ones build and tune the kernels


def fer_params(size: int, width: float | None = None) -> dict[str, Any]:
    """The `fer2013` recipe's params at `size` px and, if given, `width` as model.width_multiplier."""
    widths = [] if width is None else [f"model.width_multiplier={width}"]
    return compose(ROOT / "conf", "fer2013", [f"image_size={size}", *widths])


def images_per_second(size: int, width: float | None, batch: int, steps: int) -> list[float]:
    """Images per second of each timed training step at `size` px and `width`."""
    params = fer_params(size, width)
    set_precision(params["precision"])
    model = Network.build(params, None, CLASSES).model()  # random weights, as the FER command trains
    train = params["train"]
    rate = params["model"]["learning_rate"]
    compile_model(model, rate, train["label_smoothing"], train["optimizer"], train["weight_decay"])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, size, size, 3), dtype="uint8")
    targets = np.eye(len(CLASSES), dtype="float32")[rng.integers(0, len(CLASSES), batch)]
    rates = []
    for step in range(WARM_UP + steps):
        started = time.perf_counter()
        model.train_on_batch(images, targets)
        if step >= WARM_UP:
            rates.append(batch / (time.perf_counter() - started))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[48, 44, 40, 36])
    parser.add_argument("--widths", nargs="+", type=float, help="model.width_multiplier values")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per size")
    args = parser.parse_args()
    print(f"precision: {resolve_precision(fer_params(48)['precision'])}")
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn, max_tasks_per_child=1) as pool:
        for size, width in itertools.product(args.sizes, args.widths or [None]):
            rates = pool.submit(images_per_second, size, width, args.batch, args.steps).result()
            shown = fer_params(size, width)["model"]["width_multiplier"]
            print(
                f"{size} px, width {shown:g}: {statistics.median(rates):.1f} img/s median "
                f"({min(rates):.1f}-{max(rates):.1f}) over {args.steps} steps of {args.batch}",
                flush=True,
            )


if __name__ == "__main__":
    main()
