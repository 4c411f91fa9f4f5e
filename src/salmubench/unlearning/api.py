"""``unlearn(...)``: load a model and a dataset, run one method, save the unlearned model.

Output folder (an open_clip ``local-dir:`` model, loadable without salmubench)::

    OUT/open_clip_config.json        model + preprocess config (+ "salmubench" provenance block)
    OUT/open_clip_model.safetensors  weights
    OUT/unlearn.json                 resolved config, config hash, budget, seed, cost, provenance

``unlearn.json`` is written last, atomically, with ``"complete": true``: a folder without it is an
interrupted run and is redone. A folder whose ``unlearn.json`` has the same config hash (method,
resolved params, budget, seed, base checkpoint sha256, data fingerprint) is skipped (resume).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from salmubench import recipes
from salmubench.config import build_config, config_hash
from salmubench.data.io import load_dataset
from salmubench.io_utils import atomic_write_json, check_out_dir, read_json
from salmubench.models import load_model, save_model
from salmubench.progress import OnProgress
from salmubench.recipes import DEFAULT
from salmubench.runtime import default_threads, environment, init_distributed, resolve_device, torch_threads
from salmubench.seeding import derive_seed
from salmubench.unlearning.base import Budget, CostMeter, Runtime, UnlearningMethod
from salmubench.unlearning.data import build_unlearn_data
from salmubench.unlearning.registry import get_method, method_origin, method_source_sha256

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


def _reduce_cost(meter: CostMeter, world: int) -> dict[str, Any]:
    cost = meter.as_dict()
    if world > 1:
        import torch.distributed as dist

        keys = [k for k in cost if k != "unlearn_seconds"]
        counts = torch.tensor([float(cost[k]) for k in keys], dtype=torch.float64)
        dist.all_reduce(counts)
        cost.update({k: int(v) for k, v in zip(keys, counts.tolist(), strict=True)})
    return cost


def unlearn(method: str, model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
            budget: float = 1.0, overrides: dict[str, Any] | None = None, seed: int = 0,
            on_progress: OnProgress | None = None, device: str | None = None, threads: int | None = None,
            recipe: str | None = DEFAULT) -> Path:
    """Unlearn ``data_dir``'s forget set from the model at ``model_dir`` with ``method``.

    Args:
        method: registered method name (``salmubench ls methods``) or an external spec
            (``path/to/file.py:Class``, ``package.module:Class``; see ``unlearning.registry``).
        model_dir: the starting (Compromised) model: a local-dir folder or anything ``load_model`` takes.
        data_dir: a SALMUBench dataset directory.
        out_dir: where the unlearned model and ``unlearn.json`` go (skipped if already complete).
        budget: forget-set passes (1.0 = one pass at the method's forget batch size).
        overrides: method config values (``{"lr": 1e-5}``); unknown keys fail naming the valid ones.
        seed: run seed (batch order, method randomness).
        on_progress: progress callback, one event per optimiser step (``salmubench.progress``).
        device: torch device; None = CUDA if available, else CPU (``runtime.resolve_device``).
        threads: torch intra-op threads for the run (None: torch's default, or cores / ranks under
            torchrun). On a busy CPU one thread is often faster for tiny models.
        recipe: where the method's hyperparameters come from before ``overrides``
            (``salmubench.recipes.resolve_for``): ``"default"`` (the default protocol's recipe at this
            budget, when shipped), a protocol (``"forget-retain"``), a recipe name
            (``"forget-retain@5x"``), or None / ``"none"`` (the method's code defaults). Recorded.

    Returns:
        The output folder.
    """
    cls = get_method(method)
    method = cls.name
    overrides, recipe_record = recipes.apply(recipe, method, float(budget), overrides)
    cfg = build_config(cls.config_cls, overrides, what=f"{method} config")
    budget_obj = Budget(float(budget))
    out = check_out_dir(out_dir, "out_dir", inputs={"model_dir": Path(str(model_dir).removeprefix("local-dir:"))})
    device = resolve_device(device)
    env = init_distributed(device)
    rank, world = env.rank, env.world_size
    bundle = load_model(model_dir, device=device)
    ds = load_dataset(data_dir)
    run = {"method": method, "params": cfg.model_dump(mode="json"), "budget": budget_obj.passes, "seed": seed,
           "base_checkpoint_sha256": bundle.checkpoint_sha256, "data_fingerprint": ds.fingerprint,
           "recipe": recipe_record}
    source = method_source_sha256(cls)
    if source:  # an external method: editing its file is a different run
        run["method_source"] = {"origin": method_origin(cls), "sha256": source}
    run_hash = config_hash(run)
    if is_complete(out, run_hash):
        return out
    with torch_threads(threads or (default_threads(world) if world > 1 else None)):
        data = build_unlearn_data(ds, bundle.preprocess, bundle.tokenizer)
        runtime = Runtime(seed=seed, on_progress=on_progress, rank=rank, world_size=world)
        model, cost = run_method(cls(cfg, runtime), bundle.model, data, budget_obj)
        used_threads = torch.get_num_threads()
    bundle.model = model
    costs = _reduce_cost(cost, world) if world > 1 else cost.as_dict()  # collective under torchrun
    if rank == 0:
        record = {"schema": UNLEARN_SCHEMA, "complete": True, "config_hash": run_hash, **run,
                  "description": cls.summary(), "steps": budget_obj.steps(len(data.forget), cfg.forget_batch_size),
                  "world_size": world, "threads": used_threads, "cost": costs,
                  "base_model": {"source": str(model_dir), "arch": bundle.arch},
                  "data": {"root": str(ds.root), "forget_rows": len(data.forget), "retain_rows": len(data.retain),
                           "retain_sources": data.retain_sources},
                  "loss_first": runtime.log[0] if runtime.log else None,
                  "loss_last": runtime.log[-1] if runtime.log else None,
                  "env": environment(), "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        save_unlearned(bundle, out, record)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return out


def save_unlearned(bundle, out: Path, record: dict[str, Any]) -> None:
    """Write the model, then ``unlearn.json`` last (a stale record is removed first, so a crash in
    between leaves a folder that is redone, never one that claims another run's weights)."""
    (out / UNLEARN_FILE).unlink(missing_ok=True)
    record["checkpoint_sha256"] = save_model(bundle, out, extra={
        "role": "unlearned", "method": record["method"], "config_hash": record["config_hash"],
        "base_checkpoint_sha256": record["base_checkpoint_sha256"]})
    atomic_write_json(out / UNLEARN_FILE, record)


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
