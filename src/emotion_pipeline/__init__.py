"""Emotion classification pipeline: VGG16 transfer learning driven by DVC."""

import gc
import os
import sys
from typing import NoReturn

# Before any module here imports TensorFlow: 3 hides its C++ INFO, WARNING and ERROR lines, because
# TensorFlow 2.21 logs a harmless ERROR (`NodeDef mentions attribute use_unbounded_threadpool`) for
# every parallel tf.data map. Real failures still raise Python exceptions with their message.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def exit_with(status: int) -> NoReturn:
    """End the process with `status`, sparing Python its final garbage collection: with TensorFlow
    loaded, that pass finalises its objects one by one for about a second per process, and the
    process is ending anyway. Reference-counted objects (open files) are still closed, atexit runs."""
    gc.freeze()
    sys.exit(status)
