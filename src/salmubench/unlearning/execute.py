"""Run one method on a model with cost accounting, and save an unlearned model folder.

Shared by the one-shot run (``unlearning.api.unlearn``) and the sequential one
(``salmubench.sequential.runner``, a floor above), so both apply a method, count its cost and write their model
folders the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from salmubench.io_utils import atomic_write_json, read_json
from salmubench.models import save_model
from salmubench.seeding import derive_seed
from salmubench.unlearning.base import Budget, CostMeter, UnlearningMethod

UNLEARN_FILE = "unlearn.json"
UNLEARN_SCHEMA = "salmubench.unlearn/1"


def is_complete(out_dir: Path, run_hash: str) -> bool:
    """True if ``out_dir`` already holds a finished run with config hash ``run_hash``."""
    path = out_dir / UNLEARN_FILE
    if not path.is_file():
        return False
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return False
    weights = out_dir / "open_clip_model.safetensors"
    return bool(record.get("complete")) and record.get("config_hash") == run_hash and weights.is_file()


def reduce_cost(meter: CostMeter, world: int) -> dict[str, Any]:
    """The meter's counts, summed over ranks under torchrun (a collective: every rank calls it)."""
    cost = meter.as_dict()
    if world > 1:
        import torch.distributed as dist

        keys = [k for k in cost if k != "unlearn_seconds"]
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
        counts = torch.tensor([float(cost[k]) for k in keys], dtype=torch.float64, device=device)
        dist.all_reduce(counts)
        cost.update({k: int(v) for k, v in zip(keys, counts.tolist(), strict=True)})
    return cost


def run_identity(cls: type[UnlearningMethod], cfg, budget: Budget, seed: int, base_sha256: str | None,
                 data_fingerprint: str, recipe_record: dict[str, Any] | None, world_size: int = 1) -> dict[str, Any]:
    """What identifies an unlearning run (hashed into ``config_hash``): method, resolved params, budget,
    seed, starting checkpoint, data, recipe, an external method's file sha256, and the torchrun world size
    when above 1 (same answer up to float error, not the same bytes; one process adds nothing, so every
    single-process hash is unchanged)."""
    from salmubench.unlearning.registry import method_origin, method_source_sha256

    run = {"method": cls.name, "params": cfg.model_dump(mode="json"), "budget": budget.passes, "seed": seed,
           "base_checkpoint_sha256": base_sha256, "data_fingerprint": data_fingerprint, "recipe": recipe_record}
    if world_size > 1:
        run["world_size"] = world_size
    source = method_source_sha256(cls)
    if source:  # an external method: editing its file is a different run
        run["method_source"] = {"origin": method_origin(cls), "sha256": source}
    return run


def save_unlearned(bundle, out: Path, record: dict[str, Any], record_file: str = UNLEARN_FILE) -> None:
    """Write the model, then ``record_file`` last (a stale record is removed first, so a crash in
    between leaves a folder that is redone, never one that claims another run's weights)."""
    (out / record_file).unlink(missing_ok=True)
    record["checkpoint_sha256"] = save_model(bundle, out, extra={
        "role": "unlearned", "method": record["method"], "config_hash": record["config_hash"],
        "base_checkpoint_sha256": record["base_checkpoint_sha256"]})
    atomic_write_json(out / record_file, record)


def run_method(method: UnlearningMethod, model: torch.nn.Module, data, budget: Budget) -> tuple[torch.nn.Module, CostMeter]:
    """Set up and apply ``method`` on ``model`` with cost accounting; returns (model, meter)."""
    meter = method.runtime.meter
    torch.manual_seed(derive_seed(method.runtime.seed, "unlearn", "setup", method.name))
    meter.watch(model)
    meter.start()
    try:
        method.setup(model, data)
        model = method.apply(model, data, budget)
    finally:
        meter.stop()
    return model, meter
