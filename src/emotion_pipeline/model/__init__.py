"""The classifier as a file: VGG16 and its head with preprocessing and test-time views inside,
where its starting weights come from, how TensorFlow runs it, calibration and the scores.

May import `core` and `data`."""
