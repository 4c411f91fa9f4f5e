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

A recipe records the architecture it was tuned on (``tuned_on``: ``{digest, image_size, name}``, the
identity of ``salmubench.models.model_architecture``); :func:`check_fit` refuses it on a model of another
architecture, and refuses the ``default`` spec there too (the code defaults were tuned on
:data:`CODE_DEFAULTS_TUNED_ON`, the ``mini`` preset's ``salmu-tiny`` at 32 px). A spec may also be a path
to a recipe file (``path.json``) and a shipped recipe may be named otherwise than ``<selection>@<B>x``
(``harness@vitb16``: settings published by the SALMUBench authors, ``"tuned": false``, for budget 10
only, ``"fixed_budget": true``). docs/tuning.md ("Recipes and architectures").
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from salmubench.errors import ConfigError
from salmubench.registry import unknown_name_message

RECIPE_SCHEMA = "salmubench.recipe/1"
DEFAULT_PROTOCOL = "structured"  # decided in docs/tuning.md ("Which recipe is the default")
DEFAULT_RECIPE = f"{DEFAULT_PROTOCOL}@1x"  # what the default run (budget 1x) uses
DEFAULT = "default"  # spec: the default protocol's recipe at the run's budget, when one is shipped
NO_RECIPE = "none"  # spec: the code defaults of every method
# The architecture the built-in methods' code defaults and the shipped tuned recipes were tuned on: the
# `mini` preset's salmu-tiny (its model_architecture; tests check the digest against open_clip's config).
CODE_DEFAULTS_TUNED_ON: dict[str, Any] = {"digest": "8a122174e2a247eb", "image_size": 32, "name": "salmu-tiny"}
CODE_DEFAULTS_NOTE = "code defaults tuned on salmu-tiny@32px"


class MethodChoice(BaseModel):
    """One method's entry in a recipe."""

    model_config = ConfigDict(extra="allow")
    overrides: dict[str, Any] = Field(default_factory=dict)


class TunedOn(BaseModel):
    """The architecture a recipe was tuned on (``salmubench.models.model_architecture``'s record)."""

    model_config = ConfigDict(extra="allow")
    digest: str  # sha256-16 of the open_clip model_cfg's canonical JSON: what is compared
    image_size: int | None = None
    name: str | None = None


class Recipe(BaseModel):
    """A recipe file, validated."""

    model_config = ConfigDict(extra="allow")
    schema_: str = Field(alias="schema")
    name: str
    selection: str
    budget: float
    version: int
    methods: dict[str, MethodChoice]
    tuned_on: TunedOn | None = None  # None: not recorded (a file from before issue 21): not checked
    tuned: bool = True  # False: settings copied from elsewhere (harness@vitb16), not chosen by salmubench tune
    fixed_budget: bool = False  # True: the budget is one of its settings; a run at another budget is refused
    sha256: str = ""  # of the file's bytes (set on load)
    path: str = ""  # the file, for a recipe given by path (set on load)

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


def is_recipe_file(spec: str | os.PathLike) -> bool:
    """True when ``spec`` names a recipe file rather than a shipped recipe: a path ending in ``.json``."""
    return str(spec).endswith(".json")


def load_recipe_file(path: str | os.PathLike) -> Recipe:
    """The recipe in file ``path`` (validated by :func:`parse_recipe`; its sha256 and absolute path set)."""
    file = Path(path).expanduser()
    try:
        blob = file.read_bytes()
    except OSError as exc:
        what = "not found" if not file.exists() else f"unreadable ({exc.__class__.__name__})"
        raise ConfigError(f"recipe file {file}: {what}") from None
    recipe = parse_recipe(blob, f"recipe file {file}")
    recipe.path = str(file.resolve())
    return recipe


def resolve_for(spec: str | None, budget: float) -> Recipe | None:
    """The recipe a run at ``budget`` uses for the user's ``spec``.

    * ``None`` / ``"none"``: no recipe (each method's code defaults);
    * ``"default"``: ``<DEFAULT_PROTOCOL>@<budget>x`` when shipped, else no recipe;
    * a protocol (``"structured"``, ``"forget-retain"``): ``<protocol>@<budget>x`` (ConfigError if not shipped);
    * a shipped name (``"forget-retain@5x"``, ``"harness@vitb16"``): that recipe, whatever the run's budget,
      except a recipe with ``fixed_budget`` (``harness@vitb16``: budget 10 only; ConfigError at another);
    * a path ending in ``.json``: the recipe file there (:func:`load_recipe_file`; as a shipped name).

    Whether the recipe suits the model's architecture is :func:`check_fit`'s question.
    """
    if spec is None or spec == NO_RECIPE:
        return None
    if spec == DEFAULT:
        name = recipe_name(DEFAULT_PROTOCOL, budget)
        return load_recipe(name) if name in _files() else None
    if is_recipe_file(spec):
        recipe = load_recipe_file(spec)
    else:
        recipe = load_recipe(spec if "@" in spec else recipe_name(spec, budget))
    if recipe.fixed_budget and float(budget) != recipe.budget:
        raise ConfigError(f"recipe {recipe.name} is for budget {recipe.budget:g} only (the training length is one "
                          f"of its settings), not {float(budget):g}; run it at budget {recipe.budget:g}")
    return recipe


def budget_of(spec: str | None) -> float | None:
    """The budget a spec names: a shipped recipe name's or a recipe file's; None for ``none``, ``default``
    and a protocol (they follow the run's budget). An unknown name or a bad file is a ConfigError."""
    if spec is None or spec in (NO_RECIPE, DEFAULT):
        return None
    if is_recipe_file(spec):
        return load_recipe_file(spec).budget
    return load_recipe(spec).budget if "@" in spec else None


def describe_arch(identity: dict[str, Any] | None) -> str:
    """``salmu-tiny (32 px)`` (an unnamed architecture by its digest)."""
    if not identity:
        return "an unrecorded architecture"
    size = identity.get("image_size")
    return f"{identity.get('name') or 'unnamed ' + str(identity.get('digest'))} ({size or '?'} px)"


def fitting_recipes(identity: dict[str, Any]) -> list[str]:
    """The shipped recipes tuned on (or made for) the architecture ``identity``, sorted."""
    return [n for n in recipe_names()
            if (t := load_recipe(n).tuned_on) is not None and t.digest == identity.get("digest")]


def check_fit(spec: str | None, budget: float, model: dict[str, Any]) -> dict[str, Any]:
    """The recipe-fit record of ``spec`` at ``budget`` for a model of architecture ``model`` (the record of
    ``salmubench.models.model_architecture``); a one-line ConfigError when the recipe was tuned on another
    architecture, and when ``spec`` is ``"default"`` on an architecture other than the code defaults'
    (:data:`CODE_DEFAULTS_TUNED_ON`; whether or not a recipe is shipped at ``budget``).

    Record: ``{"recipe": name or "none", "tuned_on": the recipe's (for none: the code defaults'),
    "model": model, "fits": bool (None: the recipe records no tuned_on, not checked), "note": str | None}``,
    plus ``"path"`` for a recipe file. ``"none"`` is never refused: its record says whether the code defaults
    were tuned on this architecture.
    """
    recipe = resolve_for(spec, budget)
    if recipe is None:
        fits = model.get("digest") == CODE_DEFAULTS_TUNED_ON["digest"]
        if spec == DEFAULT and not fits:
            raise ConfigError(_refusal(f"recipe {DEFAULT} (the code defaults: no recipe is shipped at budget "
                                       f"{float(budget):g})", CODE_DEFAULTS_TUNED_ON, model))
        note = CODE_DEFAULTS_NOTE + ("" if fits else f", not on {describe_arch(model)}")
        return {"recipe": NO_RECIPE, "tuned_on": dict(CODE_DEFAULTS_TUNED_ON), "model": model, "fits": fits,
                "note": note}
    tuned_on = recipe.tuned_on.model_dump() if recipe.tuned_on is not None else None
    fits = None if tuned_on is None else tuned_on["digest"] == model.get("digest")
    if fits is False:
        label = (f"recipe file {recipe.path} ({recipe.name})" if recipe.path else
                 f"recipe {recipe.name}" if spec == recipe.name else f"recipe {spec} ({recipe.name})")
        raise ConfigError(_refusal(label, tuned_on, model))
    note = (f"recipe {recipe.name} does not record the architecture it was tuned on (not checked)" if fits is None
            else None if recipe.tuned else f"untuned recipe: {recipe.name}'s settings were not chosen by tuning")
    record = {"recipe": recipe.name, "tuned_on": tuned_on, "model": model, "fits": fits, "note": note}
    return record | ({"path": recipe.path} if recipe.path else {})


def _refusal(label: str, tuned_on: dict[str, Any] | None, model: dict[str, Any]) -> str:
    """The one line refusing ``label`` on ``model``: both architectures and the choices."""
    ours, theirs = describe_arch(model), describe_arch(tuned_on)
    if ours == theirs:  # same name and size, another config: tell them apart by digest
        ours, theirs = f"{ours} [{model.get('digest')}]", f"{theirs} [{(tuned_on or {}).get('digest')}]"
    shipped = [f"{n} (budget {r.budget:g} only)" if (r := load_recipe(n)).fixed_budget else n
               for n in fitting_recipes(model)]
    made = f"shipped: {', '.join(shipped)}" if shipped else "none is shipped"
    return (f"{label} was tuned on {theirs}, not on this model's architecture {ours}; use a recipe made for this "
            f"architecture ({made}; or a recipe file path.json, e.g. one salmubench tune wrote for this model), "
            f"or the recipe {NO_RECIPE!r} (the {CODE_DEFAULTS_NOTE}; recorded as such)")


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
