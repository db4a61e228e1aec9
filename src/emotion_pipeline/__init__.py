"""Emotion classification pipeline: VGG16 transfer learning driven by DVC."""

import os

# Before any module here imports TensorFlow: 3 hides its C++ INFO, WARNING and ERROR lines, because
# TensorFlow 2.21 logs a harmless ERROR (`NodeDef mentions attribute use_unbounded_threadpool`) for
# every parallel tf.data map. Real failures still raise Python exceptions with their message.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
