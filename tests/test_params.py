"""params.yaml is checked once, before any work: a bad value is one line naming it, status 2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from project import ROOT, params_with, write_params

from emotion_pipeline.params import ParamsError, check_params, load_params

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
    "faces.fallback": ("pad", "faces.fallback = 'pad': input should be 'whole' or 'skip'"),
    "faces.margin": (-0.1, "faces.margin = -0.1: input should be greater than or equal to 0"),
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
    spec = importlib.util.spec_from_file_location(f"stage_{stage}", ROOT / "stages" / f"{stage}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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
