"""End to end: the README's offline commands in a temporary git copy of the project.

A small image size keeps it to a few minutes on 2 cores; everything else is the real pipeline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from processes import queue_workers, stopped_queue, wait_until
from project import copy_project, run, tool_env

from emotion_pipeline.core.tables import read_table
from emotion_pipeline.serving.overlays import load_heatmaps

# The slow tier: the README's commands, two experiments and a queue, in a copy of the project.
pytestmark = pytest.mark.slow

OFFLINE = [
    *("-S", "data.dir=data/sample", "-S", "model.weights=none"),
    *("-S", "image_size=32", "-S", "augment.views=2", "-S", "crossval.folds=3"),
]
PNGS = [
    "training_curves.png",
    "confusion_matrix.png",
    "test_predictions.png",
    "class_distribution.png",
    "reliability_diagram.png",
    "accuracy_coverage.png",
]
QUEUE_DEADLINE = 240  # two tiny experiments on 2 cores take well under a minute each


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh git copy of the tracked project, without any pipeline outputs."""
    return copy_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def experiments(project: Path) -> dict[str, str]:
    baseline = run(project, "dvc", "exp", "run", "-n", "baseline", *OFFLINE)
    baseline_metrics = (project / "metrics/test.json").read_text()
    baseline_report = (project / "plots/report.md").read_text()
    split_csv = (project / "data/split/test.csv").read_bytes()
    calibrated = ("-S", "epochs=30", "-S", "train.calibrate=true")
    improved = run(project, "dvc", "exp", "run", "-n", "improved", *OFFLINE, *calibrated)
    return {
        "baseline": baseline,
        "improved": improved,
        "baseline_metrics": baseline_metrics,
        "baseline_report": baseline_report,
        "improved_metrics": (project / "metrics/test.json").read_text(),
        "improved_report": (project / "plots/report.md").read_text(),
        "baseline_split": split_csv.decode(),
    }


def test_baseline_writes_metrics_and_plots(project: Path, experiments: dict[str, str]) -> None:
    metrics = json.loads(experiments["baseline_metrics"])
    for key in ("loss", "accuracy", "macro_f1", "weighted_f1", "per_class"):
        assert key in metrics
    assert set(metrics["per_class"]) == {"angry", "happy", "sad"}
    assert {"precision", "recall", "f1", "support"} <= set(metrics["per_class"]["sad"])
    assert sum(c["support"] for c in metrics["per_class"].values()) == 12
    crossval = json.loads((project / "metrics/crossval.json").read_text())
    assert crossval["folds"] == 3 and len(crossval["macro_f1"]["values"]) == 3
    accuracy = crossval["accuracy"]
    assert accuracy["mean"] == pytest.approx(sum(accuracy["values"]) / 3)
    assert accuracy["std"] == pytest.approx(float(np.std(accuracy["values"], ddof=1)))
    for name in PNGS:
        with Image.open(project / "plots" / name) as image:
            assert image.format == "PNG" and image.width > 300
    report = (project / "plots/report.md").read_text()
    assert "training_curves.png" in report and "TensorFlow" in report
    tested = [row["path"] for row in read_table(project / "metrics/predictions.csv").to_dict("records")]
    heatmaps = load_heatmaps(project / "metrics/heatmaps.npz")  # the grid's, from evaluate's pass
    assert sorted(heatmaps) == sorted(tested) and {m.shape for m in heatmaps.values()} == {(2, 2)}
    calibration = metrics["calibration"]  # off in the baseline: the model answers as trained
    assert calibration["temperature"] == 1.0 and calibration["ece"]["before"] == calibration["ece"]["after"]
    assert "Not calibrated (`train.calibrate: false`)" in experiments["baseline_report"]


def test_calibration_is_one_switch(project: Path, experiments: dict[str, str]) -> None:
    assert "train: temperature " in experiments["improved"]
    calibration = json.loads(experiments["improved_metrics"])["calibration"]
    assert calibration["temperature"] != 1.0
    assert set(calibration["ece"]) == set(calibration["brier"]) == {"before", "after"}
    assert "| calibrated |" in experiments["improved_report"]


def test_runs_print_no_library_error_lines(experiments: dict[str, str]) -> None:
    """TensorFlow's C++ log (`E0000 …` lines, such as the harmless `NodeDef mentions attribute …`
    of every parallel tf.data map) stays quiet: each stage loads TensorFlow through the package."""
    for name in ("baseline", "improved"):
        logged = [line for line in experiments[name].splitlines() if re.match(r"[EF]\d{4} ", line)]
        assert not logged, f"{name}: {logged[:3]}"


def test_improved_reuses_the_feature_cache(experiments: dict[str, str]) -> None:
    improved = experiments["improved"]
    for stage in ("base", "split", "features", "crossval_features"):
        assert f"Stage '{stage}' didn't change, skipping" in improved
    for stage in ("train", "crossval", "evaluate", "report"):
        assert f"Running stage '{stage}'" in improved
    assert "Epoch 30/30" in improved


def test_metrics_diff_and_exp_show(project: Path, experiments: dict[str, str]) -> None:
    diff = run(project, "dvc", "metrics", "diff", "baseline", "improved")
    assert "metrics/test.json" in diff and "baseline" in diff and "improved" in diff
    everything = run(project, "dvc", "metrics", "diff", "--all", "baseline", "improved")
    for metric in ("accuracy", "macro_f1", "weighted_f1", "per_class.sad.f1", "calibration.ece.after"):
        assert metric in everything
    shown = json.loads(run(project, "dvc", "exp", "show", "--json"))
    names = {
        exp["name"]: exp["data"]
        for commit in shown
        for run_ in commit.get("experiments") or []
        for exp in run_["revs"]
    }
    assert {"baseline", "improved"} <= set(names)
    epochs = {n: names[n]["params"]["params.yaml"]["data"]["epochs"] for n in ("baseline", "improved")}
    assert epochs == {"baseline": 20, "improved": 30}
    for name in ("baseline", "improved"):
        assert "accuracy" in names[name]["metrics"]["metrics/test.json"]["data"]
    table = run(project, "dvc", "exp", "show", "--no-pager")
    assert "baseline" in table and "improved" in table


def test_same_params_give_identical_split_and_metrics(project: Path, experiments: dict[str, str]) -> None:
    baseline = ("-S", "epochs=20", "-S", "train.calibrate=false")  # the workspace holds `improved`'s
    run(project, "dvc", "exp", "run", "-n", "rerun", "--force", *OFFLINE, *baseline)
    assert (project / "data/split/test.csv").read_text() == experiments["baseline_split"]
    assert (project / "metrics/test.json").read_text() == experiments["baseline_metrics"]


def experiment_epochs(project: Path) -> dict[str, int]:
    """Every experiment's name (or rev) and its `epochs` param, from `dvc exp show`."""
    shown = json.loads(run(project, "dvc", "exp", "show", "--json"))
    return {
        exp["name"] or exp["rev"]: exp["data"]["params"]["params.yaml"]["data"]["epochs"]
        for commit in shown
        for run_ in commit.get("experiments") or []
        for exp in run_["revs"]
    }


def test_queue_runs_two_experiments(project: Path, experiments: dict[str, str], tmp_path: Path) -> None:
    run(project, "dvc", "queue", "remove", "--all")  # only this run's tasks in `dvc queue status`
    before = experiment_epochs(project)
    run(project, "dvc", "exp", "run", "--queue", *OFFLINE, "-S", "epochs=2,3")
    env = tool_env(project)
    with stopped_queue(project, env), open(tmp_path / "queue.log", "w") as log:
        # The workers inherit the starting command's output: a file, never a pipe this test waits on.
        subprocess.run(
            ["dvc", "queue", "start", "-j", "2"], cwd=project, env=env, stdout=log, stderr=log, timeout=120
        )

        def finished() -> tuple[bool, str]:
            status = run(project, "dvc", "queue", "status")
            return status.count("Success") + status.count("Failed") >= 2, status

        status = wait_until(finished, QUEUE_DEADLINE)
    assert status.count("Success") == 2, status
    assert queue_workers(project) == []
    added = {name: epochs for name, epochs in experiment_epochs(project).items() if name not in before}
    assert sorted(added.values()) == [2, 3]


def test_local_remote_shares_the_cache(project: Path, experiments: dict[str, str], tmp_path: Path) -> None:
    run(project, "dvc", "remote", "add", "-f", "team", str(tmp_path / "remote"))
    run(project, "dvc", "push", "-r", "team")
    model = project / "models/model.keras"
    before = model.read_bytes()
    shutil.rmtree(project / ".dvc/cache")
    model.unlink()
    run(project, "dvc", "pull", "-r", "team")
    assert model.read_bytes() == before
