"""The report's figures, drawn on the Agg canvas through matplotlib's object API (never pyplot), so
they need no global state, work headless, and can be drawn from the web app's threads too."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator, PercentFormatter

from emotion_pipeline.core.canvas import new_figure, save
from emotion_pipeline.report.inputs import TrainingLog, best_epoch

# One colour per role, shared by every figure: training/validation/test splits, right/wrong answers.
SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
CORRECT_COLOUR = "#1a7f37"
WRONG_COLOUR = "#cf222e"
BEST_COLOUR = "#6e7781"


def placeholder(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color=BEST_COLOUR, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_training_curves(log: TrainingLog, path: str | Path, train: dict[str, Any]) -> Path:
    """Loss and accuracy per epoch, training vs validation, with the best validation epoch marked
    (the one whose weights `train.select` kept, when it kept a best one).

    Over-fitting and the effect of a fine-tuning phase show as the gap between the two lines.
    """
    figure = new_figure(11.0, 4.3)
    axes = figure.subplots(1, 2)
    best = best_epoch(log, train)
    labels = {"train": "training", "eval": "validation"}
    colours = {"train": SPLIT_COLOURS["train"], "eval": SPLIT_COLOURS["val"]}
    for ax, metric, title in zip(axes, ("loss", "accuracy"), ("Loss", "Accuracy"), strict=True):
        curves = log.get(metric, {})
        if not curves:
            placeholder(ax, f"no {metric} logged")
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
                label=f"{'weights kept: epoch' if best.kept else 'best validation epoch'} ({best.epoch})",
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
    return save(figure, path)


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
    figure = new_figure(side + 1.0, side)
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
    return save(figure, path)


def plot_class_distribution(counts: Mapping[str, Mapping[str, int]], path: str | Path) -> Path:
    """Images per class in each split, to show imbalance and that every split has every class."""
    splits = [name for name in ("train", "val", "test") if name in counts]
    splits += [name for name in counts if name not in splits]
    classes = sorted({name for split in splits for name in counts[split]})
    figure = new_figure(min(12.0, max(6.5, 1.5 * len(classes) + 2.5)), 4.4)
    ax = figure.subplots()
    if not classes:
        placeholder(ax, "no images in any split")
        return save(figure, path)
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
    return save(figure, path)
