"""Sequential unlearning: K deletion requests, one method run per request (docs/sequential.md).

``salmubench.unlearn(..., requests=K)`` calls :func:`unlearn_sequential`. For request k = 1..K:

1. the method gets :func:`~salmubench.unlearning.data.request_data` of that request's forget rows only
   (plus the usual retain set), a fresh instance of its config and ``Budget(budget)`` (so 1x = one pass
   over the request's rows), and the step's seed (the run seed when K = 1, else
   ``derive_seed(seed, "request", k)``);
2. it starts from the previous step's output (step 1: the Compromised model); with
   ``theta0="original"`` methods that use θ0 (teacher, task-vector origin) get the Compromised model as
   θ0 from step 2 on (``Runtime.reference``), else θ0 is the model they start from;
3. the step's model is saved to ``OUT/steps/step-NNN/``, evaluated (``sequential.metrics``) and its
   ``step.json`` written last: a finished step is never redone, a killed run resumes at the next one
   from the saved model (the same weights as the in-memory model an uninterrupted run continues with).

The references' values on every row view are computed once (``OUT/references.json``) before step 1.
After step K the final model is also written to ``OUT`` (an open_clip local-dir, with ``unlearn.json``
written last) with ``OUT/sequential.json``, the summary.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from salmubench.config import config_hash
from salmubench.data.io import SalmuDataset, load_dataset
from salmubench.errors import ConfigError
from salmubench.evaluation.protocol import PROTOCOL_NAME, PROTOCOL_VERSION, protocol_hash
from salmubench.evaluation.results import ProtocolInfo
from salmubench.io_utils import atomic_write_json, read_json
from salmubench.models import load_model, save_model
from salmubench.progress import OnProgress, ProgressEvent, Task
from salmubench.runtime import environment, init_distributed, torch_threads
from salmubench.seeding import derive_seed
from salmubench.sequential import metrics as M
from salmubench.sequential.requests import RequestSplit, check_unit, split_requests
from salmubench.sequential.results import (
    REFERENCES_FILE,
    REFS_SCHEMA,
    SUMMARY_FILE,
    THETA0,
    SeqCost,
    SeqDataset,
    SeqModels,
    SeqRequests,
    SeqRun,
    SeqStep,
    SequentialSummary,
    StepRecord,
    Theta0Info,
    read_step,
    step_dir,
    write_record,
)
from salmubench.unlearning.base import Budget, MethodConfig, Runtime, UnlearningMethod, frozen_copy
from salmubench.unlearning.data import UnlearnData, build_unlearn_data, request_data
from salmubench.unlearning.execute import (
    UNLEARN_FILE,
    UNLEARN_SCHEMA,
    is_complete,
    run_identity,
    run_method,
    save_unlearned,
)


def step_seed(seed: int, step: int, k: int) -> int:
    """The run seed of request ``step`` (1-based) of ``k``: the run seed itself when k == 1 (so one
    request is the one-shot run), else ``derive_seed(seed, "request", step)``."""
    return seed if k == 1 else derive_seed(seed, "request", step)


def check_theta0(theta0: str) -> str:
    if theta0 not in THETA0:
        raise ConfigError(f"theta0 {theta0!r} is not one of {', '.join(THETA0)}")
    return theta0


def forget_split(ds: SalmuDataset, k: int, unit: str, seed: int) -> RequestSplit:
    """The request split of a dataset's forget split."""
    return split_requests(ds.forget.identity_ids, [ds.attribute_of(f) for f in ds.forget.file_names], k, unit, seed)


def unlearn_sequential(cls: type[UnlearningMethod], cfg: MethodConfig, recipe_record: dict | None,
                       model_dir: str | os.PathLike, data_dir: str | os.PathLike, out: Path, budget: Budget,
                       seed: int, requests: int, request_unit: str = "identity", request_seed: int = 0,
                       theta0: str = "previous", clean: str | os.PathLike | None = None,
                       evaluate_steps: bool = True, on_progress: OnProgress | None = None, device: str = "cpu",
                       threads: int | None = None) -> Path:
    """Run ``cls`` over K deletion requests (module docstring); returns ``out``.

    Called by :func:`salmubench.unlearning.api.unlearn` with the method's resolved config and recipe
    record; the arguments mean what they mean there.
    """
    check_unit(request_unit)
    check_theta0(theta0)
    env = init_distributed(device)
    if env.world_size > 1:
        raise ConfigError("sequential unlearning (requests) runs in one process; start it without torchrun")
    wall0 = time.perf_counter()
    bundle = load_model(model_dir, device=device)
    ds = load_dataset(data_dir, images="lazy")  # read in order once, into tensors
    split = forget_split(ds, requests, request_unit, request_seed)
    clean_bundle = load_model(clean, device=device) if (clean is not None and evaluate_steps) else None
    run = run_identity(cls, cfg, budget, seed, bundle.checkpoint_sha256, ds.fingerprint, recipe_record)
    run["sequential"] = {"requests": split.record(), "theta0": theta0, "evaluate": bool(evaluate_steps),
                         "clean_checkpoint_sha256": clean_bundle.checkpoint_sha256 if clean_bundle else None,
                         "protocol": protocol_hash()}
    run_hash = config_hash(run)
    if is_complete(out, run_hash) and (out / SUMMARY_FILE).is_file():
        return out
    (out / UNLEARN_FILE).unlink(missing_ok=True)  # not complete under this configuration any more
    common = _common(cls, cfg, run, run_hash, split, theta0, bundle, clean_bundle, ds, model_dir)
    with torch_threads(threads):
        data = build_unlearn_data(ds, bundle.preprocess, bundle.tokenizer)
        common["dataset"] = SeqDataset(root=str(ds.root), fingerprint=ds.fingerprint, forget_rows=len(data.forget),
                                       retain_rows=len(data.retain), preset=(ds.manifest or {}).get("preset"))
        views = M.RowViews(ds, split)
        t_refs = time.perf_counter()
        refs = _references(out, views, bundle, clean_bundle, device, on_progress) if evaluate_steps else None
        refs_seconds = time.perf_counter() - t_refs
        done = _finished_steps(out, run_hash, split.k)
        original = None
        if theta0 == "original" and cls.theta0_role() and split.k > 1:
            original = frozen_copy(bundle.model)  # θ0 of steps 2..K, never modified
        model = bundle.model if done == 0 else load_model(step_dir(out, done), device=device).model
        task = Task(on_progress, f"requests {cls.name}", split.k).start(done)
        for k in range(done + 1, split.k + 1):
            model, record = _run_step(cls, cfg, common, split, k, model, data, budget, seed, original, views, refs,
                                      bundle, out, on_progress, device)
            status = "" if record.step.metrics is None else _status(record.step)
            task.advance(status=f"request {k}/{split.k} {status}".strip())
    steps = [read_step(step_dir(out, k)).step for k in range(1, split.k + 1)]
    summary = _summary(common, steps, split, budget, cfg, wall0, refs_seconds)
    write_record(summary, out / SUMMARY_FILE)
    final = dataclasses.replace(bundle, model=model)
    save_unlearned(final, out, _unlearn_record(cls, cfg, run, run_hash, split, theta0, summary, bundle, ds, model_dir))
    return out


# ---------------------------------------------------------------- one step


def _run_step(cls, cfg, common: dict, split: RequestSplit, k: int, model, data: UnlearnData, budget: Budget,
              seed: int, original, views: M.RowViews, refs: dict | None, bundle, out: Path,
              on_progress: OnProgress | None, device: str):
    """Unlearn request ``k`` from ``model``, save, evaluate, write ``step.json``; returns (model, record)."""
    rows = split.rows[k - 1]
    seed_k = step_seed(seed, k, split.k)
    relabel = _relabel(on_progress, f"request {k}/{split.k}")
    runtime = Runtime(seed=seed_k, on_progress=relabel, reference=original if k > 1 else None)
    start_sha = common["models"].original_checkpoint_sha256 if k == 1 else read_step(step_dir(out, k - 1)).step.checkpoint_sha256
    model, meter = run_method(cls(cfg, runtime), model, request_data(data, rows), budget)
    folder = step_dir(out, k)
    if folder.exists():  # a partial folder of a killed step
        shutil.rmtree(folder)
    step_bundle = dataclasses.replace(bundle, model=model)
    sha = save_model(step_bundle, folder, extra={"role": "unlearned", "method": cls.name,
                                                 "config_hash": common["run"].config_hash,
                                                 "base_checkpoint_sha256": common["models"].original_checkpoint_sha256,
                                                 "request": k, "requests": split.k})
    values, seconds = None, 0.0
    if refs is not None:
        from salmubench.evaluation.embed import EmbeddingBank
        from salmubench.evaluation.evaluator import prefetch_protocol_splits

        t0 = time.perf_counter()
        step_bundle.checkpoint_sha256 = sha
        bank = EmbeddingBank(step_bundle, device=device, on_progress=relabel)
        prefetch_protocol_splits(bank, views.ds)  # the evaluator's embeddings, to the bit
        raw = M.raw_values(views, k, bank)
        values = M.step_values(raw, refs, k, M.view_sizes(views, k))
        seconds = round(time.perf_counter() - t0, 3)
    log = runtime.log
    step = SeqStep(step=k, step_seed=seed_k, rows=len(rows), units=list(split.units[k - 1]),
                   requested_rows=len(split.requested(k)), pending_rows=len(split.pending(k)), checkpoint_sha256=sha,
                   start_checkpoint_sha256=start_sha,
                   optimizer_steps=budget.steps(len(rows), cfg.forget_batch_size), cost=meter.as_dict(),
                   loss_first=log[0] if log else None, loss_last=log[-1] if log else None, metrics=values,
                   eval_seconds=seconds)
    record = StepRecord(**common, step=step, created_at=_now())
    write_record(record, folder / "step.json")
    # the next request starts from this model, whose weights are the saved bytes (a resumed run loads them:
    # tests check that both paths give the same models)
    return model, record


def _relabel(on_progress: OnProgress | None, suffix: str) -> OnProgress | None:
    if on_progress is None:
        return None
    return lambda event: on_progress(ProgressEvent(f"{event.task} · {suffix}", event.done, event.total, event.status))


def _status(step: SeqStep) -> str:
    m = step.metrics or {}
    parts = [f"{key}={m[key].value:.3f}" for key in ("ret_fail", "pending_sim", "gen_know")
             if key in m and m[key].value is not None]
    return " ".join(parts)


def _finished_steps(out: Path, run_hash: str, k: int) -> int:
    """How many leading steps of this configuration are finished; the folders of later or stale steps
    are removed (a step of another configuration must never be mixed in)."""
    done = 0
    for step in range(1, k + 1):
        folder = step_dir(out, step)
        try:
            record = read_step(folder)
            ok = (record.complete and record.run.config_hash == run_hash and record.step.step == step
                  and (folder / "open_clip_model.safetensors").is_file())
        except Exception:  # noqa: BLE001 - missing or unreadable: not finished
            ok = False
        if not ok:
            break
        done = step
    steps_root = out / "steps"
    if steps_root.is_dir():
        for folder in steps_root.iterdir():
            name = folder.name
            if not (name.startswith("step-") and name[5:].isdigit() and 1 <= int(name[5:]) <= done):
                shutil.rmtree(folder) if folder.is_dir() else folder.unlink()
    return done


# ---------------------------------------------------------------- references (cached)


def _references(out: Path, views: M.RowViews, comp_bundle, clean_bundle, device: str,
                on_progress: OnProgress | None) -> dict:
    """The Compromised and Clean values on every row view of the split: read from ``references.json``
    when it holds this key, else computed (once) and written."""
    ds, split = views.ds, views.split
    key = {"split": split.digest, "protocol": protocol_hash(), "data": ds.fingerprint,
           "fragile": _fragile_digest(ds), "compromised": comp_bundle.checkpoint_sha256,
           "clean": clean_bundle.checkpoint_sha256 if clean_bundle else None}
    path = out / REFERENCES_FILE
    try:
        cached = read_json(path)
        if cached.get("schema") == REFS_SCHEMA and cached.get("key") == key:
            return cached
    except (OSError, ValueError):
        pass
    values: dict[str, Any] = {"schema": REFS_SCHEMA, "key": key, "full": {}, "steps": {}}
    per_ref = {}
    for role, bundle in (("compromised", comp_bundle), ("clean", clean_bundle)):
        if bundle is None:
            continue
        bank = _reference_bank(bundle, ds, device, on_progress)
        full = M.full_values(ds, bank)
        values["full"][role] = full
        per_ref[role] = {k: M.raw_values(views, k, bank, full=full) for k in range(1, split.k + 1)}
        bank.save()
    for k in range(1, split.k + 1):
        values["steps"][str(k)] = {"compromised": per_ref["compromised"][k], "clean": per_ref.get("clean", {}).get(k)}
    atomic_write_json(path, values)
    return values


def _reference_bank(bundle, ds: SalmuDataset, device: str, on_progress: OnProgress | None):
    """An EmbeddingBank of a reference with the evaluator's on-disk cache (shared with its evaluations)."""
    from salmubench.evaluation.embed import EmbeddingBank
    from salmubench.evaluation.evaluator import _bank_dir, prefetch_protocol_splits

    bank = EmbeddingBank(bundle, device=device, on_progress=on_progress, cache_dir=_bank_dir(bundle, ds, None))
    prefetch_protocol_splits(bank, ds)
    return bank


def _fragile_digest(ds: SalmuDataset) -> str | None:
    if ds.fragile_ids is None:
        return None
    return hashlib.sha256(json.dumps(sorted(ds.fragile_ids)).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- records


def _common(cls, cfg, run: dict, run_hash: str, split: RequestSplit, theta0: str, bundle, clean_bundle,
            ds: SalmuDataset, model_dir) -> dict:
    return {
        "run": SeqRun(method=cls.name, params=cfg.model_dump(mode="json"), budget=run["budget"], seed=run["seed"],
                      recipe=run.get("recipe"), config_hash=run_hash, method_source=run.get("method_source")),
        "requests": SeqRequests(**{k: v for k, v in split.record().items()}),
        "theta0": Theta0Info(setting=theta0, role=cls.theta0_role()),
        "models": SeqModels(arch=bundle.arch, source=str(model_dir), original_checkpoint_sha256=bundle.checkpoint_sha256,
                            clean_checkpoint_sha256=clean_bundle.checkpoint_sha256 if clean_bundle else None),
        "protocol": ProtocolInfo(name=PROTOCOL_NAME, version=PROTOCOL_VERSION, hash=protocol_hash()),
        "dataset": None,  # set once the data is built
        "env": environment(),
    }


def _summary(common: dict, steps: list[SeqStep], split: RequestSplit, budget: Budget, cfg, wall0: float,
             refs_seconds: float):
    cost = SeqCost(unlearn_seconds=round(sum(float(s.cost.get("unlearn_seconds", 0.0)) for s in steps), 3),
                   fwd_passes=int(sum(s.cost.get("fwd_passes", 0) for s in steps)),
                   bwd_passes=int(sum(s.cost.get("bwd_passes", 0) for s in steps)),
                   optimizer_steps=sum(s.optimizer_steps for s in steps),
                   one_shot_steps=budget.steps(split.n_forget, cfg.forget_batch_size),
                   eval_seconds=round(sum(float(s.eval_seconds) for s in steps), 3),
                   references_seconds=round(refs_seconds, 3),
                   wall_seconds=round(time.perf_counter() - wall0, 3))
    models = common["models"].model_copy(update={"final_checkpoint_sha256": steps[-1].checkpoint_sha256})
    return SequentialSummary(**{**common, "models": models}, steps=steps, cost=cost, created_at=_now())


def _unlearn_record(cls, cfg, run: dict, run_hash: str, split: RequestSplit, theta0: str,
                    summary: SequentialSummary, bundle, ds: SalmuDataset, model_dir) -> dict:
    """``OUT/unlearn.json`` of a sequential run (the one-shot record's fields + ``sequential``)."""
    cost = summary.cost
    return {"schema": UNLEARN_SCHEMA, "complete": True, "config_hash": run_hash, **run,
            "description": cls.summary(), "steps": cost.optimizer_steps, "world_size": 1,
            "threads": torch.get_num_threads(),
            "cost": {"unlearn_seconds": cost.unlearn_seconds, "fwd_passes": cost.fwd_passes,
                     "bwd_passes": cost.bwd_passes},
            "base_model": {"source": str(model_dir), "arch": bundle.arch},
            "data": {"root": str(ds.root), "forget_rows": summary.dataset.forget_rows,
                     "retain_rows": summary.dataset.retain_rows},
            "sequential": {**run["sequential"], "theta0": {"setting": theta0, "role": cls.theta0_role()},
                           "summary": SUMMARY_FILE, "one_shot_steps": cost.one_shot_steps},
            "loss_first": summary.steps[0].loss_first, "loss_last": summary.steps[-1].loss_last,
            "env": environment(), "created_at": _now()}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
