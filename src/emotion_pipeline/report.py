"""Turn the pipeline's outputs into figures a person wants to look at and a one-page Markdown report.

Figures are drawn on the Agg canvas through matplotlib's object API (never pyplot), so this module has
no global state, works headless, and can be imported by the web app without switching its backend.
Every reader here tolerates the optional inputs being absent: a report with a gap beats no report.
"""

from __future__ import annotations

import csv
import math
import os
import platform
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from emotion_pipeline.images import ImageError, load_image
from emotion_pipeline.params import write_atomic

DPI = 120
# One colour per role, shared by every figure: training/validation/test splits, right/wrong answers.
SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
CORRECT_COLOUR = "#1a7f37"
WRONG_COLOUR = "#cf222e"
BEST_COLOUR = "#6e7781"
GRID_LIMIT = 24
SKIPPED_SHOWN = 5
# Distribution names differ by platform (tensorflow-cpu on x86-64 Linux); the first installed wins.
VERSION_PACKAGES: dict[str, tuple[str, ...]] = {
    "TensorFlow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel", "tf-nightly"),
    "Keras": ("keras",),
    "DVC": ("dvc",),
    "DVCLive": ("dvclive",),
}


# ---------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Curve:
    """One logged metric: epochs (1-based) and values, sorted by epoch."""

    epochs: np.ndarray
    values: np.ndarray


# {"loss": {"train": Curve, "eval": Curve}, "accuracy": {...}}; a missing file is a missing key.
TrainingLog = dict[str, dict[str, Curve]]


@dataclass(frozen=True)
class BestEpoch:
    """The validation epoch a checkpoint would keep (lowest validation loss), for the plot and report."""

    epoch: int
    val_loss: float | None
    val_accuracy: float | None


def read_curve(path: str | Path) -> Curve | None:
    """A DVCLive TSV (`timestamp, step, value`) as a curve, or None when the file is absent or empty.

    Steps count from 0, so epoch = step + 1. A step logged twice (a resumed run) keeps its last value.
    """
    path = Path(path)
    if not path.is_file():
        return None
    by_step: dict[int, float] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if not header or "step" not in header:
            return None
        step_column = header.index("step")
        value_column = len(header) - 1  # the metric is the last column, whatever its name
        for row in reader:
            try:
                by_step[int(float(row[step_column]))] = float(row[value_column])
            except (IndexError, ValueError):
                continue
    if not by_step:
        return None
    steps = sorted(by_step)
    return Curve(np.array(steps) + 1, np.array([by_step[s] for s in steps], dtype=float))


def read_training_log(live_dir: str | Path) -> TrainingLog:
    """Loss and accuracy curves for training and validation; absent files are simply left out."""
    base = Path(live_dir) / "plots" / "metrics"
    log: TrainingLog = {}
    for metric in ("loss", "accuracy"):
        for split in ("train", "eval"):
            curve = read_curve(base / split / f"{metric}.tsv")
            if curve is not None:
                log.setdefault(metric, {})[split] = curve
    return log


def best_epoch(log: TrainingLog) -> BestEpoch | None:
    """Lowest validation loss (else highest validation accuracy); earliest epoch wins a tie."""
    val_loss = log.get("loss", {}).get("eval")
    val_acc = log.get("accuracy", {}).get("eval")

    def value_at(curve: Curve | None, epoch: int) -> float | None:
        if curve is None:
            return None
        hits = np.flatnonzero(curve.epochs == epoch)
        return float(curve.values[hits[0]]) if hits.size else None

    if val_loss is not None and np.isfinite(val_loss.values).any():
        epoch = int(val_loss.epochs[np.nanargmin(val_loss.values)])
    elif val_acc is not None and np.isfinite(val_acc.values).any():
        epoch = int(val_acc.epochs[np.nanargmax(val_acc.values)])
    else:
        return None
    return BestEpoch(epoch, value_at(val_loss, epoch), value_at(val_acc, epoch))


def read_predictions(path: str | Path) -> list[dict[str, str]]:
    """The rows of `predictions.csv` (`path, actual, predicted`)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_skipped(path: str | Path) -> list[tuple[str, str]] | None:
    """(path, reason) rows of `skipped.csv`, or None when the file is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, encoding="utf-8", newline="") as handle:
        return [(row.get("path", ""), row.get("reason", "")) for row in csv.DictReader(handle)]


def _clean_path(path: str) -> str:
    return Path(str(path).strip()).as_posix().rstrip("/") or "."


def data_hash(lock_path: str | Path, data_dir: str | None) -> str:
    """The DVC md5 of the `split` stage's dependency on the data folder, or "unknown".

    This is the content hash DVC recorded when the split ran, so the report names exactly which data
    produced the numbers; it is "unknown" when dvc.lock is absent or does not list the folder.
    """
    lock_path = Path(lock_path)
    if data_dir is None or not lock_path.is_file():
        return "unknown"
    try:
        lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
        deps = lock["stages"]["split"]["deps"]
    except (yaml.YAMLError, KeyError, TypeError):
        return "unknown"
    wanted = _clean_path(data_dir)
    for dep in deps or []:
        if isinstance(dep, dict) and _clean_path(dep.get("path", "")) == wanted:
            for key in ("md5", "checksum", "etag"):
                if dep.get(key):
                    return str(dep[key])
    return "unknown"


def package_version(*names: str) -> str:
    """The version of the first installed distribution among `names` (no import, so no TF start-up)."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def environment() -> dict[str, str]:
    """Python and the versions of the libraries that shape training, evaluation and tracking."""
    versions = {"Python": f"{platform.python_version()} ({platform.python_implementation()})"}
    versions.update({label: package_version(*names) for label, names in VERSION_PACKAGES.items()})
    versions["Platform"] = platform.platform(terse=True)
    return versions


def find_key(tree: Any, key: str, prefix: str = "") -> tuple[str, Any] | None:
    """The first `key` at any depth of nested dicts, with its dotted path (e.g. `train.precision`)."""
    if not isinstance(tree, Mapping):
        return None
    if key in tree and not isinstance(tree[key], Mapping):
        return f"{prefix}{key}", tree[key]
    for name, value in tree.items():
        found = find_key(value, key, f"{prefix}{name}.")
        if found:
            return found
    return None


# ---------------------------------------------------------------------------------------------- figures


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    """Save as PNG without the matplotlib version in the metadata, so equal figures are equal bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(
        path,
        format="png",
        dpi=DPI,
        facecolor="white",
        bbox_inches="tight",
        pad_inches=0.15,
        metadata={"Software": None},
    )
    return path


def _placeholder(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color=BEST_COLOUR, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_training_curves(log: TrainingLog, path: str | Path) -> Path:
    """Loss and accuracy per epoch, training vs validation, with the best validation epoch marked.

    Over-fitting and the effect of a fine-tuning phase show as the gap between the two lines.
    """
    figure = _new_figure(11.0, 4.3)
    axes = figure.subplots(1, 2)
    best = best_epoch(log)
    labels = {"train": "training", "eval": "validation"}
    colours = {"train": SPLIT_COLOURS["train"], "eval": SPLIT_COLOURS["val"]}
    for ax, metric, title in zip(axes, ("loss", "accuracy"), ("Loss", "Accuracy"), strict=True):
        curves = log.get(metric, {})
        if not curves:
            _placeholder(ax, f"no {metric} logged")
            ax.set_title(title)
            continue
        for split, curve in curves.items():
            ax.plot(
                curve.epochs,
                curve.values,
                color=colours[split],
                label=labels[split],
                linewidth=2,
                marker="o" if len(curve.epochs) <= 40 else None,
                markersize=3.5,
            )
        if best is not None:
            value = best.val_loss if metric == "loss" else best.val_accuracy
            ax.axvline(
                best.epoch,
                color=BEST_COLOUR,
                linestyle="--",
                linewidth=1.2,
                label=f"best validation epoch ({best.epoch})",
            )
            if value is not None:
                ax.plot(
                    [best.epoch],
                    [value],
                    marker="*",
                    markersize=15,
                    color=colours["eval"],
                    markeredgecolor="black",
                    markeredgewidth=0.7,
                    linestyle="none",
                    zorder=5,
                )
                text = f"{value:.1%}" if metric == "accuracy" else f"{value:.3f}"
                ax.annotate(
                    text,
                    (best.epoch, value),
                    textcoords="offset points",
                    xytext=(7, 7 if metric == "accuracy" else -15),
                    fontsize=9,
                    bbox={
                        "boxstyle": "round,pad=0.2",
                        "facecolor": "white",
                        "edgecolor": "none",
                        "alpha": 0.8,
                    },
                    zorder=6,
                )
        if metric == "accuracy":
            low = min(float(np.nanmin(c.values)) for c in curves.values())
            ax.set_ylim(max(0.0, min(low, 1.0) - 0.05), 1.02)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        last = max(int(c.epochs.max()) for c in curves.values())
        ax.set_xlim(0.5, last + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.grid(True, alpha=0.35)
    # One legend above both panels: inside an axes it would hide the curves it explains.
    legend: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    if legend:
        figure.legend(
            legend.values(), legend.keys(), loc="outside lower center", ncols=len(legend), fontsize=10
        )
    validated = any("eval" in curves for curves in log.values())
    figure.suptitle(
        "Training curves" if validated or not log else "Training curves (no validation data logged)",
        fontsize=13,
    )
    return _save(figure, path)


def plot_confusion_matrix(metrics: Mapping[str, Any], path: str | Path) -> Path:
    """Counts (and row-normalised %) of actual vs predicted classes: which emotions get confused.

    The colour is the row share, so a small class reads as clearly as a large one.
    """
    classes = list(metrics["classes"])
    counts = np.asarray(metrics["confusion_matrix"], dtype=int).reshape(len(classes), len(classes))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    n = len(classes)
    side = min(9.0, max(5.0, 1.0 * n + 2.6))
    figure = _new_figure(side + 1.0, side)
    ax = figure.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    colourbar = figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, format=PercentFormatter(1.0, 0))
    colourbar.set_label("share of the actual class")
    big, small = (16, 10) if n <= 6 else (11, 8)
    for i in range(n):
        for j in range(n):
            colour = "white" if shares[i, j] > 0.55 else "#1b1f24"
            ax.text(
                j,
                i - 0.08,
                f"{counts[i, j]:d}",
                ha="center",
                va="center",
                fontsize=big,
                fontweight="bold",
                color=colour,
            )
            share = f"{shares[i, j]:.0%}" if totals[i, 0] else "-"
            ax.text(j, i + 0.22, share, ha="center", va="center", fontsize=small, color=colour)
    ax.set_xticks(range(n), classes)
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted", fontsize=11)
    ax.set_ylabel("actual", fontsize=11)
    ax.set_xticks(np.arange(n + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    ax.set_title(
        f"Test accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.3f} "
        f"(n = {metrics.get('n_images', int(counts.sum()))})",
        fontsize=12,
        pad=10,
    )
    return _save(figure, path)


@dataclass(frozen=True)
class GridItem:
    """One test image in the prediction grid, with the title and colour it is drawn with."""

    path: str
    actual: str
    predicted: str

    @property
    def correct(self) -> bool:
        return self.actual == self.predicted

    @property
    def title(self) -> str:
        return f"true: {self.actual} / pred: {self.predicted}"

    @property
    def colour(self) -> str:
        return CORRECT_COLOUR if self.correct else WRONG_COLOUR


def select_predictions(rows: Iterable[Mapping[str, str]], limit: int = GRID_LIMIT) -> list[GridItem]:
    """Errors first (by class, then path), then correct ones taking turns across classes.

    Sorting makes the choice independent of the CSV's row order, so the figure only changes when the
    predictions do; taking turns keeps every class visible when the errors do not fill the grid.
    """
    items = sorted(
        (GridItem(row["path"], row["actual"], row["predicted"]) for row in rows),
        key=lambda item: (item.actual, item.predicted, item.path),
    )
    wrong = [item for item in items if not item.correct]
    by_class: dict[str, list[GridItem]] = {}
    for item in items:
        if item.correct:
            by_class.setdefault(item.actual, []).append(item)
    right: list[GridItem] = []
    for turn in range(max((len(group) for group in by_class.values()), default=0)):
        right += [group[turn] for group in by_class.values() if turn < len(group)]
    return (wrong + right)[: max(0, limit)]


def plot_test_predictions(
    rows: Sequence[Mapping[str, str]],
    path: str | Path,
    root: str | Path = ".",
    limit: int = GRID_LIMIT,
    image_size: int = 160,
    columns: int = 6,
) -> Path:
    """A grid of test images titled with the true and predicted class, mistakes first, in red.

    Seeing the misclassified faces says more about a model's failure than any number does.
    Relative paths are resolved against `root` (the repository root, where the pipeline runs).
    """
    items = select_predictions(rows, limit)
    n_wrong = sum(1 for row in rows if row["actual"] != row["predicted"])
    columns = max(1, min(columns, len(items) or 1))
    n_rows = max(1, math.ceil(len(items) / columns))
    figure = _new_figure(2.1 * columns + 0.2, 2.35 * n_rows + 0.6)
    axes = np.atleast_1d(figure.subplots(n_rows, columns, squeeze=False).ravel())
    for ax, item in zip(axes, items, strict=False):
        file = Path(item.path)
        try:
            ax.imshow(load_image(file if file.is_absolute() else Path(root) / file, image_size))
        except ImageError as error:
            ax.imshow(np.full((image_size, image_size, 3), 235, dtype=np.uint8))
            message = textwrap.fill(f"cannot load: {error}", 24)
            ax.text(
                image_size / 2,
                image_size / 2,
                message,
                ha="center",
                va="center",
                fontsize=8,
                color=BEST_COLOUR,
            )
        ax.set_title(item.title, color=item.colour, fontsize=9.5, fontweight="bold", pad=4)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(item.colour)
            spine.set_linewidth(3 if not item.correct else 1.5)
    for ax in axes[len(items) :]:
        ax.axis("off")
    if not items:
        _placeholder(axes[0], "no test predictions")
        axes[0].axis("on")
    shown = f"showing {len(items)} of {len(rows)}" if len(items) < len(rows) else f"all {len(rows)}"
    figure.suptitle(
        f"Test predictions: {n_wrong} wrong of {len(rows)} ({shown}, mistakes first)", fontsize=13
    )
    return _save(figure, path)


def plot_class_distribution(counts: Mapping[str, Mapping[str, int]], path: str | Path) -> Path:
    """Images per class in each split, to show imbalance and that every split has every class."""
    splits = [name for name in ("train", "val", "test") if name in counts]
    splits += [name for name in counts if name not in splits]
    classes = sorted({name for split in splits for name in counts[split]})
    figure = _new_figure(min(12.0, max(6.5, 1.5 * len(classes) + 2.5)), 4.4)
    ax = figure.subplots()
    if not classes:
        _placeholder(ax, "no images in any split")
        return _save(figure, path)
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(splits))
    palette = [*SPLIT_COLOURS.values(), "#9467bd", "#8c564b"]
    for k, split in enumerate(splits):
        values = [int(counts[split].get(name, 0)) for name in classes]
        colour = SPLIT_COLOURS.get(split, palette[k % len(palette)])
        total = sum(values)
        bars = ax.bar(
            x + (k - (len(splits) - 1) / 2) * width,
            values,
            width * 0.92,
            color=colour,
            label=f"{split} ({total})",
        )
        ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_xticks(x, classes)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, axis="y", alpha=0.35)
    ax.set_axisbelow(True)
    ax.legend(title="split (images)", fontsize=9, title_fontsize=9)
    grand = sum(int(v) for split in splits for v in counts[split].values())
    ax.set_title(f"Images per class and split ({grand} in total)", fontsize=12)
    return _save(figure, path)


# ---------------------------------------------------------------------------------------------- report


def _cell(value: Any) -> str:
    """A Markdown table cell: pipes escaped, newlines flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> list[str]:
    """A GitHub-flavoured Markdown table; `align` has one character per column (l or r)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _metrics_table(metrics: Mapping[str, Any]) -> list[str]:
    """sklearn's classification report as Markdown: per class, then macro and weighted averages."""
    per_class = metrics.get("per_class", {})
    rows: list[list[str]] = []
    for name in metrics.get("classes", list(per_class)):
        scores = per_class.get(name, {})
        rows.append(
            [f"{name}"]
            + [f"{scores.get(key, float('nan')):.3f}" for key in ("precision", "recall", "f1")]
            + [str(scores.get("support", 0))]
        )
    support = np.array([per_class[c].get("support", 0) for c in per_class], dtype=float)
    total = int(support.sum())

    def average(key: str, weights: np.ndarray | None) -> float:
        values = np.array([per_class[c].get(key, np.nan) for c in per_class], dtype=float)
        if weights is None or not weights.sum():
            return float(np.mean(values)) if values.size else float("nan")
        return float(np.average(values, weights=weights))

    rows.append(
        [
            "**macro avg**",
            f"{average('precision', None):.3f}",
            f"{average('recall', None):.3f}",
            f"**{metrics['macro_f1']:.3f}**",
            str(total),
        ]
    )
    weighted_f1 = metrics.get("weighted_f1", average("f1", support))
    rows.append(
        [
            "**weighted avg**",
            f"{average('precision', support):.3f}",
            f"{average('recall', support):.3f}",
            f"{weighted_f1:.3f}",
            str(total),
        ]
    )
    return _table(["class", "precision", "recall", "F1", "support"], rows)


def _repeated_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The k-fold figures beside the single test split, so one lucky split is not over-read."""
    repeated = metrics.get("repeated")
    if not isinstance(repeated, Mapping):
        return []
    folds = repeated.get("folds", len(repeated.get("accuracy", {}).get("values", [])))
    method = repeated.get("method", "repeated evaluation")

    def row(label: str, key: str, single: float) -> list[str]:
        block = repeated.get(key, {})
        values = ", ".join(f"{v:.3f}" for v in block.get("values", []))
        spread = f"{block['mean']:.3f} ± {block['std']:.3f}" if "mean" in block else "-"
        return [label, f"{single:.3f}", spread, values or "-"]

    lines = ["## Repeated evaluation", ""]
    lines += _table(
        ["metric", "single test split", f"mean ± std over {folds} folds", "per fold"],
        [row("accuracy", "accuracy", metrics["accuracy"]), row("macro-F1", "macro_f1", metrics["macro_f1"])],
        "lrrl",
    )
    lines += ["", f"Method: {method}, {folds} folds.", ""]
    return lines


def _data_lines(
    params: Mapping[str, Any],
    counts: Mapping[str, Mapping[str, int]],
    skipped: Sequence[tuple[str, str]] | None,
    dvc_hash: str,
) -> list[str]:
    data_dir = (params.get("data") or {}).get("dir", "unknown") if isinstance(params, Mapping) else "unknown"
    lines = ["## Data", "", f"- Folder: `{data_dir}`", f"- DVC hash (md5): `{dvc_hash}`"]
    if skipped is None:
        lines.append("- Skipped files: unknown (no skipped.csv)")
    elif not skipped:
        lines.append("- Skipped files: none")
    else:
        reasons = Counter(reason for _, reason in skipped).most_common()
        summary = "; ".join(f"{reason}: {n}" for reason, n in reasons[:SKIPPED_SHOWN])
        lines.append(f"- Skipped files: {len(skipped)} ({summary})")
        lines += [f"  - `{p}`: {reason}" for p, reason in skipped[:SKIPPED_SHOWN]]
        if len(skipped) > SKIPPED_SHOWN:
            lines.append(f"  - … and {len(skipped) - SKIPPED_SHOWN} more in `skipped.csv`")
    splits = [name for name in ("train", "val", "test") if name in counts]
    splits += [name for name in counts if name not in splits]
    classes = sorted({name for split in splits for name in counts[split]})
    rows = [
        [name] + [counts[s].get(name, 0) for s in splits] + [sum(counts[s].get(name, 0) for s in splits)]
        for name in classes
    ]
    totals = [sum(counts[s].values()) for s in splits]
    rows.append(["**total**"] + [f"**{t}**" for t in totals] + [f"**{sum(totals)}**"])
    lines += ["", *_table(["class", *splits, "total"], rows), ""]
    return lines


def write_report(
    path: str | Path,
    *,
    metrics: Mapping[str, Any],
    params: Mapping[str, Any],
    counts: Mapping[str, Mapping[str, int]],
    skipped: Sequence[tuple[str, str]] | None,
    dvc_hash: str,
    figures: Mapping[str, str | Path],
    log: TrainingLog | None = None,
    versions: Mapping[str, str] | None = None,
) -> Path:
    """The one-page Markdown report: headline numbers, figures, and what is needed to reproduce them.

    `figures` maps a caption to a PNG path; links are written relative to the report's folder, so the
    report renders wherever the folder is copied (a DVC cache, a CI artifact, a pull request).
    """
    path = Path(path)
    classes = list(metrics.get("classes", []))
    n_images = metrics.get("n_images", sum(sum(row) for row in metrics.get("confusion_matrix", [])))
    lines = [
        "# Emotion classifier: evaluation report",
        "",
        f"**Test accuracy {metrics['accuracy']:.1%}** ({metrics['accuracy']:.4f}), "
        f"macro-F1 {metrics['macro_f1']:.3f}, on {n_images} test images "
        f"of {len(classes)} classes ({', '.join(classes)}).",
        "",
    ]
    repeated = metrics.get("repeated")
    if isinstance(repeated, Mapping) and "mean" in repeated.get("accuracy", {}):
        lines += [
            f"Over {repeated.get('folds', '?')} folds ({repeated.get('method', 'repeated')}): accuracy "
            f"{repeated['accuracy']['mean']:.3f} ± {repeated['accuracy']['std']:.3f}.",
            "",
        ]
    lines += ["## Metrics (test split)", "", *_metrics_table(metrics), ""]
    extra = [f"accuracy {metrics['accuracy']:.4f}"]
    if "loss" in metrics:
        extra.append(f"cross-entropy loss {metrics['loss']:.4f}")
    best = best_epoch(log) if log else None
    if log:
        epochs = max(int(c.epochs.max()) for curves in log.values() for c in curves.values())
        extra.append(f"{epochs} epochs trained")
    if best is not None:
        at = [
            f"validation loss {best.val_loss:.4f}" if best.val_loss is not None else "",
            f"validation accuracy {best.val_accuracy:.4f}" if best.val_accuracy is not None else "",
        ]
        extra.append(f"best validation epoch {best.epoch} ({', '.join(a for a in at if a)})")
    lines += ["Overall: " + "; ".join(extra) + ".", ""]
    lines += _repeated_lines(metrics)

    lines += ["## Figures", ""]
    for caption, figure in figures.items():
        link = Path(os.path.relpath(Path(figure), path.parent)).as_posix()
        lines += [f"![{caption}]({link})", ""]

    lines += _data_lines(params, counts, skipped, dvc_hash)
    lines += [
        "## Parameters",
        "",
        "```yaml",
        yaml.safe_dump(dict(params), sort_keys=False).rstrip(),
        "```",
        "",
    ]

    env = dict(versions) if versions is not None else environment()
    precision = find_key(params, "precision")
    if precision is not None:
        key, value = precision
        note = " (chosen from the hardware at training time)" if value == "auto" else ""
        env["Precision policy"] = f"{value} (`{key}`){note}"
    lines += ["## Environment", "", *_table(["component", "version"], env.items(), "ll"), ""]
    write_atomic(path, "\n".join(lines))
    return path
