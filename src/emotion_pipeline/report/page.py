"""The one-page Markdown report: headline numbers, figures, and what is needed to reproduce them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from emotion_pipeline.core.environment import environment
from emotion_pipeline.core.params import selected_metric
from emotion_pipeline.core.tables import write_atomic
from emotion_pipeline.model.calibration import BINS
from emotion_pipeline.report.face_census import face_counts
from emotion_pipeline.report.inputs import TrainingLog, best_epoch

SKIPPED_SHOWN = 5
SCORES = ("precision", "recall", "f1")


def markdown(frame: pd.DataFrame, align: str = "") -> list[str]:
    """A GitHub-flavoured Markdown table of `frame`'s columns; `align` has one l or r per column
    (default: the first left, the rest right). Pipes in cells are escaped, newlines flattened."""
    align = align or "l" + "r" * (len(frame.columns) - 1)

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |"]
    lines.append("| " + " | ".join("---:" if a == "r" else ":---" for a in align) + " |")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return lines


def metrics_table(metrics: Mapping[str, Any]) -> list[str]:
    """scikit-learn's classification report as Markdown: per class, then macro and weighted averages."""
    per_class = pd.DataFrame(metrics["per_class"]).T.reindex(metrics.get("classes") or None)
    support = per_class["support"].astype(float)
    macro = per_class[list(SCORES)].mean()
    weighted = per_class[list(SCORES)].mul(support, axis=0).sum() / max(support.sum(), 1.0)
    macro["f1"], weighted["f1"] = metrics["macro_f1"], metrics.get("weighted_f1", weighted["f1"])
    rows = [(name, *(per_class.loc[name, s] for s in SCORES), int(support[name])) for name in per_class.index]
    total = int(support.sum())
    rows.append(("**macro avg**", *macro[list(SCORES)], total))
    rows.append(("**weighted avg**", *weighted[list(SCORES)], total))
    frame = pd.DataFrame(rows, columns=["class", "precision", "recall", "F1", "support"])
    for column in ("precision", "recall", "F1"):
        frame[column] = frame[column].map(lambda v: f"{float(v):.3f}")
    frame.loc[frame["class"] == "**macro avg**", "F1"] = f"**{metrics['macro_f1']:.3f}**"
    return markdown(frame)


def crossval_lines(metrics: Mapping[str, Any], crossval: Mapping[str, Any] | None) -> list[str]:
    """The k-fold figures beside the single test split, so one lucky split is not over-read."""
    if not crossval or not crossval.get("folds"):
        return []
    folds, method = crossval["folds"], crossval.get("method", "repeated evaluation")
    rows = [
        (
            label,
            f"{metrics[key]:.3f}",
            f"{crossval[key]['mean']:.3f} ± {crossval[key]['std']:.3f}",
            ", ".join(f"{v:.3f}" for v in crossval[key]["values"]),
        )
        for label, key in (("accuracy", "accuracy"), ("macro-F1", "macro_f1"))
    ]
    frame = pd.DataFrame(
        rows, columns=["metric", "single test split", f"mean ± std over {folds} folds", "per fold"]
    )
    return [
        "## Repeated evaluation",
        "",
        *markdown(frame, "lrrl"),
        "",
        f"Method: {method}, {folds} folds.",
        "",
    ]


def calibration_lines(metrics: Mapping[str, Any]) -> list[str]:
    """How far the probabilities can be trusted: ECE and Brier score without and with the temperature."""
    calibration = metrics.get("calibration")
    if not calibration:
        return []
    temperature = calibration["temperature"]
    rows = [("as trained", "none", calibration["ece"]["before"], calibration["brier"]["before"])]
    if temperature != 1.0:
        rows.append(
            ("calibrated", f"{temperature:.3f}", calibration["ece"]["after"], calibration["brier"]["after"])
        )
    frame = pd.DataFrame(rows, columns=["probabilities", "temperature", "ECE", "Brier score"])
    for column in ("ECE", "Brier score"):
        frame[column] = frame[column].map(lambda v: f"{v:.4f}")
    how = (
        "The temperature was fitted on the validation split; it never changes the predicted class."
        if temperature != 1.0
        else "Not calibrated (`train.calibrate: false`)."
    )
    return [
        "## Calibration (test split)",
        "",
        *markdown(frame),
        "",
        f"ECE: the gap between confidence and accuracy over {BINS} equal-width confidence bins, weighted "
        f"by images (0 is perfect); Brier score: the probabilities' squared error (0 to 2). {how}",
        "",
    ]


def data_lines(
    params: Mapping[str, Any],
    counts: Mapping[str, Mapping[str, int]],
    skipped: pd.DataFrame | None,
    dvc_hash: str,
) -> list[str]:
    """Which data produced the numbers: the folder, its DVC hash, what was skipped and why, the split."""
    data_dir = (params.get("data") or {}).get("dir", "unknown")
    lines = ["## Data", "", f"- Folder: `{data_dir}`", f"- DVC hash (md5): `{dvc_hash}`"]
    if skipped is None:
        lines.append("- Skipped files: unknown (no skipped.csv)")
    elif skipped.empty:
        lines.append("- Skipped files: none")
    else:
        reasons = skipped["reason"].value_counts().head(SKIPPED_SHOWN)
        summary = "; ".join(f"{reason}: {n}" for reason, n in reasons.items())
        lines.append(f"- Skipped files: {len(skipped)} ({summary})")
        lines += [f"  - `{row.path}`: {row.reason}" for row in skipped.head(SKIPPED_SHOWN).itertuples()]
        if len(skipped) > SKIPPED_SHOWN:
            lines.append(f"  - … and {len(skipped) - SKIPPED_SHOWN} more in `skipped.csv`")
    per_split = pd.DataFrame(counts).fillna(0).astype(int).sort_index()
    per_split = per_split[
        [s for s in ("train", "val", "test") if s in per_split]
        + [s for s in per_split if s not in ("train", "val", "test")]
    ]
    per_split["total"] = per_split.sum(axis=1)
    frame = per_split.rename_axis("class").reset_index()
    totals = ["**total**", *(f"**{v}**" for v in per_split.sum())]
    frame = pd.concat([frame.astype(str), pd.DataFrame([totals], columns=frame.columns)], ignore_index=True)
    return [*lines, "", *markdown(frame), ""]


def faces_lines(faces: pd.DataFrame | None, params: Mapping[str, Any]) -> list[str]:
    """What face detection found per class, and its settings; nothing where detection was off."""
    if faces is None:
        return []
    settings = params["faces"]
    counts = face_counts(faces)
    counts["total"] = counts.sum(axis=1)
    frame = counts.rename_axis("class").reset_index().astype(str)
    totals = ["**total**", *(f"**{v}**" for v in counts.sum())]
    frame = pd.concat([frame, pd.DataFrame([totals], columns=frame.columns)], ignore_index=True)
    return [
        "## Faces",
        "",
        f"MTCNN, confidence at least {settings['min_confidence']}; each image's largest face, "
        f"{'turned so its eyes are level, ' if settings['align'] else ''}cropped square "
        f"with a margin of {settings['margin']}; images without a face: `{settings['fallback']}`.",
        "",
        *markdown(frame),
        "",
    ]


def summary_lines(
    metrics: Mapping[str, Any], crossval: Mapping[str, Any] | None, log: TrainingLog, train: dict[str, Any]
) -> list[str]:
    """The headline: test accuracy and macro-F1, the k-fold spread, and how training went (the epoch
    whose weights `train.select` kept, when it kept a best one)."""
    classes = list(metrics.get("classes", []))
    lines = [
        f"**Test accuracy {metrics['accuracy']:.1%}** ({metrics['accuracy']:.4f}), "
        f"macro-F1 {metrics['macro_f1']:.3f}, on {metrics['n_images']} test images "
        f"of {len(classes)} classes ({', '.join(classes)}).",
        "",
    ]
    if crossval and crossval.get("folds"):
        accuracy = crossval["accuracy"]
        lines += [
            f"Over {crossval['folds']} folds ({crossval.get('method', 'repeated')}): accuracy "
            f"{accuracy['mean']:.3f} ± {accuracy['std']:.3f}.",
            "",
        ]
    overall = [f"accuracy {metrics['accuracy']:.4f}", f"cross-entropy loss {metrics['loss']:.4f}"]
    if log:
        overall.append(
            f"{max(int(c.epochs.max()) for curves in log.values() for c in curves.values())} epochs trained"
        )
    best = best_epoch(log, train)
    if best is not None:
        at = [
            f"validation loss {best.val_loss:.4f}" if best.val_loss is not None else "",
            f"validation accuracy {best.val_accuracy:.4f}" if best.val_accuracy is not None else "",
        ]
        kept = f", by {selected_metric(train)}: its weights kept" if best.kept else ""
        overall.append(f"best validation epoch {best.epoch} ({', '.join(a for a in at if a)}{kept})")
    return [
        *lines,
        "## Metrics (test split)",
        "",
        *metrics_table(metrics),
        "",
        "Overall: " + "; ".join(overall) + ".",
        "",
    ]


def environment_lines(
    metrics: Mapping[str, Any], params: Mapping[str, Any], versions: Mapping[str, str] | None
) -> list[str]:
    """Library versions, and the precision training ran with (what `precision: auto` resolved to)."""
    env = dict(versions) if versions is not None else environment()
    env["Precision policy"] = (
        f"{metrics.get('precision', 'unknown')} (params: `precision: {params['precision']}`)"
    )
    frame = pd.DataFrame(list(env.items()), columns=["component", "version"])
    return ["## Environment", "", *markdown(frame, "ll"), ""]


def model_file_lines(files: Mapping[str, int]) -> list[str]:
    """The trained model's file and each export's, with their sizes against the Keras file's."""
    if not files:
        return []
    keras = next(iter(files.values()))
    rows = [(f"`{name}`", f"{size / 2**20:.2f} MiB", f"{size / keras:.1%}") for name, size in files.items()]
    frame = pd.DataFrame(rows, columns=["file", "size", "of the Keras file"])
    return ["## Model files", "", *markdown(frame, "lrr"), ""]


def write_report(
    path: str | Path,
    *,
    metrics: Mapping[str, Any],
    crossval: Mapping[str, Any] | None,
    params: Mapping[str, Any],
    counts: Mapping[str, Mapping[str, int]],
    skipped: pd.DataFrame | None,
    dvc_hash: str,
    figures: Mapping[str, str | Path],
    log: TrainingLog,
    versions: Mapping[str, str] | None = None,
    faces: pd.DataFrame | None = None,
    model_files: Mapping[str, int] | None = None,
) -> Path:
    """Write the report. `figures` maps a caption to a PNG path; links are relative to the report's
    folder, so it renders wherever the folder is copied (a DVC cache, a CI artifact, a pull request).
    `model_files` maps the model's file name, then each export's, to its size in bytes."""
    path = Path(path)
    lines = ["# Emotion classifier: evaluation report", ""]
    lines += summary_lines(metrics, crossval, log, params["train"])
    lines += crossval_lines(metrics, crossval)
    lines += calibration_lines(metrics)
    lines += ["## Figures", ""]
    for caption, figure in figures.items():
        lines += [f"![{caption}]({Path(os.path.relpath(Path(figure), path.parent)).as_posix()})", ""]
    lines += data_lines(params, counts, skipped, dvc_hash)
    lines += faces_lines(faces, params)
    lines += model_file_lines(model_files or {})
    lines += [
        "## Parameters",
        "",
        "```yaml",
        yaml.safe_dump(dict(params), sort_keys=False).rstrip(),
        "```",
        "",
    ]
    lines += environment_lines(metrics, params, versions)
    write_atomic(path, "\n".join(lines))
    return path
