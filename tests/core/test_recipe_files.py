"""Named recipes (conf/recipe/*.yaml): each composes into params the schema accepts, params.yaml is
the baseline's composition, and no recipe's values are written a second time elsewhere."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from project import ROOT, copy_project, tool_env

from emotion_pipeline.core.params import ParamsError, check_params, read_yaml
from emotion_pipeline.core.recipes import compose, recipe_names

CONF = ROOT / "conf"
RECIPES = recipe_names(CONF)
# Where a recipe's values must not be copied: they read conf/ instead.
READERS = ["README.md", "docs/**/*.md", "bench/**/*.py", "tests/**/*.py"]
# Half of a recipe's own settings (at least 3) in one file make a copy of it; fewer are the common
# switches a test sets to train a tiny network (random weights, BatchNorm).
COPIED = 0.5


def flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` as `{"a.b": 1}`: keys as `dvc exp run -S` takes them."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def own_settings(recipe: str) -> dict[str, Any]:
    """What a recipe changes from the defaults (its name aside)."""
    default, composed = flat(compose(CONF, "baseline")), flat(compose(CONF, recipe))
    return {k: v for k, v in composed.items() if default.get(k) != v and k != "recipe"}


def spellings(key: str, value: Any) -> list[str]:
    """How a setting is written in a command (`key=value`) or a Python dict (`"key": value`)."""
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    python = {True: "True", False: "False"}.get(value, repr(value)) if not isinstance(value, str) else None
    return [f"{key}={text}", f'"{key}": {python}' if python else f'"{key}": "{value}"']


def copies(text: str, settings: dict[str, Any]) -> list[str]:
    return [key for key, value in settings.items() if any(s in text for s in spellings(key, value))]


def test_the_recipes_the_readme_promises_exist() -> None:
    assert {"baseline", "improved", "quickstart", "fer2013", "fer2013-7", "photos"} <= set(RECIPES)


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_recipe_composes_into_params_the_schema_accepts_and_names_itself(recipe: str) -> None:
    params = compose(CONF, recipe)
    assert check_params(params, CONF.parent / "params.yaml") is params
    assert params["recipe"] == recipe


def test_a_single_value_goes_on_top_of_a_recipe() -> None:
    params = compose(CONF, "fer2013", ["model.dense_units=512", "data.dir=elsewhere"])
    assert (params["model"]["dense_units"], params["data"]["dir"]) == (512, "elsewhere")
    assert params["model"]["width_multiplier"] == compose(CONF, "fer2013")["model"]["width_multiplier"]


def test_params_yaml_is_the_baseline_recipe_composed() -> None:
    assert read_yaml(ROOT / "params.yaml") == compose(CONF, "baseline")


def test_an_unknown_recipe_in_params_yaml_is_one_line_listing_the_recipes() -> None:
    params = {**compose(CONF, "baseline"), "recipe": "fer2031"}
    with pytest.raises(ParamsError) as raised:
        check_params(params, ROOT / "params.yaml")
    message = str(raised.value)
    assert "\n" not in message and "'fer2031': not a recipe" in message
    assert all(name in message for name in RECIPES)


def test_no_recipe_is_written_a_second_time() -> None:
    files = sorted({p for pattern in READERS for p in ROOT.glob(pattern)} - {Path(__file__)})
    found = {
        (path.relative_to(ROOT).as_posix(), recipe): hits
        for recipe in RECIPES
        if len(settings := own_settings(recipe)) >= 3
        for path in files
        if len(hits := copies(path.read_text(encoding="utf-8"), settings)) >= max(3, COPIED * len(settings))
    }
    assert found == {}


def test_the_copy_check_finds_a_recipe_pasted_as_a_command() -> None:
    settings = own_settings("fer2013")
    pasted = " ".join(
        f"-S {key}={yaml.safe_dump(v, default_flow_style=True).strip()}" for key, v in settings.items()
    )
    assert len(copies(re.sub(r"\.\.\.", "", pasted), settings)) == len(settings)
    assert copies("dvc exp run -S recipe=fer2013 -S model.dense_units=512", settings) == []


def test_the_generated_docs_are_up_to_date() -> None:
    """docs/params.md (from the schema) and the recipes tables (from results/): `python docs/make.py`."""
    done = subprocess.run(
        [sys.executable, "docs/make.py", "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_every_result_names_its_recipe_command_and_commit() -> None:
    for path in sorted((ROOT / "results").glob("*/metrics.json")):
        result = json.loads(path.read_text())
        assert result["recipe"] == path.parent.name in RECIPES
        assert result["command"] == f"dvc exp run -S recipe={result['recipe']}"
        assert re.fullmatch(r"[0-9a-f]{7,}(-dirty)?", result["commit"]) and result["minutes"] > 0


@pytest.mark.slow
def test_dvc_refuses_an_unknown_recipe_in_one_line_that_lists_the_recipes(tmp_path: Path) -> None:
    """`dvc exp run -S recipe=nope` fails before any stage, with our line (conf/hydra_plugins/) where
    Hydra would print each recipe on a line and its search path; DVC adds its own help line."""
    project = copy_project(tmp_path)
    done = subprocess.run(
        ["dvc", "exp", "run", "-S", "recipe=nope"],
        cwd=project,
        env=tool_env(project),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 2, lines
    refused = f"unknown recipe 'nope': the recipes are {', '.join(RECIPES)}"
    assert lines[0] == f"ERROR: unexpected error - {refused}"
    assert lines[1].startswith("Having any troubles?")  # DVC's, after any error it did not expect
    assert (project / "params.yaml").read_bytes() == (ROOT / "params.yaml").read_bytes()  # nothing written
