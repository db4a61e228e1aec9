"""Ctrl-C in a stage: one line naming the stage, status 130, no traceback, no half-written file, and
the next run goes on from that stage."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from project import ROOT, copy_project, run, tool_env, write_params

from emotion_pipeline.core.interrupt import INTERRUPTED

STARTED_S = 120  # the longest wait for a stage to begin its work, on 2 busy cores


def interrupted_line(stage: str) -> str:
    return f"interrupted: stage {stage}; nothing half-written was kept, the next run resumes"


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of an interrupted write: `core.tables.replacing` names them `.<random>.<name>`
    (the pattern passes over dot-files without a second dot, such as DVC's `.gitignore`)."""
    return sorted(folder.rglob(".*.*"))


def test_sample_stage_interrupted(tmp_path: Path) -> None:
    """The sample stage (no TensorFlow) interrupted while it writes its drawings."""
    params = write_params(tmp_path / "params.yaml", {"sample.per_class": 100_000, "sample.size": 64})
    out = tmp_path / "sample"
    command = [sys.executable, str(ROOT / "stages/sample.py"), "--params", str(params), "--out", str(out)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=tool_env(ROOT)
    )
    try:
        deadline = time.monotonic() + STARTED_S
        while not any(out.glob("*/*.jpg")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the stage ended before it was interrupted"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == INTERRUPTED == 130
    assert stderr == interrupted_line("sample") + "\n" and stdout == ""
    assert leftovers(out) == []
    for drawing in out.glob("*/*.jpg"):
        with Image.open(drawing) as image:
            image.load()  # a truncated JPEG raises here
    write_params(params, {"sample.per_class": 2, "sample.size": 64})
    rerun = subprocess.run(command, capture_output=True, text=True, env=tool_env(ROOT), timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list(out.glob("*/*.jpg"))) == 2 * len(list(out.iterdir()))


@pytest.mark.slow
def test_ctrl_c_in_dvc_repro_features(tmp_path: Path) -> None:
    """Ctrl-C as a terminal sends it (to DVC and the stage together) while the features stage runs
    VGG16; the next `dvc repro` reruns features alone."""
    project = copy_project(tmp_path)
    tiny = {"data.dir": "data/sample", "model.weights": "none", "image_size": 32, "augment.views": 100}
    write_params(project / "params.yaml", tiny)
    run(project, "dvc", "repro", "faces", "base")
    process = subprocess.Popen(
        ["dvc", "repro", "features"],
        cwd=project,
        env={**tool_env(project), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the stage's first line comes once VGG16 is built
            lines.append(line)
            if line.startswith("features: "):
                os.killpg(process.pid, signal.SIGINT)
                break
        lines.extend(process.stdout)
        process.wait(timeout=120)
    finally:
        process.kill()
    output = "".join(lines)
    assert interrupted_line("features") in output, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    # DVC's account of the stage: 130 where the shell DVC runs it with hands over to the stage (bash),
    # -2 where that shell waits for it and is itself ended by the same Ctrl-C (dash, DVC's /bin/sh
    # when SHELL is unset): both say it stopped on Ctrl-C, not on an error of its own.
    assert re.search(r"failed to reproduce 'features': .* exited with (130|-2)\n", output), output
    assert leftovers(project / "data") == []
    write_params(project / "params.yaml", {**tiny, "augment.views": 2})
    rerun = run(project, "dvc", "repro", "features")
    assert "Running stage 'features'" in rerun and "Running stage 'base'" not in rerun, rerun
