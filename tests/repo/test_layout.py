"""The package's shape: subpackages by job, each importing only those its docstring allows, no two
modules with one name, none over 300 lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from imports import imported_names
from project import ROOT

PACKAGE = ROOT / "src" / "emotion_pipeline"
MAX_LINES = 300


def subpackages(package: Path) -> list[Path]:
    return sorted(p.parent for p in package.glob("*/__init__.py"))


def allowed_imports(subpackage: Path) -> set[str]:
    """The subpackages named in the `May import ...` sentence of its docstring (up to `;` or `.`):
    the docstring is the one place that says it."""
    docstring = ast.get_docstring(ast.parse((subpackage / "__init__.py").read_text())) or ""
    found = re.search(r"May import ([^;.]*)", docstring)
    return set(re.findall(r"`(\w+)`", found[1])) if found else set()


def upward_imports(package: Path) -> list[str]:
    """Every import of one subpackage by another that its docstring does not allow, as
    `module -> imported subpackage`."""
    names = {sub.name for sub in subpackages(package)}
    problems = []
    for sub in subpackages(package):
        allowed = allowed_imports(sub) | {sub.name}
        for module in sorted(sub.rglob("*.py")):
            for name in imported_names(module):
                parts = name.split(".")
                if parts[0] == package.name and len(parts) > 1 and parts[1] in names - allowed:
                    problems.append(f"{module.relative_to(package)} -> {parts[1]}")
    return sorted(set(problems))


def test_each_subpackage_imports_only_what_its_docstring_allows() -> None:
    assert {sub.name for sub in subpackages(PACKAGE)} >= {"core", "data", "model", "training", "serving"}
    assert upward_imports(PACKAGE) == []


def test_the_direction_check_catches_a_lower_subpackage_importing_a_higher_one(tmp_path: Path) -> None:
    package = tmp_path / "emotion_pipeline"
    for name, doc in (("core", "Imports nothing else."), ("data", "May import `core` only.")):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text(f'"""{doc}"""\n')
    (package / "data" / "loader.py").write_text("from emotion_pipeline.core.tables import x\n")
    assert upward_imports(package) == []
    (package / "core" / "tables.py").write_text("def f():\n    from emotion_pipeline.data import loader\n")
    assert upward_imports(package) == ["core/tables.py -> data"]


def test_no_two_modules_share_a_file_name() -> None:
    names = [p.name for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_no_module_is_over_300_lines() -> None:
    long = {
        p.relative_to(PACKAGE).as_posix(): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
