"""Versioned recipes: the method hyperparameters chosen by one selection protocol at one budget.

A recipe is a JSON file in this folder, named ``<selection>@<budget>x.json`` (``structured@1x``,
``forget-retain@5x``, ...), written by ``salmubench tune`` (``recipe_<name>.json`` in its output
folder) and copied here. It holds, per method, the chosen overrides on top of the method's code
defaults, the validation proxies and scores of that choice, and the provenance of the search
(reference checkpoints, data fingerprint, validation split, trial count and seconds). Protocols and
budgets: docs/tuning.md; how a recipe is applied and recorded: docs/run.md.

Resolution of a method's config for a run with recipe R: code defaults < R's overrides for the
method (if R covers it) < the user's ``--set`` overrides. Every unlearned model and result file
records the recipe (name, version, file sha256, whether it covered the method).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from salmubench.errors import ConfigError
from salmubench.registry import unknown_name_message

RECIPE_SCHEMA = "salmubench.recipe/1"
DEFAULT_PROTOCOL = "structured"  # decided in docs/tuning.md ("Which recipe is the default")
DEFAULT_RECIPE = f"{DEFAULT_PROTOCOL}@1x"  # what the default run (budget 1x) uses
DEFAULT = "default"  # spec: the default protocol's recipe at the run's budget, when one is shipped
NO_RECIPE = "none"  # spec: the code defaults of every method


class MethodChoice(BaseModel):
    """One method's entry in a recipe."""

    model_config = ConfigDict(extra="allow")
    overrides: dict[str, Any] = Field(default_factory=dict)


class Recipe(BaseModel):
    """A recipe file, validated."""

    model_config = ConfigDict(extra="allow")
    schema_: str = Field(alias="schema")
    name: str
    selection: str
    budget: float
    version: int
    methods: dict[str, MethodChoice]
    sha256: str = ""  # of the file's bytes (set on load)

    def overrides_for(self, method: str) -> dict[str, Any] | None:
        """The recipe's overrides of ``method``, None when the recipe does not cover it."""
        choice = self.methods.get(method)
        return None if choice is None else dict(choice.overrides)

    def record(self, method: str | None = None) -> dict[str, Any]:
        """What result files store about the recipe (and whether it covered ``method``)."""
        out: dict[str, Any] = {"name": self.name, "selection": self.selection, "budget": self.budget,
                               "version": self.version, "sha256": self.sha256}
        if method is not None:
            out["covers_method"] = method in self.methods
        return out


def recipe_name(selection: str, budget: float) -> str:
    """``structured@1x``, ``forget-retain@5x``, ``structured@0.5x``."""
    return f"{selection}@{budget:g}x"


def _files() -> dict[str, Any]:
    folder = resources.files("salmubench.recipes")
    return {p.name.removesuffix(".json"): p for p in folder.iterdir()
            if p.name.endswith(".json") and "@" in p.name and not p.name.startswith("pareto")}


def recipe_names() -> list[str]:
    """Names of the recipes shipped with the package, sorted."""
    return sorted(_files())


def parse_recipe(blob: bytes, where: str) -> Recipe:
    """A validated :class:`Recipe` from a file's bytes (one-line ConfigError if it is not one)."""
    try:
        data = json.loads(blob)
        if data.get("schema") != RECIPE_SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r} is not {RECIPE_SCHEMA}")
        recipe = Recipe.model_validate(data)
    except (ValueError, AttributeError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{where}: not a valid recipe ({first})") from None
    recipe.sha256 = hashlib.sha256(blob).hexdigest()
    return recipe


@cache
def load_recipe(name: str) -> Recipe:
    """The shipped recipe ``name``; a one-line ConfigError listing the available ones otherwise."""
    files = _files()
    if name not in files:
        raise ConfigError(unknown_name_message("unknown recipe", name, sorted(files), n=2, also=[NO_RECIPE]))
    return parse_recipe(files[name].read_bytes(), f"recipe {name}")


def resolve(name: str | None) -> Recipe | None:
    """``None`` / ``"none"`` -> None (code defaults); else the loaded recipe."""
    if name is None or name == NO_RECIPE:
        return None
    return load_recipe(name)


def resolve_for(spec: str | None, budget: float) -> Recipe | None:
    """The recipe a run at ``budget`` uses for the user's ``spec``.

    * ``None`` / ``"none"``: no recipe (each method's code defaults);
    * ``"default"``: ``<DEFAULT_PROTOCOL>@<budget>x`` when shipped, else no recipe;
    * a protocol (``"structured"``, ``"forget-retain"``): ``<protocol>@<budget>x`` (ConfigError if not shipped);
    * a full name (``"forget-retain@5x"``): that recipe, whatever the run's budget.
    """
    if spec is None or spec == NO_RECIPE:
        return None
    if spec == DEFAULT:
        name = recipe_name(DEFAULT_PROTOCOL, budget)
        return load_recipe(name) if name in _files() else None
    return load_recipe(spec if "@" in spec else recipe_name(spec, budget))


def apply(spec: str | None, method: str, budget: float,
          user: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(overrides, record)`` of one run: the recipe's overrides of ``method`` with ``user``'s on top,
    and what result files record about the recipe (None without one)."""
    recipe = resolve_for(spec, budget)
    return method_overrides(recipe, method, user), (recipe.record(method) if recipe is not None else None)


def pareto_data(budget: float | None) -> dict[str, Any] | None:
    """The shipped tuning Pareto data at ``budget`` (``pareto@<budget>x.json``), None if absent."""
    if budget is None:
        return None
    path = resources.files("salmubench.recipes").joinpath(f"pareto@{float(budget):g}x.json")
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def method_overrides(recipe: Recipe | None, method: str, user: dict[str, Any] | None) -> dict[str, Any]:
    """The overrides a run uses: the recipe's for ``method`` (if any), then ``user``'s on top."""
    base = (recipe.overrides_for(method) or {}) if recipe is not None else {}
    return {**base, **(user or {})}
