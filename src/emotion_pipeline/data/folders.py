"""A dataset is a folder of class folders: find every file in it, and say why each other file is not
used; and the files a command is given, folders walked. Which files are images is decided by
`images.load_image`, by content, not here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Candidate:
    """A file found under a class folder: its path and label."""

    path: Path
    label: str


def is_hidden(path: Path) -> bool:
    """Hidden files and folders (`.DS_Store`, `.ipynb_checkpoints`) are never data."""
    return any(part.startswith(".") for part in path.parts)


def class_folders(root: Path) -> list[Path]:
    """The class folders under `root`: its non-hidden sub-folders, sorted (empty ones included)."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not is_hidden(p.relative_to(root)))


def find_images(root: Path) -> tuple[list[Candidate], list[tuple[Path, str]]]:
    """Every file under `root/<class>/` (any depth), sorted, plus every other file under `root` and why.

    All non-hidden files are candidates, whatever their extension: `load_image` decides by content.
    Nothing is dropped unreported, not even the files in a hidden top-level folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    candidates: list[Candidate] = []
    ignored: list[tuple[Path, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if is_hidden(relative):
            ignored.append((path, "hidden file"))
        elif len(relative.parts) == 1:
            ignored.append((path, "not inside a class folder"))
        else:
            candidates.append(Candidate(path, relative.parts[0]))
    return candidates, ignored


def expand_paths(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The files a command was given: each file as it is, each folder's non-hidden files at any depth,
    sorted; and each folder that holds none, with the reason."""
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for path in paths:
        if not path.is_dir():
            files.append(path)  # a missing file is reported by the loader, like any unreadable one
            continue
        found = sorted(p for p in path.rglob("*") if p.is_file() and not is_hidden(p.relative_to(path)))
        if not found:
            problems.append((str(path), "no files in folder"))
        files.extend(found)
    return files, problems
