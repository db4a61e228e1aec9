"""A base that learnt grey faces turns faces grey itself: the base stage marks the weights it copies
from a grey classifier (`model.grayscale` true when it trained), and the features and the trained
model built on them see grey without the flag being set again."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CLASSES, TINY_IMAGE_SIZE
from project import load_stage, write_params

from emotion_pipeline.core.params import stage_params
from emotion_pipeline.model.network import VGGPreprocess
from emotion_pipeline.model.weights import learnt_grey


@pytest.fixture(scope="module")
def grey_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier saved as a FER2013 model trained with `model.grayscale: true` is."""
    from emotion_pipeline.model.network import assemble, build_head, build_vgg16

    base = build_vgg16(None, TINY_IMAGE_SIZE)
    head = build_head(base.output_shape[1:], CLASSES, 8, 0.0)
    path = tmp_path_factory.mktemp("grey") / "fer.keras"
    assemble(base, head, CLASSES, TINY_IMAGE_SIZE, grayscale=True).save(path)
    return path


def sees_grey(model) -> bool:
    [preprocess] = [layer for layer in model.layers if isinstance(layer, VGGPreprocess)]
    return preprocess.grayscale


@pytest.mark.parametrize(
    ("weights", "flag", "grey"),
    [("grey", False, True), ("colour", False, False), ("colour", True, True), ("none", False, False)],
)
def test_features_and_model_see_grey_where_the_base_learnt_grey(
    grey_classifier: Path, model_path: Path, tmp_path: Path, weights: str, flag: bool, grey: bool
) -> None:
    from emotion_pipeline.training.features import Extractor
    from emotion_pipeline.training.trainer import Network

    source = {"grey": str(grey_classifier), "colour": str(model_path), "none": "none"}[weights]
    changes = {"model.weights": source, "model.grayscale": flag, "image_size": TINY_IMAGE_SIZE}
    params_file = write_params(tmp_path / "params.yaml", changes)
    base = tmp_path / "base.weights.h5"
    assert load_stage("base").main(["--params", str(params_file), "--out", str(base)]) == 0
    assert learnt_grey(base) is (weights == "grey")  # the flag itself is not the base's to record
    params = stage_params(params_file)
    assert sees_grey(Extractor(params, base).model) is grey
    assert sees_grey(Network.build(params, base, CLASSES).model()) is grey
