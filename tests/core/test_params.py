"""params.yaml is checked once, before any work: a bad value is one line naming it, status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from project import ROOT, load_stage, params_with, write_params

from emotion_pipeline.core.params import ParamsError, check_params, load_params

# The bad values that used to end in tracebacks or silent wrong runs, and the line each gives now.
BAD = {
    "batch_size": (0, "batch_size = 0: input should be greater than or equal to 1"),
    "precision": ("fp8", "precision = 'fp8': input should be 'float32', 'mixed_bfloat16' or 'auto'"),
    "image_size": (7, "image_size = 7: input should be greater than or equal to 32"),
    "model.dropout": (-0.1, "model.dropout = -0.1: input should be greater than or equal to 0"),
    "augment.views": (0, "augment.views = 0: input should be greater than or equal to 1"),
    "seed": (-1, "seed = -1: input should be greater than or equal to 0"),
    "data.test_fraction": (0.9, "data.test_fraction = 0.9: input should be less than or equal to 0.5"),
    "train.mode": ("onlin", "train.mode = 'onlin': input should be 'cached' or 'online'"),
    "epochs": (0, "epochs = 0: input should be greater than or equal to 1"),
    "crossval.folds": (1, "crossval.folds = 1: must be 0 (off) or at least 2"),
    "train.class_weights": ("yes", "train.class_weights = 'yes': input should be a valid boolean"),
    "model.dense_units": (12.5, "model.dense_units = 12.5: input should be a valid integer"),
    # The recipe's switches (issue 10).
    "model.batch_norm": ("yes", "model.batch_norm = 'yes': input should be a valid boolean"),
    "train.optimizer": ("adamw", "train.optimizer = 'adamw': input should be 'adam' or 'sgd'"),
    "train.weight_decay": (-0.1, "train.weight_decay = -0.1: input should be greater than or equal to 0"),
    "train.schedule": ("step", "train.schedule = 'step': input should be 'constant', 'plateau' or 'cosine'"),
    "train.select": ("best", "train.select = 'best': input should be 'last', 'val_loss' or 'val_macro_f1'"),
    "augment.rotation": (190, "augment.rotation = 190: input should be less than or equal to 180"),
    "augment.zoom": (1.0, "augment.zoom = 1.0: input should be less than 1"),
    "augment.erasing": (1.5, "augment.erasing = 1.5: input should be less than or equal to 1"),
    "train.tta": ("on", "train.tta = 'on': input should be a valid boolean"),
    "model.width_multiplier": (0, "model.width_multiplier = 0: input should be greater than 0"),
    "train.mixup": (2, "train.mixup = 2: input should be less than or equal to 1"),
    # Faces (issue 9).
    "faces.fallback": ("pad", "faces.fallback = 'pad': input should be 'whole' or 'skip'"),
    "faces.margin": (-0.1, "faces.margin = -0.1: input should be greater than or equal to 0"),
    # The generated sample (issue 11).
    "sample.per_class": (-1, "sample.per_class = -1: input should be greater than or equal to 0"),
    "sample.size": (16, "sample.size = 16: input should be greater than or equal to 32"),
}


def test_the_projects_params_are_valid() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params["epochs"] == 20 and params["model"]["weights"] == "imagenet"


@pytest.mark.parametrize("key", sorted(BAD))
def test_each_bad_value_is_named_with_what_is_allowed(key: str) -> None:
    value, message = BAD[key]
    with pytest.raises(ParamsError) as caught:
        check_params(params_with({key: value}))
    assert str(caught.value) == f"params.yaml: {message}"


def test_batch_norm_refuses_imagenet_weights_in_one_line() -> None:
    with pytest.raises(ParamsError) as caught:
        check_params(params_with({"model.batch_norm": True}))
    assert str(caught.value) == (
        "params.yaml: model.batch_norm = true: ImageNet has no weights for VGG16 with BatchNormalization; "
        "set model.weights=none (random) or a weights file of that architecture"
    )
    assert check_params(params_with({"model.batch_norm": True, "model.weights": "none"}))


def test_a_narrower_vgg16_asks_for_batch_norm() -> None:
    with pytest.raises(ParamsError) as caught:
        check_params(params_with({"model.width_multiplier": 0.5, "model.weights": "none"}))
    assert str(caught.value) == (
        "params.yaml: model.width_multiplier = 0.5: a narrower VGG16 is built only with BatchNormalization "
        "(it trains from random weights): set model.batch_norm=true"
    )
    narrow = {"model.width_multiplier": 0.5, "model.weights": "none", "model.batch_norm": True}
    assert check_params(params_with(narrow))


def test_mixup_asks_for_images_to_train_on() -> None:
    with pytest.raises(ParamsError) as caught:
        check_params(params_with({"train.mixup": 0.2}))
    assert str(caught.value) == (
        "params.yaml: train.mixup = 0.2: mixup blends images, and here only cached features train: "
        "set train.mode=online, train.trainable_base=true or train.finetune_epochs"
    )
    for images in ({"train.mode": "online"}, {"train.trainable_base": True}, {"train.finetune_epochs": 2}):
        assert check_params(params_with({"train.mixup": 0.2, **images}))


def test_the_recipe_switches_are_off_by_default() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params["model"]["batch_norm"] is False and params["train"]["tta"] is False
    assert params["model"]["width_multiplier"] == 1
    optional = ("rotation", "zoom", "brightness", "contrast", "blur", "jpeg_quality", "erasing")
    assert {k: params["augment"][k] for k in optional} == dict.fromkeys(optional, 0)
    assert params["train"]["mixup"] == 0
    switches = {k: params["train"][k] for k in ("optimizer", "weight_decay", "schedule", "select")}
    assert switches == {"optimizer": "adam", "weight_decay": 0, "schedule": "constant", "select": "last"}


def test_a_file_that_is_not_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("epochs: [20\n")
    with pytest.raises(ParamsError) as caught:
        load_params(path)
    assert str(caught.value).startswith(f"{path}: not valid YAML: ") and "\n" not in str(caught.value)


def test_unknown_and_missing_keys_are_named() -> None:
    typo = params_with({})
    typo["model"]["dropuot"] = typo["model"].pop("dropout")
    with pytest.raises(ParamsError, match=r"^params.yaml: model.dropout is missing$"):
        check_params(typo)
    del typo["model"]["dropuot"]
    typo["model"]["dropout"], typo["model"]["dropuot"] = 0.4, 0.3
    with pytest.raises(ParamsError, match=r"^params.yaml: model.dropuot is not a known param$"):
        check_params(typo)


@pytest.mark.parametrize("stage", sorted(p.stem for p in (ROOT / "stages").glob("*.py")))
def test_every_stage_stops_before_writing(
    stage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each stage checks the params first: exit status 2, one `error:` line, nothing written."""
    module = load_stage(stage)
    params = write_params(tmp_path / "params.yaml", {"batch_size": 0})
    out = tmp_path / "out"
    argv = ["--params", str(params)]
    parser_args = {
        "--out": out / "file",
        "--out-dir": out,
        "--data-dir": tmp_path,
        "--split-dir": tmp_path,
        "--features-dir": tmp_path,
        "--base": tmp_path / "base.h5",
        "--live-dir": out / "live",
        "--model": tmp_path / "model.keras",
        "--metrics": out / "metrics.json",
        "--predictions": out / "predictions.csv",
        "--heatmaps": out / "heatmaps.npz",
    }
    source = (ROOT / "stages" / f"{stage}.py").read_text()
    for flag, value in parser_args.items():
        if f'"{flag}"' in source:
            argv += [flag, str(value)]
    with pytest.raises(SystemExit) as caught:
        module.main(argv)
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: " + str(params) + ": batch_size = 0: input should be greater than or equal to 1"
    ]
    assert not out.exists()
