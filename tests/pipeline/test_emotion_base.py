"""The emotion_base stage: a recipe's model trained by the pipeline's own stages, in a folder of its
own, cached by DVC; off (the default) it costs nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from project import ROOT, copy_project, load_stage, run, write_params

from emotion_pipeline.core.tables import read_json

STAGE = load_stage("emotion_base")
TINY = ["model.weights=none", "image_size=32", "epochs=1", "augment.views=1", "batch_size=16"]
PHOTO_RUN = {  # a photo run that transfers from a tiny base the emotion_base stage trains first
    "emotion_base.recipe": "baseline",
    "emotion_base.data_dir": "data/sample",
    "emotion_base.overrides": TINY,
    "model.weights": "models/emotion_base/model.keras",
    "image_size": 32,
}


def test_its_commands_are_dvc_yamls_with_every_path_inside_its_folder(tmp_path: Path) -> None:
    commands = STAGE.commands(tmp_path / "base", "faces/folder", "metrics/base.json")
    assert [command[1] for command in commands] == [f"stages/{name}.py" for name in STAGE.STAGES]
    for command in commands:
        assert command[-2:] == ["--params", str(tmp_path / "base" / "params.yaml")]
        paths = [arg for arg in command[2:-2] if not arg.startswith("--")]
        outside = [p for p in paths if not p.startswith(str(tmp_path / "base"))]
        assert outside in ([], ["faces/folder"], ["metrics/base.json"]), command
    split = commands[0]
    assert split[split.index("--data-dir") + 1] == "faces/folder"


def test_off_it_writes_a_note_and_empty_metrics(tmp_path: Path) -> None:
    params = write_params(tmp_path / "params.yaml", {})
    out, metrics = tmp_path / "base", tmp_path / "base.json"
    assert STAGE.main(["--params", str(params), "--out", str(out), "--metrics", str(metrics)]) == 0
    assert [p.name for p in out.iterdir()] == ["README.txt"] and read_json(metrics) == {}


def test_each_inner_stage_is_named_as_its_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a Ctrl-C line says (`interrupted: stage emotion_base/train`), from DVC's DVC_STAGE."""
    names = []

    def recorded(command: list[str], check: bool, env: dict[str, str]) -> subprocess.CompletedProcess:
        names.append(env["DVC_STAGE"])
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(STAGE.subprocess, "run", recorded)
    monkeypatch.setenv("DVC_STAGE", "emotion_base")
    monkeypatch.chdir(ROOT)  # the stage reads dvc.yaml's commands
    params = write_params(tmp_path / "params.yaml", PHOTO_RUN)
    assert STAGE.main(["--params", str(params), "--out", str(tmp_path / "base"), "--metrics", "m.json"]) == 0
    assert names == [f"emotion_base/{name}" for name in STAGE.STAGES]


@pytest.mark.slow
def test_a_recipe_trains_once_then_comes_from_the_cache(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    write_params(project / "params.yaml", PHOTO_RUN)
    first = run(project, "dvc", "repro", "base")
    assert "Running stage 'emotion_base'" in first
    metrics = json.loads((project / "metrics/emotion_base.json").read_text())
    assert metrics["n_images"] == 12 and 0 <= metrics["accuracy"] <= 1
    assert (project / "models/emotion_base/model.keras").is_file()
    assert "epochs: 1" in (project / "models/emotion_base/params.yaml").read_text()
    write_params(project / "params.yaml", {**PHOTO_RUN, "model.dense_units": 16})  # the photo model only
    again = run(project, "dvc", "repro", "base")
    assert "Running stage 'emotion_base'" not in again and "'emotion_base' didn't change" in again
