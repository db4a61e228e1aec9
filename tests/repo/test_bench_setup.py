"""The GPU install is an extra beside the unchanged CPU default, and docs/gpu.md shows what the
benchmarks run: its install commands (the benchmarks themselves run only by
hand; bench/gpu_fer.py only on a GPU machine)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from project import ROOT

tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")


def test_the_gpu_extra_is_tensorflows_cuda_build_beside_the_unchanged_default() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    tensorflow = {
        req.name: req
        for req in map(Requirement, project["dependencies"])
        if req.name.startswith("tensorflow")
    }
    assert set(tensorflow) == {"tensorflow-cpu", "tensorflow"}
    assert str(tensorflow["tensorflow-cpu"].marker) == 'platform_machine == "x86_64"'
    assert str(tensorflow["tensorflow"].marker) == 'platform_machine != "x86_64"'
    [gpu] = map(Requirement, project["optional-dependencies"]["gpu"])
    assert (gpu.name, gpu.extras) == ("tensorflow", {"and-cuda"})
    assert gpu.specifier == tensorflow["tensorflow-cpu"].specifier == tensorflow["tensorflow"].specifier


def bench_module(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A bench script as a module: it defines, and runs nothing (main() runs only as a script)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def test_the_gpu_benchmark_installs_with_the_readmes_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "docs/gpu.md").read_text().splitlines()
    for command in bench_module("gpu_fer", monkeypatch).INSTALL:
        assert any(line.startswith(command) for line in readme), command
