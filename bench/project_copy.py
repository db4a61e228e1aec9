"""A throw-away git copy of the project for benchmarks (and tests), and a timer for commands run in it."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


OUTPUTS = ("dvc.lock", "metrics", "dvclive", "plots", "models", "data/split", "data/faces", "data/features")
GIT = ("git", "-c", "user.name=t", "-c", "user.email=t@t")


def copy_project(target: Path) -> Path:
    """Copy the files git tracks (and untracked, unignored ones), minus pipeline outputs; commit.

    The tests use it too (tests/project.py): a benchmark or a test never touches the workspace's
    outputs, and the copy's stages run the working tree's code, committed or not."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file() and not any(name == o or name.startswith(o + "/") for o in OUTPUTS):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "copy"]):
        subprocess.run([*GIT, *args], cwd=target, check=True, capture_output=True)
    return target


def timed(project: Path, *args: str) -> tuple[float, str, dict[str, float]]:
    """Wall seconds, output, and where the time went, for one `dvc` command in the copy.

    Output lines are timestamped as they arrive: from DVC's `Running stage 'X'` to its next
    `Updating lock file` counts as stage X (its command plus hashing its outputs); every other
    second (start-up, checks of skipped stages, the experiment's commit) counts as `dvc`.
    """
    tools = Path(sys.executable).parent  # this environment's dvc and python, activated or not
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines, breakdown, stage, since = [], {"dvc": 0.0}, "dvc", started
    for line in process.stdout:
        now = time.perf_counter()
        lines.append(line)
        running = re.match(r"Running stage '([^']+)'", line)
        if running or line.startswith("Updating lock file"):
            breakdown[stage] = breakdown.get(stage, 0.0) + now - since
            stage, since = (running[1] if running else "dvc"), now
    process.wait()
    seconds = time.perf_counter() - started
    breakdown[stage] = breakdown.get(stage, 0.0) + started + seconds - since
    output = "".join(lines)
    if process.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{output[-6000:]}")
    return seconds, output, breakdown


def breakdown_line(breakdown: dict[str, float]) -> str:
    """`train 8.1 s, evaluate 6.0 s, …, dvc 5.2 s`, slowest first, DVC's own time last."""
    stages = sorted(((s, t) for s, t in breakdown.items() if s != "dvc"), key=lambda st: -st[1])
    return ", ".join(f"{s} {t:.1f} s" for s, t in [*stages, ("dvc", breakdown["dvc"])])


SCORES = ("accuracy", "macro_f1")


def figures(project: Path) -> str:
    """Test accuracy and macro-F1, with the k-fold mean ± std where the run made them."""
    metrics = json.loads((project / "metrics/test.json").read_text())
    line = f"test accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}"
    line += f" (n={metrics['n_images']})"
    crossval = project / "metrics/crossval.json"
    repeated = json.loads(crossval.read_text()) if crossval.is_file() else {}
    if repeated.get("folds"):
        spread = [f"{k} {repeated[k]['mean']:.3f} ± {repeated[k]['std']:.3f}" for k in SCORES]
        line += f"; {', '.join(spread)} over {repeated['folds']} folds"
    return line


def epoch_seconds(live_dir: Path) -> list[float]:
    """Seconds between consecutive epochs' rows in DVCLive's timestamped training-loss TSV: every
    epoch's time but the first, whose start is not logged (it also holds tracing and warm-up)."""
    rows = (live_dir / "plots/metrics/train/loss.tsv").read_text().splitlines()[1:]
    stamps = [int(row.split("\t")[0]) for row in rows]
    return [(later - earlier) / 1000 for earlier, later in itertools.pairwise(stamps)]
