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
from salmubench.io_utils import check_out_dir
from salmubench.models import load_model
from salmubench.progress import OnProgress
from salmubench.recipes import DEFAULT
from salmubench.runtime import default_threads, environment, init_distributed, resolve_device, torch_threads
from salmubench.unlearning.base import Budget, Runtime
from salmubench.unlearning.data import build_unlearn_data
from salmubench.unlearning.execute import (  # noqa: F401 - re-exported: the names this module always had
    UNLEARN_FILE,
    UNLEARN_SCHEMA,
    is_complete,
    reduce_cost,
    run_identity,
    run_method,
    save_unlearned,
)
from salmubench.unlearning.registry import get_method


def unlearn(method: str, model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
            budget: float = 1.0, overrides: dict[str, Any] | None = None, seed: int = 0,
            on_progress: OnProgress | None = None, device: str | None = None, threads: int | None = None,
            recipe: str | None = DEFAULT, requests: int | None = None, request_unit: str = "identity",
            request_seed: int = 0, theta0: str = "previous", clean: str | os.PathLike | None = None,
            evaluate_steps: bool = True) -> Path:
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
        requests: None (default): one run over the whole forget set. An integer K: sequential
            unlearning (docs/sequential.md): the forget set is split into K deletion requests, the
            method runs K times, each run starting from the previous output and seeing only its
            request's forget rows; ``budget`` applies per request. Each step is saved, evaluated and
            resumable; ``out_dir`` then also holds ``steps/``, ``sequential.json`` and ``references.json``.
        request_unit: ``"identity"`` (a request = all of a person's forget rows) or ``"association"``
            (one identity and attribute type). Sequential runs only.
        request_seed: seed of the request split. Sequential runs only.
        theta0: θ0 of methods that use one (teacher, task-vector origin) in sequential runs:
            ``"previous"`` (the model being unlearned, i.e. the previous request's output) or
            ``"original"`` (the Compromised model at every step). Recorded.
        clean: the Clean model, the target of the efficacy metrics after each request (sequential
            runs; without it those targets are left empty).
        evaluate_steps: evaluate after each request (sequential runs; default True).

    Returns:
        The output folder.
    """
    cls = get_method(method)
    method = cls.name
    overrides, recipe_record = recipes.apply(recipe, method, float(budget), overrides)
    cfg = build_config(cls.config_cls, overrides, what=f"{method} config")
    budget_obj = Budget(float(budget))
    inputs = {"model_dir": Path(str(model_dir).removeprefix("local-dir:"))}
    if requests is not None and clean is not None:
        inputs["clean"] = Path(str(clean).removeprefix("local-dir:"))
    out = check_out_dir(out_dir, "out_dir", inputs=inputs)
    device = resolve_device(device)
    if requests is not None:
        from salmubench.sequential.runner import unlearn_sequential

        return unlearn_sequential(cls, cfg, recipe_record, model_dir, data_dir, out, budget_obj, seed,
                                  requests=requests, request_unit=request_unit, request_seed=request_seed,
                                  theta0=theta0, clean=clean, evaluate_steps=evaluate_steps,
                                  on_progress=on_progress, device=device, threads=threads)
    env = init_distributed(device)
    rank, world = env.rank, env.world_size
    bundle = load_model(model_dir, device=device)
    ds = load_dataset(data_dir, images="lazy")  # read in order once, into tensors
    run = run_identity(cls, cfg, budget_obj, seed, bundle.checkpoint_sha256, ds.fingerprint, recipe_record)
    run_hash = config_hash(run)
    if is_complete(out, run_hash):
        return out
    with torch_threads(threads or (default_threads(world) if world > 1 else None)):
        data = build_unlearn_data(ds, bundle.preprocess, bundle.tokenizer)
        runtime = Runtime(seed=seed, on_progress=on_progress, rank=rank, world_size=world)
        model, cost = run_method(cls(cfg, runtime), bundle.model, data, budget_obj)
        used_threads = torch.get_num_threads()
    bundle.model = model
    costs = reduce_cost(cost, world) if world > 1 else cost.as_dict()  # collective under torchrun
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
