"""The project files a script runs: itself and every module of the package it imports, transitively.

DVC reruns a stage only when a listed dependency changes, so a stage must list every file of this
closure: a change to any of them can change what the stage writes.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "emotion_pipeline"


def module_files(name: str, src: Path) -> list[Path]:
    """The files importing `name` executes inside the project: each package's `__init__.py` on the
    way and the module itself; nothing when `name` is not a project module (a function, say)."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return []
    files = []
    for depth in range(1, len(parts) + 1):
        base = src.joinpath(*parts[:depth])
        if (base / "__init__.py").is_file():
            files.append(base / "__init__.py")
        elif base.with_suffix(".py").is_file():
            files.append(base.with_suffix(".py"))
        else:
            break
    return files


def imported_names(path: Path) -> set[str]:
    """Every absolute module name `path` imports, at the top or inside functions, and for
    `from a import b` also `a.b` (b may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def import_closure(script: Path, src: Path) -> set[Path]:
    """`script` and every project file it imports, directly or through other project modules."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_names(path):
            todo.extend(module_files(name, src))
    return seen
