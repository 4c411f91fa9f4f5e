"""Save and load models in open_clip's ``local-dir:`` layout, safely (never unpickling).

Saved layout (loadable by plain open_clip with ``create_model_and_transforms("local-dir:DIR")``)::

    DIR/open_clip_config.json      {"model_cfg": {...}, "preprocess_cfg": {...}, "salmubench": {...}}
    DIR/open_clip_model.safetensors

``load_model`` accepts such a folder (or ``local-dir:DIR``), an ``hf-hub:org/repo`` id (network
permitting), or a checkpoint file (``.safetensors`` / ``.bin`` / ``.pt``) with an architecture name,
as the released SALMUBench models (``open_clip_pytorch_model.bin`` + ``ViT-B-16``). ``.bin``/``.pt``
files are read with ``torch.load(weights_only=True)``: a file that needs arbitrary unpickling is
refused with a CheckpointError and its payload never runs.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import open_clip
import torch
from safetensors.torch import load_file, save_file

from salmubench.errors import CheckpointError
from salmubench.io_utils import atomic_path, atomic_write_json, sha256_file
from salmubench.models.factory import ClipBundle, _preprocess_cfg_of, register_model_configs

CONFIG_NAME = "open_clip_config.json"
WEIGHTS_NAME = "open_clip_model.safetensors"
_WEIGHT_CANDIDATES = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                      "open_clip_pytorch_model.bin", "model.safetensors", "pytorch_model.bin")


def save_model(bundle: ClipBundle, out_dir: str | os.PathLike, extra: dict[str, Any] | None = None) -> str:
    """Write ``bundle`` to ``out_dir`` in open_clip's local-dir layout; returns the weights' sha256.

    Both files are written atomically; the config is written last so a folder with a config always
    has complete weights.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in bundle.model.state_dict().items()}
    with atomic_path(out / WEIGHTS_NAME) as tmp:
        # One metadata key only: safetensors keeps metadata in a Rust HashMap whose order is random per
        # process, so two keys gave two possible byte layouts (and sha256s) for the same weights.
        # The architecture is recorded in open_clip_config.json.
        save_file(state, str(tmp), metadata={"format": "pt"})
    digest = sha256_file(out / WEIGHTS_NAME)
    config = {
        "model_cfg": bundle.model_cfg,
        "preprocess_cfg": bundle.preprocess_cfg,
        "salmubench": {"arch": bundle.arch, "weights_sha256": digest, **(extra or {})},
    }
    atomic_write_json(out / CONFIG_NAME, config)
    bundle.checkpoint_sha256 = digest
    return digest


def _is_torchscript_archive(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in zf.namelist())


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a safetensors file or a weights-only torch file; refuses pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            state: Any = load_file(str(path), device="cpu")
        else:
            if _is_torchscript_archive(path):
                raise CheckpointError(f"{path}: TorchScript archives are not loaded (untrusted code)")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise CheckpointError(f"{path}: refused, not a weights-only checkpoint ({first[:160]})") from None
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc.__class__.__name__})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_weights(model: torch.nn.Module, path: Path, config: str) -> None:
    """Load ``path`` into ``model`` after checking every tensor's shape against the model that
    ``config`` (the architecture's description, e.g. ``open_clip_config.json``) builds."""
    state = read_state_dict(path)
    own = model.state_dict()
    if "logit_scale" in state and state["logit_scale"].shape != own["logit_scale"].shape:
        state["logit_scale"] = state["logit_scale"].reshape(own["logit_scale"].shape)
    wrong = [k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError(f"{path}: weights do not match {config}: {len(wrong)} tensor(s) of another shape, "
                              f"e.g. {k} is {list(state[k].shape)} but {config} gives {list(own[k].shape)}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "logit_bias"]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the architecture "
            f"(missing {len(missing)}, e.g. {missing[:2]}; unexpected {len(unexpected)}, e.g. {unexpected[:2]})"
        )


def _bundle(model, preprocess, arch: str, model_cfg: dict, source: str, weights: Path | None) -> ClipBundle:
    model.eval()
    return ClipBundle(
        model=model,
        preprocess=preprocess,
        tokenizer=open_clip.get_tokenizer(arch) if arch in open_clip.list_models() else _tokenizer_for(model_cfg),
        arch=arch,
        model_cfg=model_cfg,
        preprocess_cfg=_preprocess_cfg_of(model),
        source=source,
        checkpoint_sha256=sha256_file(weights) if weights else None,
    )


def _tokenizer_for(model_cfg: dict) -> Any:
    ctx = int(model_cfg.get("text_cfg", {}).get("context_length", 77))
    return open_clip.SimpleTokenizer(context_length=ctx)


def _find_weights(folder: Path) -> Path:
    for name in _WEIGHT_CANDIDATES:
        if (folder / name).is_file():
            return folder / name
    raise CheckpointError(f"{folder}: no weights file (expected one of {', '.join(_WEIGHT_CANDIDATES)})")


def read_model_config(cfg_path: Path) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """``(model_cfg, preprocess_cfg, arch name or None)`` of a folder's ``open_clip_config.json`` (ours,
    or the Hub's without a ``salmubench`` block); a one-line CheckpointError when it is not one."""
    try:
        config = json.loads(cfg_path.read_text())
        model_cfg = config.get("model_cfg", config)
        preprocess_cfg = config.get("preprocess_cfg", {})
        arch = (config.get("salmubench") or {}).get("arch")
    except (ValueError, AttributeError, OSError) as exc:
        raise CheckpointError(f"{cfg_path}: invalid JSON ({exc})") from None
    if not isinstance(model_cfg, dict):
        raise CheckpointError(f"{cfg_path}: model_cfg is not an object")
    return model_cfg, preprocess_cfg, arch if isinstance(arch, str) else None


def hub_snapshot(repo_id: str, patterns: list[str]) -> Path:
    """The local folder of a Hugging Face model repo's files matching ``patterns`` (fetched where the
    network allows, else the local cache); any hub failure is one line."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=repo_id, allow_patterns=patterns))
    except Exception as exc:  # noqa: BLE001 - any hub failure becomes one clear line
        raise CheckpointError(f"cannot fetch model {repo_id!r} from the Hugging Face Hub ({exc.__class__.__name__})") from None


def _load_local_dir(folder: Path, device: str) -> ClipBundle:
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.is_file():
        raise CheckpointError(f"{folder}: not a model folder (no {CONFIG_NAME})")
    model_cfg, preprocess_cfg, arch = read_model_config(cfg_path)
    weights = _find_weights(folder)
    arch = arch or "local-dir"
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            f"local-dir:{folder}", load_weights=False, device="cpu",
            image_mean=preprocess_cfg.get("mean"), image_std=preprocess_cfg.get("std"))
    except Exception as exc:  # noqa: BLE001 - open_clip raises many types on a bad config
        raise CheckpointError(f"{cfg_path}: open_clip cannot build this model ({exc.__class__.__name__}: {exc})") from None
    _load_weights(model, weights, str(cfg_path))
    return _bundle(model.to(device), preprocess, arch, model_cfg, f"local-dir:{folder}", weights)


def _load_file_with_arch(path: Path, arch: str, device: str) -> ClipBundle:
    register_model_configs()
    if arch not in open_clip.list_models():
        raise CheckpointError(f"unknown architecture {arch!r} for checkpoint {path}")
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None, device="cpu")
    _load_weights(model, path, f"architecture {arch!r}")
    return _bundle(model.to(device), preprocess, arch, open_clip.get_model_config(arch), str(path), path)


def _load_hf_hub(repo_id: str, arch: str | None, device: str) -> ClipBundle:
    folder = hub_snapshot(repo_id, ["*.json", "*.safetensors", "*.bin"])
    return load_model(str(folder), arch=arch, device=device)


def load_model(spec: str | os.PathLike, arch: str | None = None, device: str = "cpu") -> ClipBundle:
    """Load a model from a local-dir folder, an ``hf-hub:`` id, or a checkpoint file + ``arch``.

    Args:
        spec: ``DIR``, ``local-dir:DIR``, ``hf-hub:org/repo`` or a weights file path.
        arch: open_clip architecture name; required for a bare weights file or a folder without
            ``open_clip_config.json`` (as the released ``open_clip_pytorch_model.bin``).
        device: torch device to put the model on.
    """
    text = str(spec)
    if text.startswith("hf-hub:"):
        return _load_hf_hub(text.removeprefix("hf-hub:"), arch, device)
    path = Path(text.removeprefix("local-dir:"))
    if path.is_dir():
        if (path / CONFIG_NAME).is_file():
            return _load_local_dir(path, device)
        if arch:
            return _load_file_with_arch(_find_weights(path), arch, device)
        raise CheckpointError(f"{path}: no {CONFIG_NAME}; pass an architecture name (arch, e.g. ViT-B-16)")
    if path.is_file():
        if not arch:
            raise CheckpointError(f"{path}: a bare checkpoint file needs an architecture name (arch, e.g. ViT-B-16)")
        return _load_file_with_arch(path, arch, device)
    raise CheckpointError(f"model not found: {spec}")
