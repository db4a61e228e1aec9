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

from emotion_pipeline.core.interrupt import report_interrupts
from emotion_pipeline.core.recipes import CONF, recipe_names

# With both fractions at most 0.5, every class of at least MIN_PER_CLASS images keeps at least one
# image in each of train, val and test (tests/data/test_properties.py checks it over all sizes).
Fraction = Annotated[float, Field(gt=0, le=0.5)]
Shift = Annotated[float, Field(ge=0, lt=1)]
Probability = Annotated[float, Field(ge=0, lt=1)]
Positive = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(gt=0, le=1)]
Chance = Annotated[float, Field(ge=0, le=1)]
SELECTABLE = {"val_loss": "min", "val_macro_f1": "max"}  # train.select's metrics, and which way is better


class ParamsError(ValueError):
    """params.yaml holds a value the pipeline cannot run with; the message says which and why."""


class _Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


def _(description: str) -> Any:
    """A required field with its description: the schema is the one place a param is explained
    (docs/params.md is generated from it)."""
    return Field(description=description)


class Data(_Section):
    """The dataset and its split (read by the split stage)."""

    dir: Annotated[str, Field(min_length=1)] = _("a folder with one sub-folder of images per class")
    test_fraction: Fraction = _("share of each class held out for the test split, drawn first")
    val_fraction: Fraction = _("share of what the test split leaves, kept for validation")


class Sample(_Section):
    """The sample stage's synthetic faces in data/generated (train on them with data.dir=data/generated)."""

    per_class: Count = _("drawings of each class; 0 = off (an empty folder)")
    size: Annotated[int, Field(ge=32, le=1024)] = _("pixels a side")
    seed: Count = _("the drawings' seed")


class Faces(_Section):
    """Find faces in photos; train, evaluate and serve on the largest face's square crop."""

    detect: bool = _("false: whole images, the report's way")
    min_confidence: Annotated[float, Field(gt=0, le=1)] = _(
        "MTCNN's confidence; below 0.9 about half of what it finds on web photos is not a face"
    )
    margin: Annotated[float, Field(ge=0, le=1)] = _(
        "crop side = the face's larger side x (1 + 2 x margin); 0.1 frames faces as FER2013 does"
    )
    fallback: Literal["whole", "skip"] = _(
        "no face found: whole (use the whole image) | skip (leave it out, listed in skipped.csv)"
    )
    align: bool = _("turn each face so its eyes are level (MTCNN's eye keypoints) before the crop")


class Crossval(_Section):
    """k-fold scores of the head recipe over all images (the crossval stages)."""

    folds: Count = _("k >= 2: stratified k-fold over all images (mean ± std); 0 = off")  # 1: check_params
    finetune: bool = _("each fold also fine-tunes as train.finetune_* say (online: slow at 224 px)")


class Augment(_Section):
    """Augmentation of training images only (the feature cache's views, or online batches)."""

    width_shift: Shift = _("random horizontal shift, a fraction of the width")
    height_shift: Shift = _("random vertical shift, a fraction of the height")
    horizontal_flip: bool = _("random mirror images")
    vertical_flip: bool = _("random upside-down images (off for faces: a smile becomes a frown)")
    rotation: Annotated[float, Field(ge=0, le=180)] = _(
        "random rotation up to this many degrees either way; 0 = off"
    )
    zoom: Shift = _("random zoom: 0.2 scales by 0.8 to 1.2; 0 = off")
    brightness: Shift = _("random brightness: 0.2 adds up to ±20% of the 0-255 range to an image; 0 = off")
    contrast: Shift = _("random contrast: 0.3 scales an image's deviations from its mean by 0.7-1.3; 0 = off")
    blur: Annotated[float, Field(ge=0, le=4)] = _(
        "Gaussian blur of half the training images, sigma drawn up to this many pixels; 0 = off"
    )
    jpeg_quality: Annotated[int, Field(ge=0, le=100)] = _(
        "each training image re-encoded as a JPEG of a quality drawn from this to 100; 0 = off"
    )
    erasing: Chance = _("probability of replacing a random rectangle of the image by noise; 0 = off")
    views: Positive = _(
        "augmented views of each training image in the feature cache; epoch e trains on view e mod views"
    )


class Model(_Section):
    """The network: VGG16's base and the report's head."""

    weights: Annotated[str, Field(min_length=1)] = _(
        "imagenet | none (random) | a VGG16 weights file | a classifier this pipeline trained (.keras)"
    )
    batch_norm: bool = _("BatchNormalization after each VGG16 convolution, to train from random weights")
    width_multiplier: Annotated[float, Field(gt=0, le=1)] = _(
        "VGG16's filters per convolution x this, with batch_norm: 0.5 trains ~3x faster"
    )
    grayscale: bool = _(
        "grey pixels in all three channels, inside the model: for a base that learnt grey faces"
    )
    dense_units: Positive = _("units of the head's Dense layer")
    dropout: Probability = _("dropout before the softmax")
    learning_rate: Rate = _("the optimizer's (peak) learning rate")


class Train(_Section):
    """How the train stage learns: the recipe switches, all off in the baseline."""

    mode: Literal["cached", "online"] = _(
        "cached: the head learns from cached VGG16 features | online: augment through VGG16 every epoch"
    )
    early_stopping: Count = _(
        "patience in epochs on select's metric (val_loss for last), its best epoch kept; 0 = off"
    )
    class_weights: bool = _("weight classes inversely to their frequency")
    label_smoothing: Probability = _("share of each one-hot label spread over the other classes")
    trainable_base: bool = _("train all of VGG16 too (for random weights); implies online")
    finetune_epochs: Count = _("phase 2: unfreeze the last blocks of VGG16 and train on at a low rate")
    finetune_blocks: Annotated[int, Field(ge=1, le=5)] = _("VGG16 blocks unfrozen in phase 2, from the top")
    finetune_learning_rate: Rate = _("phase 2's learning rate")
    optimizer: Literal["adam", "sgd"] = _("adam | sgd (Nesterov momentum 0.9)")
    weight_decay: Annotated[float, Field(ge=0, lt=1)] = _(
        "decoupled weight decay per step, scaled by the learning rate; 0 = off"
    )
    schedule: Literal["constant", "plateau", "cosine"] = _(
        "constant | plateau (x0.75 after 5 epochs of no better val accuracy) | cosine, 1-epoch warm-up"
    )
    select: Literal["last", "val_loss", "val_macro_f1"] = _(
        "weights kept: last | val_loss | val_macro_f1: the best epoch's, over both phases"
    )
    calibrate: bool = _(
        "fit a temperature on the validation split: calibrated probabilities (ECE in metrics)"
    )
    tta: bool = _("test-time views saved in the model: it answers the mean over 6 (image, mirror, 4 shifts)")
    mixup: Annotated[float, Field(ge=0, le=1)] = _(
        "alpha of Beta(alpha, alpha): each training image blended with another, labels alike "
        "(where images train); 0 = off"
    )


class EmotionBase(_Section):
    """The emotion model a photo recipe transfers from, trained first by the emotion_base stage."""

    recipe: Annotated[str, Field(min_length=1)] = _("a recipe of conf/recipe/ to train it with | none (off)")
    data_dir: Annotated[str, Field(min_length=1)] = _("its data: one sub-folder of images per class")
    overrides: list[str] = _("`key=value` settings on top of its recipe, as `dvc exp run -S` takes them")


class Export(_Section):
    """The export stage: the classifier as ONNX and TFLite files, float and int8."""

    enabled: bool = _("write the exports (minutes for a 224-px VGG16): off, the stage leaves a note")
    calibration_images: Positive = _("validation images the int8 exports' activation ranges come from")


class Params(_Section):
    """Every param of the pipeline: composed by `dvc exp run` from conf/ (a recipe and `-S` overrides)."""

    recipe: Annotated[str, Field(min_length=1)] = _("the recipe params.yaml was composed from (conf/recipe/)")
    epochs: Positive = _("training epochs (phase 1)")
    batch_size: Positive = _("images per training step (of all GPUs together)")
    seed: Count = _("the split's, the initialisation's and the augmentation's seed")
    image_size: Annotated[int, Field(ge=32, le=1024)] = _(
        "pixels a side the network reads (VGG16 pools 5 times: 32 is its minimum)"
    )
    precision: Literal["float32", "mixed_bfloat16", "auto"] = _(
        "float32 | mixed_bfloat16 | auto (bfloat16 where the CPU or GPU runs it fast)"
    )
    data: Data
    sample: Sample
    faces: Faces
    crossval: Crossval
    augment: Augment
    model: Model
    train: Train
    emotion_base: EmotionBase
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
    known = recipe_names(Path(path).parent / CONF)
    if known and params["recipe"] not in known:
        raise ParamsError(
            f"{path}: recipe = {params['recipe']!r}: not a recipe; the recipes: {', '.join(known)}"
        )
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
    if params["train"]["mixup"] and not (trains_online(params) or params["train"]["finetune_epochs"]):
        raise ParamsError(
            f"{path}: train.mixup = {params['train']['mixup']}: mixup blends images, and here only "
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
    status 2 before it writes anything (a failed stage also stops `dvc repro` before later ones).
    Every stage calls it first, so from here on Ctrl-C ends the stage with one line, not a traceback."""
    report_interrupts()
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


def selected_metric(train: dict[str, Any]) -> str | None:
    """The validation metric whose best epoch is kept and early stopping watches: `train.select`,
    or validation loss where only early stopping is on; None: the last epoch's weights are kept."""
    if train["select"] != "last":
        return str(train["select"])
    return "val_loss" if train["early_stopping"] else None
