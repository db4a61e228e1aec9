"""Turning data into a classifier: input pipelines, the feature cache, the training loop and its
recipe switches.

May import `core`, `data` and `model`; never `serving` or `report`."""
