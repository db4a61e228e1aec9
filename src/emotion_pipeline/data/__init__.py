"""Images in, labelled files out: folders of classes, the one image loader, faces found and framed,
the stratified split and the synthetic sample.

May import `core` only: no model, no training, no serving."""
