"""Named recipes: conf/config.yaml (every param's default) and conf/recipe/<name>.yaml (what a recipe
changes), composed by Hydra as `dvc exp run -S recipe=NAME` composes them into params.yaml.

The tests, bench/ and docs compose recipes here, through Hydra itself, so a recipe's values are
written once, in its file, and read the same way everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONF = "conf"  # beside params.yaml: DVC's default Hydra config folder
CONFIG_NAME = "config"
GROUP = "recipe"


def recipe_names(conf: str | Path) -> list[str]:
    """The recipes a project offers: the files of its conf/recipe/ folder, by name."""
    return sorted(path.stem for path in Path(conf, GROUP).glob("*.yaml"))


def compose(conf: str | Path, recipe: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Every param of `recipe` with `overrides` (`key=value`, as `dvc exp run -S` takes them) on top."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(Path(conf).resolve()), version_base=None):
        config = hydra_compose(CONFIG_NAME, overrides=[f"{GROUP}={recipe}", *overrides])
    return OmegaConf.to_container(config, resolve=True)
