"""Benchmark for a GPU machine: the FER2013 configuration end to end on TensorFlow's CUDA build.

    python3 bench/gpu_fer.py                                   # data: ../shared/datasets/fer2013-3class/train
    python3 bench/gpu_fer.py --data DIR --venv .venv-gpu

Makes (or reuses) a virtual environment with the `gpu` extra, installed by the README's commands
(only where the environment lacks the CUDA build: about 3 GB of wheels), prints `emotion info`,
then runs `dvc exp run -S recipe=fer2013` in a throw-away git copy of the
project, and prints where the time went, each epoch's time (from DVCLive's timestamps) and the
held-out test figures. Never run by the tests or CI: it stops at once where no NVIDIA GPU is seen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from project_copy import ROOT, breakdown_line, copy_project, epoch_seconds, figures, timed
from recipes import FER, RANDOM

# The README's lines ("Train on GPUs"), run from the project root with `.venv` standing for --venv.
INSTALL = (
    'python3 -m venv .venv && .venv/bin/pip install -e ".[gpu]"',
    '.venv/bin/pip install --force-reinstall --no-deps "tensorflow==$(.venv/bin/pip show tensorflow | sed -n'
    " 's/^Version: //p')\"",
)


def output(*command: str | Path) -> str:
    """A command's output, or "" when it fails or is not installed."""
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except FileNotFoundError:
        return ""
    return done.stdout if done.returncode == 0 else ""


def has_cuda_build(venv: Path) -> bool:
    """Whether the environment's TensorFlow is the CUDA build (not tensorflow-cpu's files)."""
    probe = "import tensorflow as tf; print(tf.test.is_built_with_cuda())"
    return output(venv / "bin" / "python", "-c", probe).strip().endswith("True")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/datasets/fer2013-3class/train")
    parser.add_argument(
        "--venv", type=Path, default=ROOT / ".venv", help="created if absent (default: .venv)"
    )
    args = parser.parse_args()
    if "GPU" not in output("nvidia-smi", "-L"):
        raise SystemExit("gpu_fer: no NVIDIA GPU here (nvidia-smi -L): this benchmark is for a GPU machine")
    if not args.data.is_dir():
        raise SystemExit(f"gpu_fer: no data folder {args.data} (one sub-folder per class; --data)")
    venv = args.venv.resolve()
    if not has_cuda_build(venv):
        for command in INSTALL:
            print(f"gpu_fer: {command}", flush=True)
            subprocess.run(["bash", "-c", command.replace(".venv", str(venv))], cwd=ROOT, check=True)
        if not has_cuda_build(venv):
            raise SystemExit(f"gpu_fer: {venv}'s TensorFlow is still not the CUDA build")
    os.environ.update(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(venv))

    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp))
        os.environ["PYTHONPATH"] = str(project / "src")  # the copy's stages run the copy's package
        subprocess.run(["emotion", "info"], cwd=project, check=True)
        data = ["-S", f"data.dir={args.data.resolve()}"]
        seconds, _, breakdown = timed(project, "dvc", "exp", "run", "-n", "fer2013-gpu", *data, *RANDOM, *FER)
        print(f"FER2013 on the GPU: {seconds / 60:.1f} min; {breakdown_line(breakdown)}")
        epochs = epoch_seconds(project / "dvclive")
        print(f"epochs 2-{len(epochs) + 1}: {', '.join(f'{s:.1f}' for s in epochs)} s", end="")
        print(f" (median {statistics.median(epochs):.1f} s)" if epochs else "")
        print(f"held-out test split: {figures(project)}")


if __name__ == "__main__":
    main()
