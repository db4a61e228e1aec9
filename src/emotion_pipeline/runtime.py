"""How TensorFlow runs here: numeric precision, seeds and determinism, and devices."""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

PRECISIONS = ("float32", "mixed_bfloat16", "auto")


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has AMX or AVX512-BF16, which make bfloat16 several times faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str) -> str:
    """`auto` → mixed_bfloat16 where the hardware runs it fast (GPUs of compute capability 8.0 and
    newer, CPUs with AMX or AVX512-BF16), float32 elsewhere; other values are returned as they are."""
    if precision != "auto":
        return precision
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capabilities = [tf.config.experimental.get_device_details(g).get("compute_capability") for g in gpus]
        fast = all(c is not None and c >= (8, 0) for c in capabilities)
    else:
        fast = cpu_has_fast_bf16()
    return "mixed_bfloat16" if fast else "float32"


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


def distribution_strategy() -> tf.distribute.Strategy:
    """Mirror training over every visible GPU when there are several; the default otherwise."""
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
