"""DVC reruns a stage only when a listed dependency changes: every stage must list each project
file it runs, and the split must change when an image's bytes do."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from imports import import_closure
from PIL import Image
from project import ROOT, copy_project, run, write_params

SETTINGS = {"data.dir": "data/sample", "model.weights": "none", "image_size": 32, "augment.views": 1}


def stage_scripts(dvc_yaml: dict) -> dict[str, list[Path]]:
    """Each stage's scripts: the one its command runs (`python stages/<name>.py ...`) and those that
    script runs in turn (the stage names in its `STAGES`)."""
    scripts = {}
    for name, stage in dvc_yaml["stages"].items():
        found = re.search(r"python (\S+\.py)", stage["cmd"])
        assert found, f"stage {name}: no `python <script>.py` in its command"
        script = ROOT / found[1]
        runs = re.search(r"^STAGES = \(([^)]*)\)", script.read_text(), re.MULTILINE)
        others = re.findall(r'"(\w+)"', runs[1]) if runs else []
        scripts[name] = [script, *(ROOT / "stages" / f"{other}.py" for other in others)]
    return scripts


def covered(path: str, listed: set[str]) -> bool:
    """Whether `path` is a listed dependency or lies inside a listed folder (a subpackage)."""
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in listed)


def test_every_stage_lists_each_project_file_it_imports() -> None:
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for name, scripts in stage_scripts(dvc_yaml).items():
        closure = {p.relative_to(ROOT).as_posix() for s in scripts for p in import_closure(s, ROOT / "src")}
        listed = {dep for dep in dvc_yaml["stages"][name]["deps"] if dep.startswith(("src/", "stages/"))}
        assert {path for path in closure if not covered(path, listed)} == set(), (
            f"stage {name} runs files dvc.yaml does not list"
        )
        needless = {dep for dep in listed if not any(covered(path, {dep}) for path in closure)}
        assert needless == set(), f"stage {name} lists code it does not run (needless reruns)"


def test_the_closure_follows_imports_inside_functions_and_packages(tmp_path: Path) -> None:
    package = tmp_path / "src" / "emotion_pipeline"
    (package / "report").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "report" / "__init__.py").write_text("")
    (package / "core").mkdir()
    (package / "core" / "__init__.py").write_text("")
    (package / "report" / "page.py").write_text("from emotion_pipeline.core.tables import write\n")
    (package / "core" / "tables.py").write_text("import json\n")
    (package / "unused.py").write_text("")
    script = tmp_path / "stage.py"
    script.write_text("import sys\n\ndef main():\n    from emotion_pipeline.report import page\n")
    names = {p.relative_to(tmp_path).as_posix() for p in import_closure(script, tmp_path / "src")}
    assert names == {
        "stage.py",
        "src/emotion_pipeline/__init__.py",
        "src/emotion_pipeline/report/__init__.py",
        "src/emotion_pipeline/report/page.py",
        "src/emotion_pipeline/core/__init__.py",
        "src/emotion_pipeline/core/tables.py",
    }


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project with `features` and everything before it run, on the sample, at 32 px."""
    project = copy_project(tmp_path_factory.mktemp("deps"))
    write_params(project / "params.yaml", SETTINGS)
    run(project, "dvc", "repro", "features")
    return project


def changed(project: Path) -> dict[str, list]:
    """`dvc status` as {stage: what changed}; empty when everything is up to date."""
    return json.loads(run(project, "dvc", "status", "--json").strip().splitlines()[-1] or "{}")


@pytest.mark.slow
def test_changing_an_imported_constant_reruns_features(pipeline: Path) -> None:
    model = pipeline / "src/emotion_pipeline/model/network.py"
    original = model.read_text()
    assert "features" not in changed(pipeline)
    try:
        model.write_text(original.replace("BGR_MEAN = (103.939,", "BGR_MEAN = (104.0,"))
        status = changed(pipeline)
        assert "features" in status and "src/emotion_pipeline/model" in json.dumps(status["features"])
    finally:
        model.write_text(original)
    assert "features" not in changed(pipeline)


@pytest.mark.slow
def test_with_detection_off_a_face_setting_reruns_only_the_faces_stage(pipeline: Path) -> None:
    """`faces.*` is read by the faces stage alone; off, it writes what the split wrote, so nothing
    after it reruns, and nothing before it does either."""
    params = pipeline / "params.yaml"
    original = params.read_text()
    try:
        write_params(params, {**SETTINGS, "faces.margin": 0.3, "faces.fallback": "skip"})
        status = changed(pipeline)  # the stages after `features` never ran here
        assert "faces" in status and "split" not in status and "features" not in status
        output = run(pipeline, "dvc", "repro", "features")
        assert "Running stage 'faces'" in output
        for stage in ("split", "features"):
            assert f"Stage '{stage}' didn't change, skipping" in output
    finally:
        params.write_text(original)


@pytest.mark.slow
def test_mixup_leaves_the_feature_cache_alone_where_erasing_reruns_it(pipeline: Path) -> None:
    """Mixup blends batches while training; the cached views never see it."""
    params = pipeline / "params.yaml"
    original = params.read_text()
    try:
        write_params(params, {**SETTINGS, "train.mixup": 0.2, "train.finetune_epochs": 1})
        assert "features" not in changed(pipeline)
        write_params(params, {**SETTINGS, "augment.erasing": 0.5})
        assert "features" in changed(pipeline)
    finally:
        params.write_text(original)


@pytest.mark.slow
def test_an_image_edited_in_place_reruns_features(pipeline: Path) -> None:
    image = pipeline / "data/sample/happy/happy_000.jpg"
    original = image.read_bytes()
    try:
        with Image.open(image) as opened:
            pixels = np.asarray(opened.convert("RGB"))
        Image.fromarray(255 - pixels).save(image, format="JPEG")  # same name, other pixels
        run(pipeline, "dvc", "repro", "faces")  # the split, and the lists the later stages read
        status = changed(pipeline)
        assert "features" in status and "data/faces" in json.dumps(status["features"])
    finally:  # the other tests share this copy
        image.write_bytes(original)
        run(pipeline, "dvc", "repro", "faces")
    assert "features" not in changed(pipeline)


@pytest.mark.slow
def test_the_split_of_generated_faces_follows_the_sample_stage(pipeline: Path) -> None:
    """With `data.dir` on the sample stage's folder, DVC runs that stage first and the split reads
    what it drew; a change of `sample.*` reruns both."""
    params = pipeline / "params.yaml"
    original = params.read_text()
    generated = {**SETTINGS, "data.dir": "data/generated", "sample.size": 40}
    try:
        write_params(params, {**generated, "sample.per_class": 10})
        output = run(pipeline, "dvc", "repro", "split")
        assert output.index("Running stage 'sample'") < output.index("Running stage 'split'")
        listed = (pipeline / "data/split/train.csv").read_text()
        assert "data/generated/sad/sad_" in listed and "data/sample/" not in listed
        write_params(params, {**generated, "sample.per_class": 12})
        assert "sample" in changed(pipeline)
        assert "Running stage 'split'" in run(pipeline, "dvc", "repro", "split")
        counts = json.loads((pipeline / "data/split/counts.json").read_text())
        assert sum(sum(split.values()) for split in counts.values()) == 36
    finally:
        params.write_text(original)
