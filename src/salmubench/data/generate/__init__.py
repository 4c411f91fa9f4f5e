"""Procedural SALMU dataset generator (no torch): ``generate_dataset(out_dir, preset, seed)``.

Modules: presets (sizes), faces (identity anchors + portraits), personas (Faker PII), captions
(one-association templates), scenes (non-person images, general retain, zero-shot set), splits,
curation (measured checks), card (dataset README), pipeline (orchestration).
"""

from salmubench.data.generate.pipeline import GENERATOR_VERSION, generate_dataset
from salmubench.data.generate.presets import PRESETS, PresetConfig, get_preset, list_presets

__all__ = ["GENERATOR_VERSION", "PRESETS", "PresetConfig", "generate_dataset", "get_preset", "list_presets"]
