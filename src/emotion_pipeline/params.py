"""Read `params.yaml` once per stage, and write small outputs so a failed run leaves old ones whole."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """YAML 1.2 floats: `dvc exp run -S lr=0.00001` writes `1e-05`, which YAML 1.1 reads as a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The pipeline's parameters as a dict (the file DVC tracks and `dvc exp run -S` edits)."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename, so readers never see half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any) -> None:
    """Atomic, stable (sorted keys, indented) JSON."""
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def trains_online(train: dict[str, Any]) -> bool:
    """Whether images go through VGG16 while training (then no feature cache is used)."""
    return train["mode"] == "online" or bool(train["trainable_base"])
