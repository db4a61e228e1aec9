"""Stage train: the report's head on the frozen VGG16 (from cached features, or online), then
optional fine-tuning and calibration; saves one classifier that takes raw RGB and holds its class
names, its temperature, and the face settings its images were cropped with."""

from __future__ import annotations

import argparse
from pathlib import Path

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.core.tables import replacing
from emotion_pipeline.model.runtime import resolve_precision
from emotion_pipeline.model.weights import follow_base
from emotion_pipeline.training.fit import stage_data, train_classifier
from emotion_pipeline.training.resume import Resume


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--split-dir", required=True)
    parser.add_argument("--features-dir", required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--live-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    params = follow_base(stage_params(args.params), "train")

    data = stage_data(params, args.split_dir, args.features_dir)
    tuned = params["train"]["finetune_epochs"]
    print(
        f"train: {len(data.train)} images, classes {data.classes}, {resolve_precision(params['precision'])}, "
        f"{'online' if data.online else 'cached'}"
        + (
            f", then fine-tuning the last {params['train']['finetune_blocks']} VGG16 block(s)"
            if tuned
            else ""
        )
    )
    resume = Resume.of(params, data.images(), args.base)
    if (saved := resume.saved) is not None:
        print(f"train: resuming after epoch {saved.epoch}, where a run was interrupted ({resume.folder})")
    live = resume.live(args.live_dir)
    model = train_classifier(params, data, args.base, live, resume)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with replacing(args.out) as tmp:  # a model half-written by an interrupt never takes its place
        model.save(tmp)
    live.end()
    resume.finish()
    print(f"train: saved {args.out}")
    return 0


if __name__ == "__main__":
    exit_with(main())
