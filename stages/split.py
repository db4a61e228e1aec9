"""Stage split: find every image, check it decodes, and write a stratified, seeded split
(`data.split_files` says what each file holds)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emotion_pipeline import exit_with
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.data.split_files import survey, write_split
from emotion_pipeline.data.splitting import SPLITS, SplitError, stratified_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    params = stage_params(args.params)

    try:
        found = survey(Path(args.data_dir))
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if found.unused:
        print(
            f"split: ignoring class folders without a usable image: {', '.join(found.unused)}",
            file=sys.stderr,
        )
    try:
        split = stratified_split(
            found.usable, params["data"]["test_fraction"], params["data"]["val_fraction"], params["seed"]
        )
    except SplitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    out = Path(args.out_dir)
    counts = write_split(out, split, found)
    for name in SPLITS:
        print(f"split: {name:5s} {sum(counts[name].values()):6d} images {counts[name]}")
    print(f"split: skipped {len(found.skipped)} files (see {out / 'skipped.csv'})")
    return 0


if __name__ == "__main__":
    exit_with(main())
