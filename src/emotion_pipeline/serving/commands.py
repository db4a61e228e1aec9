"""What every `emotion` command shares: its expected failure, which `main` prints as one `error:` line,
and loading the model once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emotion_pipeline.serving.predict import Classifier


class CommandError(Exception):
    """An expected failure: main() prints its message as one `error:` line and exits with `status`."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def load(model_path: Path) -> Classifier:
    """Load the model once, turning an unusable model file into a `CommandError`.

    A missing file is caught before TensorFlow is imported: faster, and without its log lines.
    """
    if not model_path.is_file():
        raise CommandError(f"model file not found: {model_path} (run `dvc repro` to train one)")
    from emotion_pipeline.serving.predict import Classifier

    try:
        return Classifier(model_path)
    except Exception as error:  # Keras raises assorted types for a damaged or foreign file
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CommandError(f"cannot load model {model_path}: {reason}") from None
