"""Every file the pipeline writes goes through here: CSV tables (pandas), JSON, and atomic writes.

Writes go to a temporary file that is renamed into place, so a failed or interrupted stage leaves the
previous output whole, and the result is readable like any other file (0644 under a usual umask).
Tables come out byte-identical for identical rows, so DVC sees a change only when the data changes.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0600


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that wants a file name (NumPy, Keras, Matplotlib),
    renamed onto `path` when the block ends, removed if it fails or is interrupted. The temporary name
    ends with `path`'s whole name, so writers that choose the format by suffix (`.npz`, `.keras`,
    `.weights.h5`) see the one they expect."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=f".{path.name}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write `data` to `path` through a temporary file and a rename, so readers never see half."""
    with replacing(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Atomic, stable (sorted keys, indented) JSON."""
    return write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def table(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows as a DataFrame with the given columns (an empty table keeps its header)."""
    return pd.DataFrame(list(rows), columns=list(columns))


def write_table(path: str | Path, frame: pd.DataFrame) -> Path:
    """Atomic CSV with Unix newlines and no index: identical bytes for identical rows."""
    return write_atomic(path, frame.to_csv(index=False, lineterminator="\n"))


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV written by `write_table`, every column as text (paths and labels stay as written)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
