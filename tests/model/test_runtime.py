"""How TensorFlow runs here: training mirrored over several devices (two logical CPUs stand in for
GPUs), and what `precision: auto` becomes on each kind of hardware."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from project import ROOT

from emotion_pipeline.model import runtime

# TensorFlow splits a CPU into logical devices only before it initialises: a process of its own.
MIRRORED = """
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import yaml
from emotion_pipeline.model.network import assemble, build_head, build_vgg16
from emotion_pipeline.model.runtime import distribution_strategy
from emotion_pipeline.training.batches import image_batches
from emotion_pipeline.training.trainer import Trainer, set_trainable_blocks

params = yaml.safe_load(open("params.yaml"))
params["batch_size"] = 4
keras.utils.set_random_seed(0)
strategy = distribution_strategy([d.name for d in tf.config.list_logical_devices("CPU")])
x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype("float32")
y = np.eye(3, dtype="float32")[[0, 1, 2] * 2 + [0, 1]]
with strategy.scope():
    base = build_vgg16(None, 32, batch_norm=True)
    model = assemble(base, build_head(base.output_shape[1:], ["a", "b", "c"], 8, 0.0), ["a", "b", "c"], 32)
    set_trainable_blocks(base, None)
    before = base.get_layer("block1_conv1").kernel.numpy().copy()
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    history = Trainer(params).fit(model, data, data, 1, 0.01)
print(json.dumps({
    "strategy": type(strategy).__name__,
    "replicas": strategy.num_replicas_in_sync,
    "variable_on": sorted(v.device for v in model.trainable_variables[0].value.values),
    "loss": history.history["loss"],
    "changed": bool(np.abs(base.get_layer("block1_conv1").kernel.numpy() - before).max() > 0),
}))
"""


@pytest.mark.slow  # a TensorFlow process of its own, training
def test_training_mirrors_over_two_logical_cpus() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["strategy"] == "MirroredStrategy" and result["replicas"] == 2
    assert [device.rsplit("/", 1)[-1] for device in result["variable_on"]] == ["device:CPU:0", "device:CPU:1"]
    assert len(result["loss"]) == 1 and result["loss"][0] > 0 and result["changed"]


@pytest.mark.parametrize(
    ("gpus", "flags", "policy", "why"),
    [
        ([("H200", (9, 0))], [], "mixed_bfloat16", "GPU compute capability H200 9.0 (all >= 8.0)"),
        ([("A100", (8, 0)), ("T4", (7, 5))], ["amx_bf16"], "float32", "A100 8.0, T4 7.5 (not all >= 8.0)"),
        ([], ["amx_bf16", "avx512_bf16"], "mixed_bfloat16", "CPU with amx_bf16 and avx512_bf16"),
        ([], [], "float32", "no GPU, and the CPU has neither AMX nor AVX512-BF16"),
    ],
)
def test_auto_precision_says_what_it_chose_and_why(
    gpus: list, flags: list[str], policy: str, why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "gpu_capabilities", lambda: gpus)
    monkeypatch.setattr(runtime, "cpu_bf16_flags", lambda: flags)
    chosen, reason = runtime.auto_precision()
    assert chosen == policy and reason.endswith(why)
    assert runtime.resolve_precision("auto") == policy and runtime.resolve_precision("float32") == "float32"
