"""The classifier as a file: VGG16 and its head with preprocessing and test-time views inside,
where its starting weights come from, how TensorFlow runs it, calibration and the scores; its ONNX
and TFLite exports, and one loader for every format.

May import `core` and `data`."""
