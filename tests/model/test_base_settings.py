"""A transfer from a classifier this pipeline trained takes the base's own settings (layout, grey
pixels, image size) from its file, whatever the params say, and says which it took."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from project import ROOT, load_stage, params_with, write_params

CLASSES = ["angry", "happy", "sad"]
NARROW = {"image_size": 48, "model.batch_norm": True, "model.width_multiplier": 0.5, "model.grayscale": True}


@pytest.fixture(scope="module")
def narrow_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A half-width, BatchNorm, grey-pixel classifier trained (so to speak) at 48 px: FER2013's kind."""
    from emotion_pipeline.model.network import assemble, build_head, build_vgg16

    base = build_vgg16(None, 48, batch_norm=True, width_multiplier=0.5)
    head = build_head(base.output_shape[1:], CLASSES, 8, 0.0)
    path = tmp_path_factory.mktemp("narrow") / "fer.keras"
    assemble(base, head, CLASSES, 48, grayscale=True).save(path)
    return path


def test_the_base_settings_are_read_from_the_file_without_tensorflow(
    narrow_path: Path, model_path: Path
) -> None:
    script = (
        "import sys\n"
        "from emotion_pipeline.model.weights import base_settings\n"
        f"print(base_settings({str(narrow_path)!r}), base_settings({str(model_path)!r}))\n"
        "print('tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    settings, loaded = done.stdout.strip().splitlines()
    stock = {
        "image_size": 32,
        "model.batch_norm": False,
        "model.width_multiplier": 1.0,
        "model.grayscale": False,
    }
    assert settings == f"{NARROW} {stock}" and loaded == "False"


def test_params_follow_the_base_and_one_line_names_what_was_taken(
    narrow_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from emotion_pipeline.model.weights import follow_base

    params = params_with({"model.weights": str(narrow_path), "model.width_multiplier": 1.0})
    followed = follow_base(params, "train")
    assert followed["image_size"] == 48 and followed["model"]["batch_norm"] is True
    assert followed["model"]["width_multiplier"] == 0.5 and followed["model"]["grayscale"] is True
    assert params["image_size"] == 224 and params["model"]["batch_norm"] is False  # not changed in place
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"train: taken from the base {narrow_path}: image_size=48 (params: 224), model.batch_norm=true "
        "(params: false), model.width_multiplier=0.5 (params: 1.0), model.grayscale=true (params: false)"
    ]
    assert follow_base(followed, "train") == followed and capsys.readouterr().out == ""  # in step: silent
    other = params_with({"model.weights": "none"})
    assert follow_base(other, "train") is other


def test_a_keras_file_that_is_no_classifier_ends_the_stage_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from emotion_pipeline.model.weights import follow_base

    other = tmp_path / "other.keras"
    other.write_bytes(b"not a zip")
    with pytest.raises(SystemExit) as ended:
        follow_base(params_with({"model.weights": str(other)}), "base")
    assert ended.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: model.weights {other}: not a classifier saved by this pipeline "
        "(BadZipFile: File is not a zip file)"
    ]


def test_the_base_stage_copies_a_base_of_other_settings_than_the_params(
    narrow_path: Path, tmp_path: Path
) -> None:
    """Once refused with a line naming each value to set; now the base's values are taken."""
    from emotion_pipeline.model.network import build_vgg16, load_classifier

    params = write_params(tmp_path / "params.yaml", {"model.weights": str(narrow_path)})
    saved = tmp_path / "base.weights.h5"
    assert load_stage("base").main(["--params", str(params), "--out", str(saved)]) == 0
    base = build_vgg16(saved, 48, batch_norm=True, width_multiplier=0.5)
    trained = load_classifier(narrow_path)[0].get_layer("vgg16")
    for layer in ("block1_conv1", "block5_conv3", "block5_conv3_bn"):
        for ours, theirs in zip(
            base.get_layer(layer).get_weights(), trained.get_layer(layer).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(ours, theirs)
