"""A throw-away git copy of the project for benchmarks, and a timer for commands run in it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_project(target: Path) -> Path:
    """A git copy of the tracked project, so the benchmark never touches the workspace's outputs."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in listed.splitlines():
        if (ROOT / name).is_file() and not name.startswith(("metrics/", "dvclive/", "dvc.lock")):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run(
            ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
            cwd=target,
            check=True,
        )
    return target


def timed(project: Path, *args: str) -> tuple[float, str]:
    """Wall seconds and output of one command in the copy."""
    started = time.perf_counter()
    done = subprocess.run(args, cwd=project, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, done.stdout + done.stderr


SCORES = ("accuracy", "macro_f1")


def figures(project: Path) -> str:
    """Test accuracy and macro-F1, with the k-fold mean ± std where the run made them."""
    metrics = json.loads((project / "metrics/test.json").read_text())
    line = f"test accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}"
    line += f" (n={metrics['n_images']})"
    repeated = metrics.get("repeated")
    if repeated:
        spread = [f"{k} {repeated[k]['mean']:.3f} ± {repeated[k]['std']:.3f}" for k in SCORES]
        line += f"; {', '.join(spread)} over {repeated['folds']} folds"
    return line
