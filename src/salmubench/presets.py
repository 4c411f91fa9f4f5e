"""The presets, one typed table: each name (``tiny``, ``mini``, ``paper``) with its data and training settings.

``salmubench run --preset``, ``data generate --preset``, ``train --preset`` and ``ls presets`` look a
preset up here (one-line ConfigError with "did you mean" on a miss). A :class:`Preset` joins the
generator's sizes (:class:`~salmubench.data.generate.presets.PresetConfig`) and the reference
models' resolved :class:`~salmubench.training.config.TrainConfig` of the same name. Their values
live beside the code that reads them (``data/generate/presets.py``, ``training/config.py``, which
never import this module), so a dataset or a training run made by name gets the very configs listed
here, and so do the pipeline's cache keys.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from salmubench.data.generate import presets as data_presets
from salmubench.errors import ConfigError
from salmubench.registry import Registry, unknown_name_message
from salmubench.training import config as training_config


class Preset(BaseModel):
    """One preset: its data generation config and the training config of its reference models."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    description: str  # one line with the main sizes (``salmubench ls presets``)
    data: data_presets.PresetConfig
    train: training_config.TrainConfig
    recipe: str | None = "default"  # what `run`'s default recipe spec means on this preset (RECIPE_OF_PRESET)


PRESETS: Registry[Preset] = Registry("preset", sort=False)  # in table order: tiny, mini, paper
# The recipe spec "default" of `salmubench run` on each preset. The shipped recipes were tuned on the
# mini preset's architecture (salmu-tiny at 32 px), and a recipe is never applied to another one
# (recipes.check_fit), so the presets of other architectures run the code defaults ("none"), which
# every unlearn.json records with its note (docs/tuning.md, "Recipes and architectures").
RECIPE_OF_PRESET = {"tiny": "none", "mini": "default", "paper": "none"}


def _register_all() -> None:
    if set(data_presets.PRESETS) != set(training_config.PRESETS):
        raise RuntimeError(f"data presets {list(data_presets.PRESETS)} and training presets "
                           f"{list(training_config.PRESETS)} differ: every preset needs both")
    descriptions = dict(data_presets.describe_presets())
    for name, data in data_presets.PRESETS.items():
        PRESETS.register(name)(Preset(name=name, description=descriptions[name], data=data,
                                      train=training_config.train_config(name),
                                      recipe=RECIPE_OF_PRESET.get(name, "default")))


_register_all()


def get_preset(name: str) -> Preset:
    """The preset ``name`` (ConfigError ``unknown preset 'x'. Did you mean: ...`` otherwise)."""
    if name not in PRESETS:
        raise ConfigError(unknown_name_message("unknown preset", name, PRESETS.names()))
    return PRESETS.get(name)


def preset_names() -> list[str]:
    """The preset names, in table order."""
    return PRESETS.names()
