"""How TensorFlow runs here: numeric precision, seeds and determinism, and devices."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import tensorflow as tf

PRECISIONS = ("float32", "mixed_bfloat16", "auto")


def cpu_bf16_flags() -> list[str]:
    """The CPU's AMX-BF16 and AVX512-BF16 flags, those present: they make bfloat16 several times faster."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags]


def gpu_capabilities() -> list[tuple[str, tuple[int, int] | None]]:
    """Each visible GPU's name and CUDA compute capability (None where TensorFlow does not say)."""
    details = [tf.config.experimental.get_device_details(g) for g in tf.config.list_physical_devices("GPU")]
    return [(d.get("device_name", "GPU"), d.get("compute_capability")) for d in details]


def _shown(capability: tuple[int, int] | None) -> str:
    return ".".join(map(str, capability)) if capability else "unknown"


def auto_precision() -> tuple[str, str]:
    """What `precision: auto` becomes here, and why: mixed_bfloat16 where the hardware runs it fast
    (every GPU of compute capability 8.0 or newer; without GPUs, a CPU with AMX or AVX512-BF16)."""
    gpus = gpu_capabilities()
    if gpus:
        fast = all(c is not None and c >= (8, 0) for _, c in gpus)
        shown = ", ".join(f"{name} {_shown(c)}" for name, c in gpus)
        why = f"GPU compute capability {shown} ({'all' if fast else 'not all'} >= 8.0)"
    elif flags := cpu_bf16_flags():
        fast, why = True, f"CPU with {' and '.join(flags)}"
    else:
        fast, why = False, "no GPU, and the CPU has neither AMX nor AVX512-BF16"
    return ("mixed_bfloat16" if fast else "float32"), why


def resolve_precision(precision: str) -> str:
    """`auto` → `auto_precision()`'s choice; other values are returned as they are."""
    return auto_precision()[0] if precision == "auto" else precision


def set_precision(precision: str) -> str:
    """Set Keras' global dtype policy from the `precision` param; returns the policy used."""
    policy = resolve_precision(precision)
    if policy not in PRECISIONS[:2]:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    keras.mixed_precision.set_global_policy(policy)
    return policy


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and ask TensorFlow for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def distribution_strategy(devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """Mirror training over `devices` (by default every visible GPU) when there are several, each
    replica taking a share of every batch; the default strategy otherwise."""
    if devices is None:
        devices = [device.name for device in tf.config.list_logical_devices("GPU")]
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy(list(devices))
    return tf.distribute.get_strategy()


def device_lines() -> list[str]:
    """The devices TensorFlow sees, one line each (GPUs with name and compute capability)."""
    gpus = iter(gpu_capabilities())
    lines = []
    for device in tf.config.list_physical_devices():
        line = device.name.removeprefix("/physical_device:")
        if device.device_type == "GPU":
            name, capability = next(gpus)
            line += f" {name}, compute capability {_shown(capability)}"
        lines.append(line)
    return lines
