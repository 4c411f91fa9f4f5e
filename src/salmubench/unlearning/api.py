"""``unlearn(...)``: load a model and a dataset, run one method once, save the unlearned model.

Output folder (an open_clip ``local-dir:`` model, loadable without salmubench)::

    OUT/open_clip_config.json        model + preprocess config (+ "salmubench" provenance block)
    OUT/open_clip_model.safetensors  weights
    OUT/unlearn.json                 resolved config, config hash, budget, seed, cost, provenance

``unlearn.json`` is written last, atomically, with ``"complete": true``: a folder without it is an
interrupted run and is redone. A folder whose ``unlearn.json`` has the same config hash (method,
resolved params, budget, seed, base checkpoint sha256, data fingerprint) is skipped (resume).

Sequential deletion requests are their own entry, ``salmubench.sequential.api.unlearn_sequential``;
``salmubench.unlearn(..., requests=K)`` at the package root picks one of the two.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from salmubench.config import config_hash
from salmubench.data.loading import load_dataset
from salmubench.execution import ExecContext, exec_context
from salmubench.models import load_model
from salmubench.progress import OnProgress
from salmubench.recipes import DEFAULT
from salmubench.runtime import default_threads, environment, init_distributed, local_device, torch_threads
from salmubench.unlearning.base import Runtime
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
from salmubench.unlearning.job import UnlearnJob, prepare_job


def unlearn(method: str, model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
            budget: float = 1.0, overrides: dict[str, Any] | None = None, seed: int = 0,
            recipe: str | None = DEFAULT, context: ExecContext | None = None, *,
            on_progress: OnProgress | None = None, device: str | None = None, threads: int | None = None,
            arch: str | None = None) -> Path:
    """Unlearn ``data_dir``'s forget set from the model at ``model_dir`` with ``method``, once.

    Args:
        method: registered method name (``salmubench ls methods``) or an external spec
            (``path/to/file.py:Class``, ``package.module:Class``; see ``unlearning.registry``).
        model_dir: the starting (Compromised) model: a local-dir folder or anything ``load_model`` takes.
        data_dir: a SALMUBench dataset directory.
        out_dir: where the unlearned model and ``unlearn.json`` go (skipped if already complete).
        budget: forget-set passes (1.0 = one pass at the method's forget batch size).
        overrides: method config values (``{"lr": 1e-5}``); unknown keys fail naming the valid ones.
        seed: run seed (batch order, method randomness).
        recipe: where the method's hyperparameters come from before ``overrides``
            (``salmubench.recipes.resolve_for``): ``"default"`` (the default protocol's recipe at this
            budget, when shipped), a protocol (``"forget-retain"``), a recipe name
            (``"forget-retain@5x"``, ``"harness@vitb16"``), a recipe file (``"path.json"``), or None /
            ``"none"`` (the method's code defaults). Recorded. A recipe tuned on another architecture than
            the model's, and ``"default"`` on another architecture than the code defaults' (salmu-tiny at
            32 px), are refused in one line before anything runs (``unlearning.job.check_recipe_fits``);
            ``unlearn.json`` records the check as ``recipe_fit``.
        context: execution settings (:class:`salmubench.execution.ExecContext`: device, threads,
            precision, progress callback; one event per optimiser step; bf16: ``UnlearnJob.identity``). Under torchrun and without
            ``threads`` each rank gets its share of the cores.
        on_progress / device / threads: shorthands for the same fields of ``context`` (not both).
        arch: open_clip architecture of a bare checkpoint ``model_dir`` (``.bin`` / ``.pt`` state dict).

    Returns:
        The output folder.
    """
    job = prepare_job(method, out_dir, budget, overrides, seed, recipe, inputs={"model_dir": model_dir},
                      model=model_dir, arch=arch)
    ctx = exec_context(context, device=device, threads=threads, on_progress=on_progress).resolved()
    env = init_distributed(ctx.device)
    device = local_device(ctx.device, env)  # cuda -> cuda:LOCAL_RANK under torchrun
    bundle = load_model(model_dir, arch=arch, device=device)
    ds = load_dataset(data_dir, images="lazy")  # read in order once, into tensors
    run = job.identity(bundle.checkpoint_sha256, ds.fingerprint, ctx.precision, env.world_size)
    run_hash = config_hash(run)
    if is_complete(job.out, run_hash):
        return job.out
    threads = ctx.threads or (default_threads(env.world_size) if env.world_size > 1 else None)
    with torch_threads(threads):
        data = build_unlearn_data(ds, bundle.preprocess, bundle.tokenizer)
        runtime = Runtime(seed=seed, on_progress=ctx.on_progress, rank=env.rank, world_size=env.world_size,
                          precision=ctx.precision)
        bundle.model, cost = run_method(job.instance(runtime), bundle.model, data, job.budget)
        used_threads = torch.get_num_threads()
    costs = reduce_cost(cost, env.world_size) if env.world_size > 1 else cost.as_dict()  # collective under torchrun
    if env.rank == 0:
        record = _record(job, run, run_hash, bundle, ds, data, runtime, costs, env.world_size, used_threads, model_dir)
        save_unlearned(bundle, job.out, record)
    if env.world_size > 1:
        import torch.distributed as dist

        dist.barrier()
    return job.out


def _record(job: UnlearnJob, run: dict, run_hash: str, bundle, ds, data, runtime: Runtime, costs: dict,
            world: int, threads: int, model_dir) -> dict[str, Any]:
    """``OUT/unlearn.json`` of a one-shot run (docs/results_schema.md)."""
    log = runtime.log
    return {"schema": UNLEARN_SCHEMA, "complete": True, "config_hash": run_hash, **run,
            "description": job.cls.summary(), "steps": job.budget.steps(len(data.forget), job.cfg.forget_batch_size),
            "world_size": world, "threads": threads, "precision": runtime.precision, "cost": costs,
            "base_model": {"source": str(model_dir), "arch": bundle.arch}, "recipe_fit": job.recipe_fit,
            "data": {"root": str(ds.root), "forget_rows": len(data.forget), "retain_rows": len(data.retain),
                     "retain_sources": data.retain_sources},
            "loss_first": log[0] if log else None, "loss_last": log[-1] if log else None,
            "env": environment(), "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
