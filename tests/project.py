"""A throw-away git copy of the project for tests that run DVC, and a way to run commands in it.

The copy's stages import the copy's own package (PYTHONPATH), so a test may change a source file
in the copy and see the pipeline react, without touching the checkout under test.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def tool_env(project: Path) -> dict[str, str]:
    """This interpreter's tools (dvc, python) first on PATH, the copy's package first on the import
    path, and wide tables."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(project / "src"),
        "COLUMNS": "400",
    }


def run(project: Path, *args: str, timeout: float = 900) -> str:
    """Run a command in the copy; fail the test with its output if it fails."""
    done = subprocess.run(
        args, cwd=project, env=tool_env(project), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def params_with(changes: dict[str, Any], base: Path = ROOT / "params.yaml") -> dict[str, Any]:
    """The project's params with `changes` applied, keys dotted as `dvc exp run -S` takes them."""
    params = yaml.safe_load(base.read_text())
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        node = params
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return params


def write_params(path: Path, changes: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(params_with(changes), sort_keys=False))
    return path


def load_script(path: Path) -> ModuleType:
    """A stage or bench script imported from its file (they are scripts, not a package); importing
    defines its `main` and runs nothing."""
    spec = importlib.util.spec_from_file_location(f"script_{path.parent.name}_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_stage(name: str) -> ModuleType:
    return load_script(ROOT / "stages" / f"{name}.py")


# One copy routine for benchmarks and tests: bench/ holds it, as benchmarks run without the tests.
copy_project = load_script(ROOT / "bench" / "project_copy.py").copy_project
