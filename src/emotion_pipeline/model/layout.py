"""VGG16's layout: its filters per convolution, block by block (the shapes ImageNet's weights have).
Apart from the network so that reading a saved classifier's settings (`weights.base_settings`) needs
no TensorFlow."""

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
