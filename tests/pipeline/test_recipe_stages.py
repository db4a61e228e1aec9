"""The recipe's switches through the real stages (base → split → features → train → evaluate), run
in-process on the sample at 32 px: from the feature cache and online, each saving TTA in the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from project import ROOT, load_stage, write_params
from sklearn.metrics import f1_score

from emotion_pipeline.data.images import load_image
from emotion_pipeline.data.splitting import read_split
from emotion_pipeline.report.inputs import read_curve
from emotion_pipeline.serving.predict import Classifier
from emotion_pipeline.training.feature_cache import load_features

# The slow tier: every stage, twice (one recipe each).
pytestmark = pytest.mark.slow

SMALL = {
    **{
        "data.dir": str(ROOT / "data/sample"),
        "model.weights": "none",
        "image_size": 32,
        "precision": "float32",
    },
    **{"augment.views": 1, "batch_size": 16, "epochs": 2, "train.tta": True, "model.batch_norm": True},
}
RECIPES = {
    "cached": {
        **{"train.select": "val_macro_f1", "train.schedule": "plateau", "train.finetune_epochs": 1},
        **{"augment.rotation": 10, "augment.zoom": 0.1, "augment.erasing": 0.5, "train.mixup": 0.2},
    },
    "online": {
        **{"train.trainable_base": True, "train.optimizer": "sgd", "train.schedule": "cosine"},
        **{"train.weight_decay": 0.0005, "train.early_stopping": 1, "train.select": "val_loss"},
        "train.mixup": 0.4,
        **{"augment.brightness": 0.2, "augment.contrast": 0.2, "augment.blur": 1.0},
        "augment.jpeg_quality": 30,
    },
}


def run_stage(name: str, params: Path, **paths: Path) -> None:
    argv = ["--params", str(params)]
    for flag, path in paths.items():
        argv += [f"--{flag.replace('_', '-')}", str(path)]
    assert load_stage(name).main(argv) == 0


@pytest.fixture(scope="module", params=sorted(RECIPES))
def pipeline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp(request.param)
    params = write_params(out / "params.yaml", {**SMALL, **RECIPES[request.param]})
    base, split, features, live = out / "base.weights.h5", out / "split", out / "features", out / "live"
    model = out / "model.keras"
    run_stage("base", params, out=base)
    run_stage("split", params, data_dir=ROOT / "data/sample", out_dir=split)
    run_stage("features", params, split_dir=split, base=base, out_dir=features)
    run_stage("train", params, split_dir=split, features_dir=features, base=base, live_dir=live, out=model)
    metrics = out / "metrics.json"
    run_stage(
        "evaluate",
        params,
        model=model,
        split_dir=split,
        metrics=metrics,
        predictions=out / "p.csv",
        heatmaps=out / "h.npz",
    )
    return {"recipe": request.param, "out": out, "model": model, "live": live, "split": split}


def test_the_saved_model_carries_tta_and_the_batch_norm_base(pipeline: dict[str, Any]) -> None:
    classifier = Classifier(pipeline["model"])
    names = [layer.name for layer in classifier.model.layers]
    assert names == [
        *(
            "image",
            "augmentation",
            "tta_views",
            "vgg16_preprocess",
            "vgg16",
            "head",
            "tta_mean",
            "class_names",
        )
    ]
    assert classifier.model.get_layer("vgg16").get_layer("block5_conv3_bn") is not None
    augmentation = [type(layer).__name__ for layer in classifier.model.get_layer("augmentation").layers]
    expected = ["RandomTranslation", "RandomFlip"]
    expected += {
        "cached": ["RandomRotation", "RandomZoom", "RandomErasing"],
        "online": ["RandomBrightness", "RandomContrast", "RandomGaussianBlur", "RandomJpegQuality"],
    }[pipeline["recipe"]]
    assert augmentation == expected
    paths, _ = read_split(pipeline["split"] / "test.csv")
    result = classifier.predict_files(paths)
    assert len(result.paths) == len(paths) and np.allclose(np.sum(result.probabilities, axis=1), 1, atol=1e-5)


def test_each_epoch_logs_its_learning_rate_and_macro_f1(pipeline: dict[str, Any]) -> None:
    metrics = pipeline["live"] / "plots" / "metrics"
    curves = {name: read_curve(metrics / f"{name}.tsv") for name in ("learning_rate", "eval/macro_f1")}
    assert all(curve is not None for curve in curves.values())
    rates, scores = curves["learning_rate"].values, curves["eval/macro_f1"].values
    if pipeline["recipe"] == "cached":  # two epochs of the head at 0.001, one of fine-tuning at 1e-5
        np.testing.assert_allclose(rates, [1e-3, 1e-3, 1e-5], rtol=1e-6)
        assert load_features(pipeline["out"] / "features", "train").views is not None
    else:  # cosine: warm-up to 0.001 over the first epoch, 0 at the end of the second
        np.testing.assert_allclose(rates, [1e-3, 0.0], rtol=1e-6, atol=1e-9)
    assert len(scores) == len(rates)
    # The epoch train.select names is the one kept: its logged macro-F1 is the saved model's on the
    # validation images, run as validation ran them (without the test-time views).
    losses = read_curve(metrics / "eval/loss.tsv").values
    select = RECIPES[pipeline["recipe"]]["train.select"]
    kept = int(np.argmax(scores)) if select == "val_macro_f1" else int(np.argmin(losses))
    classifier = Classifier(pipeline["model"])
    paths, labels = read_split(pipeline["split"] / "val.csv")
    x = np.stack([load_image(path, classifier.image_size) for path in paths])
    for name in ("vgg16_preprocess", "vgg16", "head"):
        x = classifier.model.get_layer(name)(x)
    predicted = [classifier.classes[i] for i in np.asarray(x).argmax(axis=1)]
    assert f1_score(labels, predicted, average="macro") == pytest.approx(scores[kept], abs=1e-4)
    header, *rows = (metrics / "learning_rate.tsv").read_text().splitlines()
    stamps = [int(row.split("\t")[0]) for row in rows]  # ms: what bench/gpu_fer.py times epochs by
    assert header.split("\t") == ["timestamp", "step", "learning_rate"] and stamps == sorted(stamps)
