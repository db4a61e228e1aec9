"""Tests for the report stage: every figure and the Markdown page from small fake pipeline outputs."""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image
from project import load_stage, write_params

from emotion_pipeline.report import grid, inputs, reliability
from emotion_pipeline.report.figures import BEST_COLOUR
from emotion_pipeline.serving.overlays import save_heatmaps

CLASSES = ["angry", "happy", "sad"]
DVC_HASH = "0f1e2d3c4b5a69788796a5b4c3d2e1f0.dir"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = [
    "training_curves.png",
    "confusion_matrix.png",
    "test_predictions.png",
    "class_distribution.png",
    "reliability_diagram.png",
    "accuracy_coverage.png",
]
# (class, index) -> wrong prediction; every other image is predicted correctly.
ERRORS = {("angry", 1): "sad", ("sad", 0): "happy"}
PARAMS = {"data.dir": "data/raw", "data.test_fraction": 0.2, "precision": "auto"}
LOCK = f"""\
schema: '2.0'
stages:
  base:
    cmd: python stages/base.py
    deps:
    - path: data/raw
      hash: md5
      md5: not-this-one.dir
  split:
    cmd: python stages/split.py --data-dir data/raw --out-dir data/split
    deps:
    - path: stages/split.py
      hash: md5
      md5: 11111111111111111111111111111111
      size: 2100
    - path: data/raw
      hash: md5
      md5: {DVC_HASH}
      size: 12345
      nfiles: 6
"""


def _write_tsv(path: Path, metric: str, values: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"timestamp\tstep\t{metric}"] + [f"{1_700_000_000 + s}\t{s}\t{v}" for s, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _make_inputs(root: Path, repeated: bool = True) -> None:
    """A whole fake pipeline output tree: images, DVCLive logs, metrics, split counts, params, lock."""
    rows = []
    for k, name in enumerate(CLASSES):
        folder = root / "data" / "raw" / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(2):
            pixels = np.full((24, 24, 3), 60 + 60 * k, dtype=np.uint8)
            pixels[4 + 6 * i : 12 + 6 * i, 6:18] = (240, 200, 40)
            Image.fromarray(pixels).save(folder / f"{name}_{i}.png")
            rows.append((f"data/raw/{name}/{name}_{i}.png", name, ERRORS.get((name, i), name)))
    (root / "metrics").mkdir()
    (root / "metrics" / "predictions.csv").write_text(
        "path,actual,predicted,confidence,confidence_uncalibrated\n"
        + "".join(f"{p},{a},{q},{0.8 if a == q else 0.6},{0.99 if a == q else 0.9}\n" for p, a, q in rows),
        encoding="utf-8",
    )
    matrix = [[sum(1 for _, a, q in rows if a == x and q == y) for y in CLASSES] for x in CLASSES]
    per_class = {}
    for j, name in enumerate(CLASSES):
        precision = matrix[j][j] / max(1, sum(row[j] for row in matrix))
        recall = matrix[j][j] / sum(matrix[j])
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": sum(matrix[j])}
    metrics = {
        "accuracy": 4 / 6,
        "loss": 0.71,
        "macro_f1": 0.6556,
        "weighted_f1": 0.6556,
        "per_class": per_class,
        "confusion_matrix": matrix,
        "classes": CLASSES,
        "n_images": 6,
        "precision": "mixed_bfloat16",
        "calibration": {
            "temperature": 1.8,
            "ece": {"before": 0.3167, "after": 0.1333},
            "brier": {"before": 0.6012, "after": 0.4455},
        },
    }
    if repeated:
        crossval = {
            "method": "5-fold stratified",
            "folds": 5,
            "accuracy": {"mean": 0.712, "std": 0.051, "values": [0.7, 0.8, 0.65, 0.71, 0.7]},
            "macro_f1": {"mean": 0.698, "std": 0.049, "values": [0.69, 0.78, 0.64, 0.7, 0.68]},
        }
        (root / "metrics" / "crossval.json").write_text(json.dumps(crossval), encoding="utf-8")
    (root / "metrics" / "test.json").write_text(json.dumps(metrics), encoding="utf-8")
    live = root / "dvclive" / "plots" / "metrics"
    _write_tsv(live / "train" / "loss.tsv", "loss", [1.1, 0.8, 0.6, 0.45, 0.35])
    _write_tsv(live / "train" / "accuracy.tsv", "accuracy", [0.4, 0.6, 0.7, 0.8, 0.86])
    _write_tsv(live / "eval" / "loss.tsv", "loss", [1.0, 0.85, 0.7, 0.74, 0.8])
    _write_tsv(live / "eval" / "accuracy.tsv", "accuracy", [0.45, 0.55, 0.68, 0.66, 0.64])
    split = root / "data" / "split"
    split.mkdir(parents=True)
    counts = {
        "train": dict.fromkeys(CLASSES, 10),
        "val": dict.fromkeys(CLASSES, 3),
        "test": dict.fromkeys(CLASSES, 2),
    }
    (split / "counts.json").write_text(json.dumps(counts), encoding="utf-8")
    (split / "skipped.csv").write_text(
        "path,reason\ndata/raw/sad/notes.txt,not an image (unknown or unsupported format)\n", encoding="utf-8"
    )
    write_params(root / "params.yaml", PARAMS)
    (root / "dvc.lock").write_text(LOCK, encoding="utf-8")
    exports = root / "models" / "exports"
    exports.mkdir(parents=True)
    (root / "models" / "model.keras").write_bytes(bytes(4 * 2**20))
    (exports / "model.onnx").write_bytes(bytes(2 * 2**20))
    (exports / "model.int8.tflite").write_bytes(bytes(2**20 // 2))
    (exports / "README.txt").write_text("not a model\n")


@pytest.fixture
def run_stage(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], int]:
    """Run the stage's `main` with its default arguments from `root`, as DVC runs it from the repo."""
    stage = load_stage("report")

    def run(root: Path) -> int:
        monkeypatch.chdir(root)
        return stage.main([])

    return run


@pytest.fixture
def full_run(tmp_path: Path, run_stage: Callable[[Path], int]) -> Path:
    _make_inputs(tmp_path)
    assert run_stage(tmp_path) == 0
    return tmp_path / "plots"


@pytest.mark.slow
def test_every_figure_is_a_reasonable_png(full_run: Path) -> None:
    for name in FIGURES:
        path = full_run / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        assert path.stat().st_size > 5_000, name
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            width, height = image.size
        assert 400 <= width <= 2400 and 300 <= height <= 2000, (name, image.size)


@pytest.mark.slow
def test_report_has_numbers_links_params_data_and_versions(full_run: Path) -> None:
    text = (full_run / "report.md").read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert "66.7%" in text and "0.6667" in text
    assert "0.656" in text
    for name in CLASSES:
        assert f"| {name} |" in text
    for name in FIGURES:
        assert f"]({name})" in text
    assert "learning_rate: 0.001" in text and "dir: data/raw" in text
    assert DVC_HASH in text and "not-this-one" not in text
    assert "0.712 ± 0.051" in text and "over 5 folds" in text
    assert "data/raw/sad/notes.txt" in text and "not an image" in text
    assert "best validation epoch 3" in text
    assert platform.python_version() in text
    for package in ("keras", "dvc", "dvclive"):
        assert f"| {metadata.version(package)} |" in text
    assert "| mixed_bfloat16 (params: `precision: auto`) |" in text
    assert "| as trained | none | 0.3167 | 0.6012 |" in text
    assert "| calibrated | 1.800 | 0.1333 | 0.4455 |" in text
    model_files = text[text.index("## Model files") :].split("\n\n")[1].splitlines()[2:]
    assert model_files == [
        "| `model.keras` | 4.00 MiB | 100.0% |",
        "| `model.int8.tflite` | 0.50 MiB | 12.5% |",
        "| `model.onnx` | 2.00 MiB | 50.0% |",
    ]


@pytest.mark.slow
def test_missing_eval_logs_lock_and_skipped_do_not_crash(
    tmp_path: Path, run_stage: Callable[[Path], int]
) -> None:
    _make_inputs(tmp_path, repeated=False)
    shutil.rmtree(tmp_path / "dvclive" / "plots" / "metrics" / "eval")
    (tmp_path / "dvc.lock").unlink()
    (tmp_path / "data" / "split" / "skipped.csv").unlink()
    shutil.rmtree(tmp_path / "models")
    assert run_stage(tmp_path) == 0
    assert all((tmp_path / "plots" / name).stat().st_size > 5_000 for name in FIGURES)
    text = (tmp_path / "plots" / "report.md").read_text(encoding="utf-8")
    assert "`unknown`" in text
    assert "Repeated evaluation" not in text
    assert "best validation epoch" not in text
    assert "## Model files" not in text


def test_selection_puts_errors_first_and_is_order_independent() -> None:
    rows = [
        {
            "path": f"{label}/{i}.png",
            "actual": label,
            "predicted": "sad" if (label, i) == ("happy", 2) else label,
        }
        for label in ("happy", "angry", "sad")
        for i in range(4)
    ]
    rows.append({"path": "angry/9.png", "actual": "angry", "predicted": "happy"})
    chosen = grid.select_predictions(rows, limit=6)
    assert [item.path for item in chosen[:2]] == ["angry/9.png", "happy/2.png"]
    # Correct ones take turns across classes, so all three appear right after the errors.
    assert [item.actual for item in chosen[2:5]] == ["angry", "happy", "sad"]
    assert len(chosen) == 6
    assert grid.select_predictions(list(reversed(rows)), limit=6) == chosen
    assert len(grid.select_predictions(rows, limit=100)) == len(rows)


def test_titles_are_green_when_right_and_red_when_wrong() -> None:
    right = grid.GridItem("a.png", "happy", "happy")
    wrong = grid.GridItem("b.png", "sad", "angry")
    assert right.title == "true: happy / pred: happy"
    assert wrong.title == "true: sad / pred: angry"
    r, g, b = to_rgb(right.colour)
    assert g > r and g > b
    r, g, b = to_rgb(wrong.colour)
    assert r > g and r > b


def test_read_curve_uses_epoch_from_step_and_keeps_the_last_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "loss.tsv"
    path.write_text("timestamp\tstep\tloss\n1\t0\t0.9\n2\t1\t0.7\n3\t1\t0.6\n4\t2\t0.5\n", encoding="utf-8")
    curve = inputs.read_curve(path)
    assert curve is not None
    assert curve.epochs.tolist() == [1, 2, 3]
    assert curve.values.tolist() == [0.9, 0.6, 0.5]
    assert inputs.read_curve(tmp_path / "absent.tsv") is None


def test_data_hash_matches_the_split_dependency_on_the_data_folder(tmp_path: Path) -> None:
    lock = tmp_path / "dvc.lock"
    lock.write_text(LOCK, encoding="utf-8")
    assert inputs.data_hash(lock, "data/raw") == DVC_HASH
    assert inputs.data_hash(lock, "./data/raw/") == DVC_HASH
    assert inputs.data_hash(lock, "data/other") == "unknown"
    assert inputs.data_hash(lock, None) == "unknown"
    assert inputs.data_hash(tmp_path / "absent.lock", "data/raw") == "unknown"


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB")).astype(int)


def redness(image: np.ndarray) -> float:
    """The share of pixels that are red, not yellow or grey: the hot end of the heatmap's colours."""
    return float((image[..., 0] - image[..., 1:].max(axis=-1) > 50).mean())


@pytest.mark.slow
def test_report_draws_the_evaluate_stages_heatmaps_when_they_are_there(
    tmp_path: Path, run_stage: Callable[[Path], int]
) -> None:
    _make_inputs(tmp_path)
    assert run_stage(tmp_path) == 0
    grid_png = tmp_path / "plots" / "test_predictions.png"
    plain = pixels(grid_png)
    rows = inputs.read_predictions(tmp_path / "metrics" / "predictions.csv")
    hot = [np.ones((2, 2)) for _ in rows]  # evidence everywhere: the tiles turn red
    save_heatmaps(tmp_path / "metrics" / "heatmaps.npz", [row["path"] for row in rows], hot)
    assert run_stage(tmp_path) == 0
    explained = pixels(grid_png)
    red = [redness(image) for image in (plain, explained)]
    assert red[1] > red[0] + 0.2, red


@pytest.mark.slow
def test_grid_tiles_lay_each_images_heatmap_over_it(tmp_path: Path) -> None:
    _make_inputs(tmp_path)
    rows = inputs.read_predictions(tmp_path / "metrics" / "predictions.csv")
    drawn = {}
    for name, maps in (
        ("plain", None),
        ("one", {rows[0]["path"]: np.ones((2, 2))}),
        ("all", {row["path"]: np.ones((2, 2)) for row in rows}),
    ):
        drawn[name] = pixels(
            grid.plot_test_predictions(rows, tmp_path / f"{name}.png", root=tmp_path, heatmaps=maps)
        )
    red = {name: redness(image) for name, image in drawn.items()}
    assert red["plain"] < red["one"] < red["all"], red


def test_reliability_without_confidences_is_a_placeholder(tmp_path: Path) -> None:
    """No curve and no counts, only the message: nothing is drawn in the curve's colour."""
    rows = [{"path": "a.png", "actual": "sad", "predicted": "sad"}]
    curve = np.array(to_rgb(reliability.AFTER_COLOUR)) * 255
    message = np.array(to_rgb(BEST_COLOUR)) * 255

    def share(image: np.ndarray, colour: np.ndarray) -> float:
        return float((np.abs(image - colour).max(axis=-1) < 40).mean())

    drawn = pixels(reliability.plot_reliability([{**rows[0], "confidence": "0.9"}], {}, tmp_path / "d.png"))
    empty = pixels(reliability.plot_reliability(rows, {}, tmp_path / "reliability.png"))
    assert share(drawn, curve) > 0.001 and share(empty, curve) == 0
    assert share(empty, message) > 0  # the message says why
