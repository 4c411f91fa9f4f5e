"""Which architecture a tuning search runs on (issue 21; docs/tuning.md, "Recipes and architectures").

``salmubench tune`` records the Compromised model's architecture (``salmubench.models.model_architecture``)
as ``tuned_on`` in every ``tune_<method>.json`` and recipe it writes, searches that architecture's space
(:func:`salmubench.tuning.spaces.grid`), refuses an output folder holding tune or recipe files of another
architecture (:func:`check_out_folder`: its recipes would mix two architectures under one ``tuned_on``) and
writes recipes from the tune files of its own architecture only (:func:`same_architecture`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from salmubench.errors import ConfigError
from salmubench.io_utils import read_json
from salmubench.recipes import describe_arch


def check_out_folder(out: str | os.PathLike, model: Any, arch: str | None = None) -> None:
    """One-line ConfigError naming the first recipe (then tune) file in ``out`` tuned on another architecture
    than ``model``'s (``model_architecture(model, arch)``: read from its config, no weights), both
    architectures and the choice; files that record none are not refused."""
    from salmubench.models.identity import model_architecture

    folder = Path(out)
    if not folder.is_dir():
        return
    identity = model_architecture(model, arch)
    for path in [*sorted(folder.glob("recipe_*.json")), *sorted(folder.glob("tune_*.json"))]:
        try:
            record = read_json(path)
        except (OSError, ValueError):
            continue
        tuned_on = record.get("tuned_on") if isinstance(record, dict) else None
        if isinstance(tuned_on, dict) and tuned_on.get("digest") != identity.get("digest"):
            raise ConfigError(f"{path} was tuned on {describe_arch(tuned_on)}, not on this model's architecture "
                              f"{describe_arch(identity)}; tune into another output folder (one folder's recipes "
                              f"are written from all its tune files)")


def same_architecture(record: dict[str, Any], setup: Any) -> bool:
    """Whether the tune file ``record`` was made on ``setup``'s architecture (``setup.arch``): its ``tuned_on``
    digest; for a file from before issue 21 (no ``tuned_on``), the same reference proxies (the same models)."""
    tuned_on = record.get("tuned_on")
    if not isinstance(tuned_on, dict):
        return record.get("references") == setup.references
    arch = getattr(setup, "arch", None)
    return arch is None or tuned_on.get("digest") == arch.get("digest")
