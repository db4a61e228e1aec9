"""A Hydra plugin that `dvc exp run` loads (`.dvc/config`: `hydra.plugins_path = conf`) so that an unknown
recipe is refused in one line that lists the recipes, instead of Hydra's message (the error, each option
on a line of its own, then the config search path).

Hydra looks a config up in each source of its search path in turn; this source comes after the project's
`conf/` and answers only for `recipe/<name>` where conf/recipe/ has no such file, by raising that line.
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource
from hydra.plugins.search_path_plugin import SearchPathPlugin

from emotion_pipeline.core.recipes import GROUP, recipe_names

SCHEME = "unknown-recipe"


def _unknown(conf: str, config_path: str) -> str | None:
    """The recipe `config_path` (`recipe/<name>[.yaml]`) asks for, when conf/recipe/ lacks it."""
    group, _, name = config_path.removesuffix(".yaml").partition("/")
    return name if group == GROUP and name and name not in recipe_names(conf) else None


class UnknownRecipe(ConfigSource):
    """The last source of the search path: the one line for a recipe that the project lacks."""

    @staticmethod
    def scheme() -> str:
        return SCHEME

    def load_config(self, config_path: str) -> ConfigResult:
        name, names = _unknown(self.path, config_path), ", ".join(recipe_names(self.path))
        raise ConfigLoadError(f"unknown recipe {name!r}: the recipes are {names}")

    def is_config(self, config_path: str) -> bool:
        return _unknown(self.path, config_path) is not None

    def is_group(self, config_path: str) -> bool:
        return False

    def available(self) -> bool:
        return Path(self.path).is_dir()

    def list(self, config_path: str, results_filter: ObjectType | None) -> list[str]:
        return []


class AfterTheRecipes(SearchPathPlugin):
    """Puts `UnknownRecipe` after the project's own config folder (the `main` entry)."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for element in search_path.get_path():
            if element.provider == "main" and element.path:
                search_path.append("emotion-pipeline", f"{SCHEME}://{element.path.removeprefix('file://')}")
                return
