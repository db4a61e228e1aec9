"""params.yaml reads as DVC writes it."""

from __future__ import annotations

from emotion_pipeline.core.params import read_yaml


def test_params_read_exponent_floats(tmp_path) -> None:
    """`dvc exp run -S train.finetune_learning_rate=0.00001` writes `1e-05` into params.yaml."""
    path = tmp_path / "params.yaml"
    path.write_text("lr: 1e-05\nother: 1.0e-5\nsmall: -2E+3\nname: 1e5x\nversion: '1e-05'\nepochs: 20\n")
    params = read_yaml(path)
    assert params == {
        "lr": 1e-05,
        "other": 1e-05,
        "small": -2000.0,
        "name": "1e5x",
        "version": "1e-05",
        "epochs": 20,
    }
