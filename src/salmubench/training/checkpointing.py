"""Resumable training checkpoints without pickle: safetensors for tensors, JSON for the rest.

Layout (one folder per checkpoint, the newest ``keep`` kept)::

    OUT/checkpoints/step-0000200/model.safetensors       model state dict
    OUT/checkpoints/step-0000200/optimizer.safetensors   AdamW moments + step counters ("{param}.{key}")
                                                           + RNG states ("rng.cpu", "rng.cuda.{i}")
    OUT/checkpoints/step-0000200/state.json              step, config hash, optimizer param_groups,
                                                           loss log; written last = "complete"

The learning rate is a pure function of the step and the batch order a pure function of
(seed, step) (corpus.py), so (weights, AdamW state, step) is the whole training state; the RNG
states are saved too for anything stochastic in a model (dropout).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from salmubench.errors import CheckpointError
from salmubench.io_utils import atomic_path, atomic_write_json, read_json

CKPT_DIR = "checkpoints"
STATE_JSON = "state.json"


@dataclass
class TrainState:
    """Where a run stands: the next step to run and the loss log so far."""

    step: int = 0
    losses: list[list[float]] = field(default_factory=list)  # [[step, loss], ...]
    seconds: float = 0.0  # training seconds spent before this process (for resumed runs)


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    sd = optimizer.state_dict()
    tensors = {f"{pid}.{key}": (val if torch.is_tensor(val) else torch.tensor(val)).detach().cpu().contiguous()
               for pid, st in sd["state"].items() for key, val in st.items()}
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def _rng_tensors() -> dict[str, torch.Tensor]:
    out = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return out


def save_checkpoint(out_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: TrainState,
                    config_hash: str, keep: int = 1) -> Path:
    """Write a complete checkpoint of ``state.step`` (atomically per file, state.json last)."""
    folder = Path(out_dir) / CKPT_DIR / f"step-{state.step:07d}"
    folder.mkdir(parents=True, exist_ok=True)
    model_sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, groups = _optimizer_tensors(optimizer)
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(model_sd, str(tmp))
    with atomic_path(folder / "optimizer.safetensors") as tmp:
        save_file({**opt_tensors, **_rng_tensors()}, str(tmp))
    atomic_write_json(folder / STATE_JSON, {"step": state.step, "config_hash": config_hash, "param_groups": groups,
                                            "losses": state.losses, "seconds": state.seconds})
    for old in list_checkpoints(out_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def list_checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoint folders (with state.json), oldest first."""
    root = Path(out_dir) / CKPT_DIR
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step-*") if (p / STATE_JSON).is_file())


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("rng."):
            continue
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _restore_rng(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng.cpu"])
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    config_hash: str) -> TrainState:
    """Restore model, optimizer and RNG state from ``folder``; refuses another config's checkpoint."""
    meta = read_json(folder / STATE_JSON)
    if meta.get("config_hash") != config_hash:
        raise CheckpointError(f"{folder}: made with another training config ({meta.get('config_hash')} != "
                              f"{config_hash}); resume with the same preset, seed and overrides")
    try:
        weights = load_file(str(folder / "model.safetensors"), device="cpu")
        opt = load_file(str(folder / "optimizer.safetensors"), device="cpu")
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(f"{folder}: unreadable checkpoint ({exc.__class__.__name__})") from None
    model.load_state_dict(weights)
    _restore_optimizer(optimizer, opt, meta["param_groups"])
    _restore_rng(opt)
    return TrainState(step=int(meta["step"]), losses=meta.get("losses", []), seconds=float(meta.get("seconds", 0)))


def remove_checkpoints(out_dir: Path) -> None:
    """Delete the resumable checkpoints (after the final model is saved)."""
    shutil.rmtree(Path(out_dir) / CKPT_DIR, ignore_errors=True)
