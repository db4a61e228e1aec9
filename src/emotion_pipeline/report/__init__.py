"""The report stage's parts: inputs it reads, figures and image grids it draws, the page it writes.

May import `core`, `data`, `model` and `serving` (the heatmap overlays); nothing imports it but the
report stage."""
