"""Benchmark: photos, not just faces. What MTCNN finds in a folder dataset, what it costs per image
and per web request, and what training on face crops (and on a FER2013-trained base) is worth.

    python bench/faces.py --data ../shared/datasets/web-emotions                       # (a), (b)
    python bench/faces.py --data ../shared/datasets/web-emotions --fer-model fer.keras  # (a)-(d)
    python bench/faces.py --data DIR --fer-model fer.keras --runs c --seeds 42 1 2 3  # (c), 4 draws

Prints: images with 0 / 1 / several faces and the detection time per image (p50, p90); the added
latency of one `/api/predict` with a 1-megapixel photo (p50 over 20 requests, in-process, a face
model against a whole-image one); and k-fold accuracy and macro-F1 (mean ± std, `crossval.folds`)
from `dvc exp run` in a throw-away project copy for (a) whole images, random base; (b) face crops,
random base; (c) face crops on a FER2013-trained base, the report's head; (d) as (c), the last VGG16
block fine-tuned, in each fold as in the final model (`crossval.finetune`); (e) the FER2013 model
itself on the same folds' face crops, untrained on the photos: the bar every photo recipe must clear.
With `--seeds`, each run once per seed (other folds, other initial weights), then the mean of their
macro-F1. With `--heldout-faces` (a split list of faces the FER2013 model never trained on, such as
its run's `faces/test.csv`), each run's photo model and (e) are also scored on those faces: a photo
model that forgets what its base knew scores less there than (e).
    python bench/faces.py --data DIR --fer-model models/emotion_base/model.keras \
        --heldout-faces models/emotion_base/faces/test.csv --runs c e
With `--set KEY=VALUE ...`, every run takes those params on top (`-S`), e.g. to measure an augmentation
on the photo model: `--runs c --set augment.jpeg_quality=30`.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from project_copy import copy_project, figures, timed
from random_model import PHOTO_SIZE, one_megapixel_jpeg, random_classifier

from emotion_pipeline.data.faces import detect, warm_up
from emotion_pipeline.data.folders import find_images
from emotion_pipeline.data.images import ImageError, load_image, load_photo
from emotion_pipeline.data.splitting import SPLITS, read_split

ONE_MEGAPIXEL_PHOTO = "Angry/Angry-Customer.jpg"  # one face; resized to PHOTO_SIZE
REQUESTS = 20


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def census(data: Path) -> None:
    """Faces found per image (0 / 1 / several) and detection time (area-capped copy + MTCNN)."""
    candidates, _ = find_images(data)
    counts, seconds = [0, 0, 0], []
    warm_up()
    for candidate in candidates:
        try:
            image = load_photo(candidate.path).image
        except ImageError:
            continue
        started = time.perf_counter()
        found = detect(image)
        seconds.append(time.perf_counter() - started)
        counts[min(2, len(found))] += 1
    print(
        f"faces: {sum(counts)} images: {counts[0]} without a face, {counts[1]} with one, {counts[2]} with "
        f"several; detection p50 {percentile(seconds, 50) * 1000:.0f} ms, "
        f"p90 {percentile(seconds, 90) * 1000:.0f} ms per image"
    )


def api_latency(data: Path, image_size: int) -> None:
    """p50 of `/api/predict` for a 1-megapixel photo, whole-image model against face model."""
    from emotion_pipeline.serving.webapp import create_app

    upload = one_megapixel_jpeg(data / ONE_MEGAPIXEL_PHOTO)
    p50 = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("whole", "faces"):
            model = random_classifier(Path(tmp) / f"{name}.keras", image_size, faces=name == "faces")
            client = create_app(model).test_client()
            times = []
            for index in range(REQUESTS + 2):  # two warm-up requests
                started = time.perf_counter()
                response = client.post("/api/predict", data={"file": (io.BytesIO(upload), "photo.jpg")})
                assert response.status_code == 200, response.get_json()
                if index >= 2:
                    times.append(time.perf_counter() - started)
            p50[name] = statistics.median(times)
    print(
        f"api: {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG, p50 over {REQUESTS} requests at {image_size} px: "
        f"whole image "
        f"{p50['whole'] * 1000:.0f} ms, with face detection {p50['faces'] * 1000:.0f} ms "
        f"(+{(p50['faces'] - p50['whole']) * 1000:.0f} ms)"
    )


def fer_base_layout(model: Path) -> tuple[int, bool, float]:
    """A FER2013 classifier's input size, whether its VGG16 has BatchNormalization, and its width
    multiplier: the runs on its base take all three (`image_size`, `model.batch_norm`,
    `model.width_multiplier`)."""
    from emotion_pipeline.model.weights import base_settings

    settings = base_settings(model)
    return settings["image_size"], settings["model.batch_norm"], settings["model.width_multiplier"]


def scores(model_path: Path, paths: list[str], labels: list[str]) -> tuple[float, float]:
    """Accuracy and macro-F1 of a saved classifier on images that are faces already (no detection:
    each image is the face), over the classes it answers; images of other classes are left out. A
    model answering more classes than the labels name (seven emotions, scored on angry, happy and sad)
    answers among the labels' classes: the argmax over those columns."""
    from emotion_pipeline.model.metrics import classification_metrics
    from emotion_pipeline.model.network import load_classifier

    model, classes, size = load_classifier(model_path)
    named = {name.lower(): name for name in classes}  # web-emotions says Angry where FER2013 says angry
    kept = [
        (path, named[label.lower()])
        for path, label in zip(paths, labels, strict=True)
        if label.lower() in named
    ]
    pixels = np.stack([load_image(path, size) for path, _ in kept])
    probabilities = model.predict(pixels, batch_size=64, verbose=0)
    asked = [name for name in classes if name in {label for _, label in kept}]
    columns = [classes.index(name) for name in asked]
    found = classification_metrics([label for _, label in kept], probabilities[:, columns], asked)
    return found["accuracy"], found["macro_f1"]


def untrained_on_photos(project: Path, fer_model: Path, folds: int, seed: int) -> str:
    """(e): the FER2013 model on the project's face crops (all splits), scored per stratified fold as
    the crossval stage draws them: mean ± std of macro-F1, and its accuracy."""
    from sklearn.model_selection import StratifiedKFold

    listed = [read_split(project / f"data/faces/{name}.csv") for name in SPLITS]
    paths = [str(project / p) for split_paths, _ in listed for p in split_paths]
    labels = [label for _, split_labels in listed for label in split_labels]
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    per_fold = [
        scores(fer_model, [paths[i] for i in held], [labels[i] for i in held])
        for _, held in splitter.split(paths, labels)
    ]
    accuracy, macro_f1 = (np.array(column) for column in zip(*per_fold, strict=True))
    return (
        f"accuracy {accuracy.mean():.3f} ± {accuracy.std():.3f}, "
        f"macro-F1 {macro_f1.mean():.3f} ± {macro_f1.std():.3f} over {folds} folds"
    )


def crossval(
    data: Path,
    image_size: int,
    folds: int,
    fer_model: Path | None,
    fer_size: int | None,
    chosen: list[str],
    seeds: list[int],
    heldout: tuple[list[str], list[str]] | None,
    settings: list[str],
) -> None:
    """The chosen runs of (a)-(d) as k-fold figures from `dvc exp run` in a throw-away copy of the
    project; with several seeds (other folds, other initial weights), each, then their mean."""
    common = ["-S", f"data.dir={data.resolve()}", "-S", f"crossval.folds={folds}"]
    common += [flag for setting in settings for flag in ("-S", setting)]
    size = ["-S", f"image_size={image_size}"]
    runs = {
        "(a) whole images, random base": [*size, "-S", "model.weights=none", "-S", "faces.detect=false"],
        "(b) face crops, random base": [*size, "-S", "model.weights=none", "-S", "faces.detect=true"],
    }
    if fer_model is None:
        print("(c), (d): skipped: give --fer-model PATH, a FER2013 classifier trained by this pipeline")
    else:
        trained_size, batch_norm, width = fer_base_layout(fer_model)
        fer_size = fer_size or trained_size
        fer = [  # the base learnt grey, upright faces: crops go in grey, and are never flipped upside down
            *("-S", f"image_size={fer_size}", "-S", f"model.weights={fer_model.resolve()}"),
            *("-S", f"model.batch_norm={str(batch_norm).lower()}", "-S", f"model.width_multiplier={width:g}"),
            *("-S", "faces.detect=true", "-S", "model.grayscale=true", "-S", "augment.vertical_flip=false"),
        ]
        runs["(c) face crops, FER2013 base, the report's head"] = fer
        runs["(d) as (c), last block fine-tuned"] = [  # in each fold too, not only for the test split
            *fer,
            *(
                "-S",
                "train.finetune_epochs=10",
                "-S",
                "train.finetune_blocks=1",
                "-S",
                "crossval.finetune=true",
            ),
        ]
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_project(Path(tmp))
        for name, extra in runs.items():
            if name[1] not in chosen:  # "(c) face crops, …" is run c
                continue
            macro_f1 = []
            for seed in seeds or [None]:
                drawn = ["-S", f"seed={seed}"] if seed is not None else []
                seconds, _, _ = timed(project, "dvc", "exp", "run", *common, *extra, *drawn)
                shown = f" (seed {seed})" if seed is not None else ""
                print(f"{name}{shown}: {seconds:.0f} s; {figures(project)}")
                result = json.loads((project / "metrics/crossval.json").read_text())
                macro_f1.append(result["macro_f1"]["mean"])
                if heldout:
                    accuracy, f1 = scores(project / "models/model.keras", *heldout)
                    print(f"{name}{shown}, held-out faces: accuracy {accuracy:.3f}, macro-F1 {f1:.3f}")
            if len(macro_f1) > 1:
                drawn = ", ".join(map(str, seeds))
                print(f"{name}: mean macro-F1 over seeds {drawn}: {statistics.mean(macro_f1):.3f}")
        if fer_model is not None and "e" in chosen:
            name = "(e) the FER2013 model itself, untrained on the photos"
            for seed in seeds or [42]:
                run_faces = ["-S", f"seed={seed}", "-S", "faces.detect=true"]
                timed(project, "dvc", "exp", "run", *common, *run_faces, "faces")
                print(f"{name} (seed {seed}): {untrained_on_photos(project, fer_model, folds, seed)}")
            if heldout:  # over the photos' classes, as the photo models are scored there
                asked = {label.lower() for label in read_split(project / "data/faces/train.csv")[1]}
                kept = [(path, label) for path, label in zip(*heldout, strict=True) if label.lower() in asked]
                accuracy, f1 = scores(fer_model, [path for path, _ in kept], [label for _, label in kept])
                print(f"{name}, held-out faces: accuracy {accuracy:.3f}, macro-F1 {f1:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="folder dataset, e.g. web-emotions")
    parser.add_argument(
        "--fer-model", type=Path, help="a FER2013 classifier (.keras) trained by this pipeline"
    )
    parser.add_argument("--image-size", type=int, default=96, help="(a), (b): the input size")
    parser.add_argument(
        "--fer-size", type=int, help="(c), (d): the input size (default: the FER2013 model's own)"
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-crossval", action="store_true", help="only the census and the API latency")
    parser.add_argument(
        "--runs", nargs="+", choices="abcde", default=list("abcde"), help="which of (a)-(e) (default: all)"
    )
    parser.add_argument(
        "--heldout-faces", type=Path, help="a split list (path,label,…) of faces the FER2013 model never saw"
    )
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=[], help="run each with these seeds (default: params.yaml's)"
    )
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="params for every run")
    args = parser.parse_args()
    census(args.data)
    api_latency(args.data, args.image_size)
    heldout = read_split(args.heldout_faces) if args.heldout_faces else None
    if not args.no_crossval:
        crossval(
            args.data,
            args.image_size,
            args.folds,
            args.fer_model,
            args.fer_size,
            args.runs,
            args.seeds,
            heldout,
            args.set,
        )


if __name__ == "__main__":
    main()
