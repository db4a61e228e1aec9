"""A trained classifier answering people: batch prediction, Grad-CAM explanations and their overlays,
the `emotion` command and the web app (with its templates and static files).

May import `core`, `data` and `model`; never `training` or `report`."""
