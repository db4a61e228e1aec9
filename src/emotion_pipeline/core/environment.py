"""What a run ran on: Python, the platform and the versions of the libraries that shape training,
evaluation and tracking, for the report and `emotion info`."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

# Distribution names differ by platform (tensorflow-cpu on x86-64 Linux); the first installed wins.
VERSION_PACKAGES: dict[str, tuple[str, ...]] = {
    "TensorFlow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel", "tf-nightly"),
    "Keras": ("keras",),
    "DVC": ("dvc",),
    "DVCLive": ("dvclive",),
}


def package_version(*names: str) -> str:
    """The version of the first installed distribution among `names` (no import, so no TF start-up)."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def machine() -> str:
    """The cores and the CPU's model name, as a recorded timing names its machine."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {cpu}"


def environment() -> dict[str, str]:
    """Python and the versions of the libraries that shape training, evaluation and tracking."""
    versions = {"Python": f"{platform.python_version()} ({platform.python_implementation()})"}
    versions.update({label: package_version(*names) for label, names in VERSION_PACKAGES.items()})
    versions["Platform"] = platform.platform(terse=True)
    return versions
