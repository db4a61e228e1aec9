"""The core every other subpackage stands on: the params schema, the files the pipeline writes
(tables, JSON, atomic writes), progress lines and the environment a run records.

Imports nothing else of the package: anything here may be used everywhere."""
