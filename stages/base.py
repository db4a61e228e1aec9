"""Stage base: the VGG16 convolutional base's weights, fetched, copied from a trained classifier or
made once, and cached by DVC."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.model.network import build_vgg16
from emotion_pipeline.model.runtime import seed_everything
from emotion_pipeline.model.weights import WeightsUnavailable, load_base_weights, resolve_weights, save_base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="weights file to write (.weights.h5)")
    args = parser.parse_args(argv)
    params = stage_params(args.params)

    seed_everything(params["seed"])
    model = params["model"]
    base = build_vgg16(None, batch_norm=model["batch_norm"], width_multiplier=model["width_multiplier"])
    grey = False
    try:
        source = resolve_weights(str(model["weights"]))
        if source is not None:
            grey = load_base_weights(base, source)
    except WeightsUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_base(base, args.out, grey)
    seen = " (learnt on grey faces: models on it see grey)" if grey else ""
    print(f"base: VGG16 weights from {source or 'random init'}{seen} → {args.out}")
    return 0


if __name__ == "__main__":
    exit_with(main())
