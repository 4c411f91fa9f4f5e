"""The front half every unlearning entry shares: method, recipe, config, output folder, run identity.

``salmubench.unlearning.api.unlearn`` (one shot) and ``salmubench.sequential.api.unlearn_sequential``
(K deletion requests) both start with :func:`prepare_job`, so a method name, a recipe, ``overrides``
and an output folder are resolved and checked by one piece of code, and both hash the same
:meth:`UnlearnJob.identity` (the sequential entry adds its own block to it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salmubench import recipes
from salmubench.config import build_config
from salmubench.io_utils import check_out_dir
from salmubench.unlearning.base import Budget, MethodConfig, UnlearningMethod
from salmubench.unlearning.execute import run_identity
from salmubench.unlearning.registry import get_method


@dataclass(frozen=True)
class UnlearnJob:
    """A resolved unlearning request, before any model or data is loaded.

    Attributes:
        cls: the method class (registered or external).
        cfg: its config: code defaults, then the recipe's values, then ``overrides``.
        recipe: the recipe record (which recipe gave which values), or None for code defaults.
        budget: forget-set passes.
        seed: the run seed.
        out: the checked output folder.
        recipe_fit: whether the recipe (or the code defaults) was tuned on the model's architecture
            (:func:`check_recipe_fits`); None when no model was given to :func:`prepare_job`.
    """

    cls: type[UnlearningMethod]
    cfg: MethodConfig
    recipe: dict[str, Any] | None
    budget: Budget
    seed: int
    out: Path
    recipe_fit: dict[str, Any] | None = None  # check_recipe_fits' record (unlearn.json; not in the identity)

    @property
    def method(self) -> str:
        return self.cls.name

    def identity(self, base_sha256: str | None, data_fingerprint: str, precision: str = "fp32",
                 world_size: int = 1) -> dict[str, Any]:
        """What identifies the run (``unlearning.execute.run_identity``): hashed into ``config_hash``. A
        precision other than fp32 (``"bf16"``: forward passes under autocast, fp32 weights and optimiser) is
        part of it; fp32 is not, so every fp32 config hash is what it was. The torchrun ``world_size`` is part of
        it only when above 1 (a rerun on another GPU count is a different run; one process changes no hash)."""
        run = run_identity(self.cls, self.cfg, self.budget, self.seed, base_sha256, data_fingerprint, self.recipe,
                           world_size)
        return run if precision == "fp32" else {**run, "precision": precision}

    def instance(self, runtime) -> UnlearningMethod:
        """A fresh method object on this job's config (one per run or per request)."""
        return self.cls(self.cfg, runtime)


def local_path(spec: str | os.PathLike) -> Path:
    """A model spec as a path (``local-dir:`` prefix dropped), for the output-folder check."""
    return Path(str(spec).removeprefix("local-dir:"))


def check_recipe_fits(recipe_spec: str | None, budget: float, model_spec: Any = None,
                      arch: str | None = None) -> dict[str, Any]:
    """Refuse a recipe tuned on another architecture than the model's; else its fit record.

    The one check of every unlearning entry (``unlearn``, ``unlearn_sequential`` call it through
    :func:`prepare_job` before loading anything but the model's config), for ``salmubench run`` to call
    before planning, once per budget: ``check_recipe_fits(cfg.recipe, budget, cfg.compromised, arch=cfg.arch)``
    with given references, or ``check_recipe_fits(cfg.recipe, budget, None, arch=<the preset's TrainConfig
    arch>)`` before the references are trained. No weights are loaded.

    Args:
        recipe_spec: as ``unlearn``'s ``recipe``: None / ``"none"``, ``"default"``, a protocol, a shipped name
            (``"structured@1x"``, ``"harness@vitb16"``) or a recipe file path (``"path.json"``).
        budget: the run's budget (it picks ``default``'s and a protocol's recipe).
        model_spec: the starting model: anything ``salmubench.models.load_model`` takes, or a loaded
            ClipBundle; None: the architecture ``arch`` alone.
        arch: an architecture name or model config path (a bare checkpoint's, or the model-less check's).

    Returns:
        The record ``unlearn.json`` stores as ``recipe_fit`` (``salmubench.recipes.check_fit``):
        ``{"recipe", "tuned_on", "model", "fits", "note"}`` (+ ``"path"`` for a recipe file); with ``"none"``
        on another architecture than the code defaults' ``fits`` is False and the note says so.

    Raises:
        ConfigError: one line naming the recipe, both architectures (name and image size) and the choices,
            when the recipe, or ``"default"`` (a shipped recipe or the code defaults), was tuned on another
            architecture; also an unknown recipe, a bad recipe file, a budget a fixed-budget recipe refuses.
        CheckpointError: a model that ``load_model`` could not load either (not found, no architecture).
    """
    from salmubench.models.identity import model_architecture

    return recipes.check_fit(recipe_spec, float(budget), model_architecture(model_spec, arch))


def prepare_job(method: str, out_dir: str | os.PathLike, budget: float = 1.0, overrides: dict[str, Any] | None = None,
                seed: int = 0, recipe: str | None = recipes.DEFAULT,
                inputs: dict[str, str | os.PathLike | None] | None = None, model: Any = None,
                arch: str | None = None) -> UnlearnJob:
    """Resolve ``method`` (``unlearning.registry.get_method``), apply ``recipe`` then ``overrides``
    (``recipes.apply``; unknown keys fail naming the valid ones), validate the config and ``budget``,
    check ``out_dir`` (``io_utils.check_out_dir``: a folder, none of ``inputs``), then, when ``model`` (the
    starting model's spec, with ``arch`` for a bare checkpoint) is given, :func:`check_recipe_fits`."""
    cls = get_method(method)
    overrides, recipe_record = recipes.apply(recipe, cls.name, float(budget), overrides)
    cfg = build_config(cls.config_cls, overrides, what=f"{cls.name} config")
    budget_obj = Budget(float(budget))
    paths = {name: local_path(p) for name, p in (inputs or {}).items() if p is not None}
    out = check_out_dir(out_dir, "out_dir", inputs=paths)
    fit = check_recipe_fits(recipe, budget, model, arch) if model is not None else None
    return UnlearnJob(cls=cls, cfg=cfg, recipe=recipe_record, budget=budget_obj, seed=seed, out=out, recipe_fit=fit)
