"""Create open_clip models from our packaged JSON architectures (``salmu-test``, ``salmu-tiny``).

Architectures are data: ``model_configs/*.json`` in open_clip's format, registered once with
``open_clip.add_model_config``. Any open_clip architecture name (``ViT-B-16``) works too, and so does
a path to an open_clip model config of your own (``path/to/my-arch.json``, or a folder holding one):
:func:`resolve_arch` registers it with ``open_clip.add_model_config`` under the file's stem
(``my-arch``), the name the model is then created and saved with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import open_clip
import torch

from salmubench.errors import ConfigError

CONFIG_DIR = Path(__file__).parent / "model_configs"
MODEL_CFG_KEYS = ("embed_dim", "vision_cfg", "text_cfg")  # what open_clip requires of a model config
_registered = False
_from_files: dict[str, Path] = {}  # architecture names registered from a user's file -> that file


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


def is_arch_file(arch: str) -> bool:
    """True if ``arch`` is a path to a model config (a ``.json`` or an existing file or folder) rather
    than a registered architecture name; registered names win."""
    register_model_configs()
    return arch not in open_clip.list_models() and (arch.endswith(".json") or Path(arch).expanduser().exists())


def resolve_arch(arch: str) -> str:
    """The registered architecture name of ``arch``: a registered name as it is; a path to an open_clip
    model config JSON (or a folder holding exactly one) registered with ``open_clip.add_model_config``
    under the file's stem. A missing or invalid file is a one-line ConfigError naming ``arch``; so is a
    file whose stem is one of ours or open_clip's (``ViT-B-16.json``) with another config (registering it
    would change that name for the whole process)."""
    register_model_configs()
    if arch in open_clip.list_models():
        return arch
    if not is_arch_file(arch):
        raise ConfigError(f"unknown architecture {arch!r}; ours: {', '.join(list_model_configs())} "
                          f"(arch: an open_clip architecture name, or a path to a model config .json)")
    path, model_cfg = read_arch_file(arch)
    name = path.stem
    if name in open_clip.list_models() and open_clip.get_model_config(name) == model_cfg:
        return name  # already registered with this config (this file earlier, or a copy of ours)
    if name in open_clip.list_models() and name not in _from_files:
        raise ConfigError(f"arch: {path} would replace the registered architecture {name!r} with another "
                          f"config; rename the file")
    open_clip.add_model_config(path)
    _from_files[name] = path
    return name


def read_arch_file(arch: str) -> tuple[Path, dict[str, Any]]:
    """``(file, model_cfg)`` of a path ``arch`` (a JSON file, or a folder with exactly one model config);
    a one-line ConfigError naming ``arch`` when it is missing or not an open_clip model config."""
    path = Path(arch).expanduser()
    if path.is_dir():
        found = [p for p in sorted(path.glob("*.json")) if _model_cfg_or_none(p) is not None]
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise ConfigError(f"arch: folder {path} must hold exactly one open_clip model config .json "
                              f"(found: {names}); name the file")
        path = found[0]
    if not path.is_file():
        raise ConfigError(f"arch: model config file not found: {path}")
    try:
        model_cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ConfigError(f"arch: {path} is not a readable JSON file ({exc.__class__.__name__}: {first})") from None
    missing = [k for k in MODEL_CFG_KEYS if not isinstance(model_cfg, dict) or k not in model_cfg]
    if missing or not all(isinstance(model_cfg[k], dict) for k in ("vision_cfg", "text_cfg")):
        raise ConfigError(f"arch: {path} is not an open_clip model config (needs {', '.join(MODEL_CFG_KEYS)}; "
                          f"missing or not an object: {', '.join(missing) or 'vision_cfg/text_cfg'})")
    return path, model_cfg


def _model_cfg_or_none(path: Path) -> dict[str, Any] | None:
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return cfg if isinstance(cfg, dict) and all(k in cfg for k in MODEL_CFG_KEYS) else None


def arch_identity(arch: str) -> str | dict[str, Any]:
    """What identifies ``arch`` in a config hash: a registered name itself; for a path, the file's
    content and stem (``{"name", "model_cfg"}``), so that the hash does not depend on where it lies."""
    if not is_arch_file(arch):
        return arch
    path, model_cfg = read_arch_file(arch)
    return {"name": path.stem, "model_cfg": model_cfg}


def create_model(arch: str, seed: int | None = None, device: str = "cpu") -> ClipBundle:
    """A freshly initialised model of architecture ``arch`` (random weights, seeded if given): a
    registered name, or a path to an open_clip model config JSON (:func:`resolve_arch`; the model is
    named by the file's stem)."""
    from_file = is_arch_file(arch)
    arch = resolve_arch(arch)
    if seed is not None:
        torch.manual_seed(seed)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None, device=device)
    except Exception as exc:  # noqa: BLE001 - open_clip raises many types on a bad config
        if not from_file:
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ConfigError(f"arch: open_clip cannot build {_from_files.get(arch, arch)} "
                          f"({exc.__class__.__name__}: {first})") from None
    return ClipBundle(
        model=model,
        preprocess=preprocess,
        tokenizer=open_clip.get_tokenizer(arch),
        arch=arch,
        model_cfg=open_clip.get_model_config(arch),
        preprocess_cfg=_preprocess_cfg_of(model),
        source=f"init:{arch}",
    )
