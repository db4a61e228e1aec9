"""Stage emotion_base: the emotion model a photo recipe transfers from, trained by this pipeline's own
stages (split, faces, base, features, train, evaluate, run as dvc.yaml runs them) with another
recipe's params and data, in a folder of its own, cached by DVC like any other output. Its recipe
`none` (the default) leaves the folder empty, at no cost."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from emotion_pipeline import exit_with
from emotion_pipeline.core.interrupt import stage_name
from emotion_pipeline.core.params import stage_params
from emotion_pipeline.core.recipes import CONF, compose
from emotion_pipeline.core.tables import write_json

STAGES = ("split", "faces", "base", "features", "train", "evaluate")
OFF = "none"


def commands(out: Path, data_dir: str, metrics: str) -> list[list[str]]:
    """dvc.yaml's commands of those stages, with every path inside `out`, `data_dir` as the data, the
    test metrics in `metrics`, and the params of `out`."""
    pipeline = yaml.safe_load(Path("dvc.yaml").read_text(encoding="utf-8"))
    values = {f"paths.{k}": str(out / Path(v).name) for k, v in pipeline["vars"][1]["paths"].items()}
    values |= {"data.dir": data_dir, "paths.metrics": metrics}
    return [
        [
            sys.executable,
            *shlex.split(re.sub(r"\$\{([\w.]+)\}", lambda m: values[m[1]], pipeline["stages"][name]["cmd"]))[
                1:
            ],
            *("--params", str(out / "params.yaml")),
        ]
        for name in STAGES
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="folder for the base's model and its split")
    parser.add_argument("--metrics", required=True, help="the base's held-out test metrics (JSON)")
    args = parser.parse_args(argv)
    settings = stage_params(args.params)["emotion_base"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if settings["recipe"] == OFF:  # a note, not an empty folder: DVC caches what it holds
        (out / "README.txt").write_text("No emotion base: emotion_base.recipe is none.\n", encoding="utf-8")
        write_json(args.metrics, {})
        print("emotion_base: none (emotion_base.recipe=none): nothing to train")
        return 0
    params = compose(CONF, settings["recipe"], [f"data.dir={settings['data_dir']}", *settings["overrides"]])
    (out / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    print(f"emotion_base: recipe {settings['recipe']} on {settings['data_dir']} → {out}", flush=True)
    for name, command in zip(STAGES, commands(out, settings["data_dir"], args.metrics), strict=True):
        # A Ctrl-C line names the stage as a part of this one (emotion_base/train).
        done = subprocess.run(command, check=False, env={**os.environ, "DVC_STAGE": f"{stage_name()}/{name}"})
        if done.returncode:
            return done.returncode
    return 0


if __name__ == "__main__":
    exit_with(main())
