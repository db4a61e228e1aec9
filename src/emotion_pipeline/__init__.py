"""Emotion classification pipeline: VGG16 transfer learning driven by DVC."""
