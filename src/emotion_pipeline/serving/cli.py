"""The `emotion` command: predict image files, explain them (Grad-CAM overlays), evaluate on a
labelled folder, serve the web app, or say what this machine trains with (`info`).

TensorFlow is imported inside the commands, so `emotion --help` answers at once. Expected
failures (a missing model, a bad folder) end with one `error: ...` line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from emotion_pipeline import exit_with
from emotion_pipeline.data.folders import expand_paths
from emotion_pipeline.serving import cli_export
from emotion_pipeline.serving.cli_output import FORMATS, UNCALIBRATED, output_arguments, positive_int, rows_of
from emotion_pipeline.serving.commands import CommandError, load
from emotion_pipeline.serving.video_cli import add_video_arguments, predict_videos, wants_video

if TYPE_CHECKING:
    pass

DEFAULT_MODEL = Path("models/model.keras")


def cmd_predict(args: argparse.Namespace) -> int:
    """Predict every file (each face, where the model looks for faces); a bad file gets one stderr
    line and exit status 1, the rest still run."""
    files, problems = expand_paths(args.paths)
    if wants_video(files, args.out):
        return predict_videos(files, problems, args, load)
    classifier = load(args.model)
    from emotion_pipeline.core.progress import Progress

    progress = (
        Progress("predict:", len(files)) if sys.stderr.isatty() and len(files) > args.batch_size else None
    )
    if args.min_confidence and not classifier.calibrated:
        print(f"warning: {args.model} is not calibrated: {UNCALIBRATED}", file=sys.stderr)
    result = classifier.predict_files(files, args.batch_size, progress)
    rows = [row for answer in result.images for row in rows_of(classifier, answer, args.min_confidence)]
    faces = [] if classifier.faces is None else ["face", "box"]
    FORMATS[args.format](rows, ["path", *faces, "label", *classifier.classes], classifier.classes)
    sys.stdout.flush()
    for path, reason in [*problems, *result.errors]:
        print(f"error: {path}: {reason}", file=sys.stderr)
    return 1 if problems or result.errors else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score the model on a folder of class folders and print the metrics as JSON. A face model
    scores each image by its largest face; images without one are listed under `no_face` when it
    skips them."""
    from emotion_pipeline.data.folders import class_folders, find_images

    try:
        candidates, ignored = find_images(args.dir)
    except FileNotFoundError as error:
        raise CommandError(str(error)) from None
    if not candidates:
        raise CommandError(f"no files found in class folders under {args.dir}")
    classifier = load(args.model)
    from emotion_pipeline.core.progress import Progress
    from emotion_pipeline.model.metrics import classification_metrics

    by_name = {name.lower(): name for name in classifier.classes}
    unknown = [folder.name for folder in class_folders(args.dir) if folder.name.lower() not in by_name]
    if unknown:
        raise CommandError(
            f"folder(s) {', '.join(map(repr, unknown))} in {args.dir} match no class of the model "
            f"(model classes: {', '.join(classifier.classes)})"
        )
    label_of = {str(c.path): by_name[c.label.lower()] for c in candidates}
    result = classifier.predict_files(
        [c.path for c in candidates], args.batch_size, Progress(f"evaluate {args.dir}:", len(candidates))
    )
    if not result.paths:
        what = "had a face the model could use" if result.images else "could be read"
        raise CommandError(f"none of the {len(candidates)} files under {args.dir} {what}", status=1)
    metrics = classification_metrics(
        [label_of[path] for path in result.paths], result.probabilities, classifier.classes
    )
    metrics["unreadable"] = [{"path": path, "reason": reason} for path, reason in result.errors]
    metrics["ignored"] = [{"path": str(path), "reason": reason} for path, reason in ignored]
    if classifier.faces is not None:
        metrics["no_face"] = [image.path for image in result.images if image.probabilities is None]
    print(json.dumps(metrics, indent=2))
    if result.errors:
        print(f'warning: {len(result.errors)} file(s) could not be read (see "unreadable")', file=sys.stderr)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Write one Grad-CAM overlay PNG per image, at the image's size: one heatmap over the whole image,
    or, from a face model, one over each face's square. A bad file gets one stderr line and exit
    status 1, the rest still run."""
    files, problems = expand_paths(args.paths)
    classifier = load(args.model)
    from PIL import Image

    from emotion_pipeline.data.faces import NO_FACE
    from emotion_pipeline.data.images import ImageError
    from emotion_pipeline.serving.explain import GradCam, class_index
    from emotion_pipeline.serving.overlays import display_image, output_paths, overlay

    try:
        index = class_index(classifier.classes, args.class_name)
        gradcam = GradCam(classifier.model)
        args.out.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as error:
        raise CommandError(str(error)) from None
    names = classifier.classes
    for file, target in zip(files, output_paths(files, args.out), strict=True):
        try:
            framed = classifier.frame(file)
        except ImageError as error:
            problems.append((str(file), str(error)))
            continue
        if not len(framed.inputs):
            print(f"{file}: {NO_FACE}")
            continue
        result = gradcam(framed.inputs, index)
        picture = display_image(file)
        for number, heatmap in enumerate(result.maps):
            where = (framed.squares[number], framed.turns[number]) if framed.squares else (None, 0.0)
            picture = overlay(picture, heatmap, *where)
        Image.fromarray(picture).save(target, format="PNG")
        for number, (explained, probabilities) in enumerate(
            zip(result.classes, result.probabilities, strict=True)
        ):
            face = f" face {number + 1} {list(framed.faces[number].box)}" if framed.faces else ""
            print(
                f"{file}{face} -> {target}: evidence for {names[explained]} "
                f"({probabilities[explained]:.1%}; predicted {names[int(probabilities.argmax())]})"
            )
    sys.stdout.flush()
    for path, reason in problems:
        print(f"error: {path}: {reason}", file=sys.stderr)
    return 1 if problems else 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the web app with waitress until interrupted."""
    import logging

    classifier = load(args.model)
    from emotion_pipeline.serving.webapp import create_app, make_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = make_server(create_app(classifier), args.host, args.port, args.threads)
    except OSError as error:  # port in use, address not local, name not resolvable
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    server.print_listen("serving on http://{}:{}")
    server.run()
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """What training here would run with: the devices, what `precision: auto` becomes and why, the
    versions, and, where the working directory has a params.yaml, whether every stage accepts it."""
    from emotion_pipeline.core.environment import environment
    from emotion_pipeline.core.params import ParamsError, load_params
    from emotion_pipeline.model.runtime import auto_precision, device_lines

    for line in device_lines():
        print(f"device: {line}")
    policy, why = auto_precision()
    print(f"precision auto: {policy} ({why})")
    for name, version in environment().items():
        print(f"{name}: {version}")
    params = Path("params.yaml")
    if params.is_file():
        try:
            load_params(params)
        except ParamsError as error:
            raise CommandError(str(error)) from None
        print(f"{params}: valid")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emotion", description="Classify the emotion shown in face images.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, func: Callable[[argparse.Namespace], int], summary: str, detail: str, model: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=detail)
        sub.set_defaults(func=func)
        if model:
            sub.add_argument(
                "--model", type=Path, default=DEFAULT_MODEL, help=f"saved model (default: {DEFAULT_MODEL})"
            )
        return sub

    def images(sub: argparse.ArgumentParser, metavar: str) -> None:
        sub.add_argument(
            "paths", nargs="+", type=Path, metavar=metavar, help="image files or folders (recursive)"
        )

    batch = {"type": positive_int, "default": 32, "help": "images per model call"}
    predict = command(
        "predict", cmd_predict, "predict images, folders or videos", "Predict the emotion of each image."
    )
    add_video_arguments(predict)
    images(predict, "PATH")
    output_arguments(predict)
    predict.add_argument("--batch-size", **batch)

    explain = command(
        "explain",
        cmd_explain,
        "write Grad-CAM heatmap overlays",
        "Write IMAGE_gradcam.png in DIR for each image: the image, at its own size, coloured "
        "where it gave the model the evidence for the predicted class (or --class).",
    )
    images(explain, "IMAGE")
    explain.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the overlays")
    explain.add_argument(
        "--class", dest="class_name", metavar="NAME", help="explain this class (default: the predicted one)"
    )

    evaluate = command(
        "evaluate",
        cmd_evaluate,
        "score the model on a labelled folder",
        "Score the model on DIR, which holds one sub-folder of images per class.",
    )
    evaluate.add_argument("dir", type=Path, metavar="DIR", help="folder with one sub-folder per class")
    evaluate.add_argument("--batch-size", **batch)

    serve = command("serve", cmd_serve, "serve the web app", "Serve the web app with waitress.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=5000, help="port to listen on (default: 5000)")
    serve.add_argument("--threads", type=positive_int, default=4, help="request threads (default: 4)")

    cli_export.add_arguments(command("export", cli_export.cmd_export, *cli_export.HELP))
    command(
        "info",
        cmd_info,
        "devices, precision, versions and params.yaml's validity",
        "Print the devices TensorFlow sees, what `precision: auto` becomes here and why, "
        "the versions that shape training, and whether ./params.yaml is valid (exit status 2 if not).",
        model=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; expected errors become one `error:` line, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return 130


def run() -> NoReturn:
    """The `emotion` command: `main`, then a quick exit (`exit_with`)."""
    exit_with(main())


if __name__ == "__main__":
    run()
