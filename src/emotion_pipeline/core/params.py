"""`params.yaml`: read and checked once per stage, and the switches that several stages read alike.

Every value is checked against one schema before any work starts, so a bad `dvc exp run -S` fails
at once with one line naming the param, its value and what is allowed, instead of a traceback
minutes later in a later stage.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# With both fractions at most 0.5, every class of at least MIN_PER_CLASS images keeps at least one
# image in each of train, val and test (tests/test_properties.py checks it over all sizes).
Fraction = Annotated[float, Field(gt=0, le=0.5)]
Shift = Annotated[float, Field(ge=0, lt=1)]
Probability = Annotated[float, Field(ge=0, lt=1)]
Positive = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(gt=0, le=1)]
Chance = Annotated[float, Field(ge=0, le=1)]


class ParamsError(ValueError):
    """params.yaml holds a value the pipeline cannot run with; the message says which and why."""


class _Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Data(_Section):
    dir: Annotated[str, Field(min_length=1)]
    test_fraction: Fraction
    val_fraction: Fraction


class Sample(_Section):
    per_class: Count
    size: Annotated[int, Field(ge=32, le=1024)]
    seed: Count


class Faces(_Section):
    detect: bool
    min_confidence: Annotated[float, Field(gt=0, le=1)]
    margin: Annotated[float, Field(ge=0, le=1)]
    fallback: Literal["whole", "skip"]


class Crossval(_Section):
    folds: Count  # 0 (off) or at least 2: see check_params
    finetune: bool


class Augment(_Section):
    width_shift: Shift
    height_shift: Shift
    horizontal_flip: bool
    vertical_flip: bool
    rotation: Annotated[float, Field(ge=0, le=180)]  # degrees
    zoom: Shift
    erasing: Chance
    mixup: Annotated[float, Field(ge=0, le=1)]  # Beta(alpha, alpha)'s alpha
    views: Positive


class Model(_Section):
    weights: Annotated[str, Field(min_length=1)]
    batch_norm: bool
    width_multiplier: Annotated[float, Field(gt=0, le=1)]
    grayscale: bool
    dense_units: Positive
    dropout: Probability
    learning_rate: Rate


class Train(_Section):
    mode: Literal["cached", "online"]
    early_stopping: Count
    class_weights: bool
    label_smoothing: Probability
    trainable_base: bool
    finetune_epochs: Count
    finetune_blocks: Annotated[int, Field(ge=1, le=5)]
    finetune_learning_rate: Rate
    optimizer: Literal["adam", "sgd"]
    weight_decay: Annotated[float, Field(ge=0, lt=1)]
    schedule: Literal["constant", "plateau", "cosine"]
    select: Literal["last", "val_loss", "val_macro_f1"]
    calibrate: bool


class Evaluate(_Section):
    tta: bool


class Export(_Section):
    calibration_images: Positive  # validation images the int8 exports' activation ranges come from


class Params(_Section):
    epochs: Positive
    batch_size: Positive
    seed: Count
    image_size: Annotated[int, Field(ge=32, le=1024)]  # VGG16 pools 5 times: 32 px is its minimum
    precision: Literal["float32", "mixed_bfloat16", "auto"]
    data: Data
    sample: Sample
    faces: Faces
    crossval: Crossval
    augment: Augment
    model: Model
    train: Train
    evaluate: Evaluate
    export: Export


class _Loader(yaml.SafeLoader):
    """YAML 1.2 floats: `dvc exp run -S lr=0.00001` writes `1e-05`, which YAML 1.1 reads as a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)


def _problem(path: str | Path, error: dict[str, Any]) -> str:
    name = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"{path}: {name} is missing"
    if error["type"] == "extra_forbidden":
        return f"{path}: {name} is not a known param"
    return f"{path}: {name} = {error['input']!r}: {error['msg'].lower()}"


def check_params(params: Any, path: str | Path = "params.yaml") -> dict[str, Any]:
    """`params` if every value is allowed; else `ParamsError` naming the first param that is not."""
    try:
        Params.model_validate(params)
    except ValidationError as error:
        raise ParamsError(_problem(path, error.errors(include_url=False)[0])) from None
    if params["crossval"]["folds"] == 1:
        raise ParamsError(f"{path}: crossval.folds = 1: must be 0 (off) or at least 2")
    if params["model"]["batch_norm"] and params["model"]["weights"] == "imagenet":
        raise ParamsError(
            f"{path}: model.batch_norm = true: ImageNet has no weights for VGG16 with BatchNormalization; "
            "set model.weights=none (random) or a weights file of that architecture"
        )
    if params["model"]["width_multiplier"] != 1 and not params["model"]["batch_norm"]:
        raise ParamsError(
            f"{path}: model.width_multiplier = {params['model']['width_multiplier']}: a narrower VGG16 "
            "is built only with BatchNormalization (it trains from random weights): set model.batch_norm=true"
        )
    if params["augment"]["mixup"] and not (trains_online(params) or params["train"]["finetune_epochs"]):
        raise ParamsError(
            f"{path}: augment.mixup = {params['augment']['mixup']}: mixup blends images, and here only "
            "cached features train: set train.mode=online, train.trainable_base=true or train.finetune_epochs"
        )
    return params


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The pipeline's parameters as a dict (the file DVC tracks and `dvc exp run -S` edits), checked."""
    try:
        params = read_yaml(path)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    return check_params(params, path)


def stage_params(path: str | Path) -> dict[str, Any]:
    """`load_params` for a stage's `main`: a bad value ends the stage with one `error:` line and
    status 2 before it writes anything (a failed stage also stops `dvc repro` before later ones)."""
    try:
        return load_params(path)
    except ParamsError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def trains_online(params: dict[str, Any]) -> bool:
    """Whether images go through VGG16 while training (then no feature cache is used)."""
    return params["train"]["mode"] == "online" or bool(params["train"]["trainable_base"])


def crossval_folds(params: dict[str, Any]) -> int:
    """The number of cross-validation folds, 0 when cross-validation is off."""
    return int(params["crossval"]["folds"])
