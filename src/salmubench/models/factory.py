"""Create open_clip models from our packaged JSON architectures (``salmu-test``, ``salmu-tiny``).

Architectures are data: ``model_configs/*.json`` in open_clip's format, registered once with
``open_clip.add_model_config``. Any open_clip architecture name (``ViT-B-16``) works too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import open_clip
import torch

CONFIG_DIR = Path(__file__).parent / "model_configs"
_registered = False


def register_model_configs() -> None:
    """Add our packaged architectures to open_clip's registry (idempotent)."""
    global _registered
    if not _registered:
        open_clip.add_model_config(CONFIG_DIR)
        _registered = True


def list_model_configs() -> dict[str, dict[str, Any]]:
    """Our packaged architectures: ``{name: model_cfg}``."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(CONFIG_DIR.glob("*.json"))}


@dataclass
class ClipBundle:
    """An open_clip model with everything needed to use and save it."""

    model: torch.nn.Module
    preprocess: Any  # eval image transform
    tokenizer: Any
    arch: str  # architecture name (e.g. "salmu-tiny", "ViT-B-16")
    model_cfg: dict[str, Any]
    preprocess_cfg: dict[str, Any]
    source: str = ""  # where it was loaded from
    checkpoint_sha256: str | None = None  # sha256 of the weights file it was loaded from
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def context_length(self) -> int:
        return int(self.model_cfg.get("text_cfg", {}).get("context_length", 77))


def _preprocess_cfg_of(model: torch.nn.Module) -> dict[str, Any]:
    """The preprocess config open_clip attached to the visual tower (image size, mean, std, ...)."""
    cfg = dict(getattr(model.visual, "preprocess_cfg", {}) or {})
    size = getattr(model.visual, "image_size", None)
    if size is not None and "size" not in cfg:
        cfg["size"] = list(size) if isinstance(size, tuple) else size
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}


def create_model(arch: str, seed: int | None = None, device: str = "cpu") -> ClipBundle:
    """A freshly initialised model of architecture ``arch`` (random weights, seeded if given)."""
    register_model_configs()
    if arch not in open_clip.list_models():
        from salmubench.errors import ConfigError

        raise ConfigError(f"unknown architecture {arch!r}; ours: {', '.join(list_model_configs())}")
    if seed is not None:
        torch.manual_seed(seed)
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None, device=device)
    return ClipBundle(
        model=model,
        preprocess=preprocess,
        tokenizer=open_clip.get_tokenizer(arch),
        arch=arch,
        model_cfg=open_clip.get_model_config(arch),
        preprocess_cfg=_preprocess_cfg_of(model),
        source=f"init:{arch}",
    )
