"""A model's architecture identity, read without loading weights where it can (issue 21).

Recipes record the architecture they were tuned on (``tuned_on`` in a recipe file, docs/tuning.md) and
unlearning refuses a recipe made for another one. A released model folder loads as ``local-dir:`` and
may carry no architecture name, so the identity is the open_clip ``model_cfg`` itself::

    {"digest": sha256-16 of the model_cfg's canonical JSON (sorted keys, no spaces),
     "image_size": the vision tower's input size in pixels (the larger side; None if not declared),
     "name": the architecture's name when known, else the registered open_clip name with this config, else None}

Two models have the same architecture when their digests are equal; ``name`` and ``image_size`` are
for the people reading errors and records. The digest of an open_clip name (``ViT-B-16``) is that of
``open_clip.get_model_config(name)`` in the installed open_clip, so it is the one a model created, trained
or loaded with that name saves in its ``open_clip_config.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import open_clip

from salmubench.config import config_hash
from salmubench.errors import CheckpointError, ConfigError
from salmubench.models.checkpoint import CONFIG_NAME, hub_snapshot, read_model_config
from salmubench.models.factory import (
    ClipBundle,
    is_arch_file,
    read_arch_file,
    register_model_configs,
    resolve_arch,
)

UNNAMED = "local-dir"  # the arch name of a bundle loaded from a folder that records none


def arch_digest(model_cfg: dict[str, Any]) -> str:
    """sha256-16 of the canonical JSON of an open_clip ``model_cfg``."""
    return config_hash(model_cfg, length=16)


def image_size_of(model_cfg: dict[str, Any]) -> int | None:
    """The vision tower's input size (the larger side of a ``[h, w]`` size); None when not declared."""
    size = (model_cfg.get("vision_cfg") or {}).get("image_size")
    if isinstance(size, list | tuple) and size:
        size = max(size)
    return int(size) if isinstance(size, int | float) and not isinstance(size, bool) else None


def registered_name(model_cfg: dict[str, Any]) -> str | None:
    """The first registered open_clip architecture (sorted) whose config is ``model_cfg``, else None."""
    register_model_configs()
    digest = arch_digest(model_cfg)
    return next((n for n in open_clip.list_models() if arch_digest(open_clip.get_model_config(n)) == digest), None)


def identity_of_config(model_cfg: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The identity record of ``model_cfg`` (``name``: the known architecture name, if any)."""
    known = name if name and name != UNNAMED else registered_name(model_cfg)
    return {"digest": arch_digest(model_cfg), "image_size": image_size_of(model_cfg), "name": known}


def arch_name_identity(arch: str) -> dict[str, Any]:
    """The identity of an architecture name (registered) or of a model config JSON path (named by its stem);
    a one-line ConfigError when it is neither (``models.factory.resolve_arch``)."""
    if is_arch_file(arch):
        path, model_cfg = read_arch_file(arch)
        return identity_of_config(model_cfg, path.stem)
    name = resolve_arch(arch)
    return identity_of_config(open_clip.get_model_config(name), name)


def model_architecture(model: ClipBundle | str | os.PathLike | None = None, arch: str | None = None) -> dict[str, Any]:
    """The architecture identity (module docstring) of ``model``, without loading its weights.

    Args:
        model: a loaded :class:`ClipBundle`, or anything :func:`salmubench.models.load_model` accepts: a
            folder with ``open_clip_config.json`` (read, nothing else), ``local-dir:DIR``, ``hf-hub:org/repo``
            (its JSON files only are fetched), or a bare checkpoint (file, or folder without a config) with
            ``arch``; None: the architecture ``arch`` alone (e.g. a preset's, before its model is trained).
        arch: an architecture name or model config JSON path, used as ``load_model`` uses it (for a bare
            checkpoint; a folder's own config wins).

    Raises the errors ``load_model`` would raise for a spec it cannot load (CheckpointError: not found, no
    config and no ``arch``; ConfigError: an unknown architecture).
    """
    if isinstance(model, ClipBundle):
        return identity_of_config(model.model_cfg, model.arch)
    if model is None:
        if not arch:
            raise ConfigError("model architecture: give a model or an architecture name (arch)")
        return arch_name_identity(arch)
    text = str(model)
    if text.startswith("hf-hub:"):
        # its JSON files only (load_model fetches the weights into the same cache folder)
        return model_architecture(hub_snapshot(text.removeprefix("hf-hub:"), ["*.json"]), arch)
    path = Path(text.removeprefix("local-dir:"))
    if path.is_dir() and (path / CONFIG_NAME).is_file():
        return _folder_identity(path / CONFIG_NAME)
    if path.is_dir() or path.is_file():
        if not arch:  # load_model's messages
            raise CheckpointError(f"{path}: no {CONFIG_NAME}; pass an architecture name (arch, e.g. ViT-B-16)"
                                  if path.is_dir() else
                                  f"{path}: a bare checkpoint file needs an architecture name (arch, e.g. ViT-B-16)")
        return arch_name_identity(arch)
    raise CheckpointError(f"model not found: {model}")


def _folder_identity(cfg_path: Path) -> dict[str, Any]:
    model_cfg, _, name = read_model_config(cfg_path)  # the config load_model reads
    return identity_of_config(model_cfg, name)

