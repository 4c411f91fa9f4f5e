"""The loop of sequential unlearning: one method run per deletion request (docs/sequential.md).

:func:`salmubench.sequential.api.unlearn_sequential` resolves the job and hands it to
:class:`SequentialRun`. For request k = 1..K:

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

The references' values on every row view are computed once (``OUT/references.json``, through
``evaluation.reference_cache``) before step 1. After step K the final model is also written to
``OUT`` (an open_clip local-dir, with ``unlearn.json`` written last) with ``OUT/sequential.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from salmubench.config import config_hash
from salmubench.data.io import SalmuDataset, load_dataset
from salmubench.errors import ConfigError
from salmubench.evaluation.imagenet import ImageNetImages, open_imagenet
from salmubench.evaluation.protocol import PROTOCOL_NAME, PROTOCOL_VERSION, protocol_hash
from salmubench.evaluation.reference_cache import keyed_json
from salmubench.evaluation.results import ProtocolInfo
from salmubench.execution import ExecContext
from salmubench.models import ClipBundle, load_model, save_model
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
    SeqHeader,
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
from salmubench.unlearning.base import Runtime, frozen_copy
from salmubench.unlearning.data import UnlearnData, build_unlearn_data, request_data
from salmubench.unlearning.execute import (
    UNLEARN_FILE,
    UNLEARN_SCHEMA,
    is_complete,
    run_method,
    save_unlearned,
)
from salmubench.unlearning.job import UnlearnJob


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


@dataclass(frozen=True)
class SequentialSettings:
    """What makes a run sequential (validated): K, the request unit and seed, θ0, the Clean model,
    and whether each step is evaluated."""

    requests: int
    unit: str = "identity"
    seed: int = 0
    theta0: str = "previous"
    clean: str | os.PathLike | None = None
    evaluate: bool = True
    imagenet: str | os.PathLike | None = None  # what GenKnow reads (evaluation.imagenet); None: the zeroshot split

    def __post_init__(self) -> None:
        check_unit(self.unit)
        check_theta0(self.theta0)


@dataclass(frozen=True)
class StepInputs:
    """What every step of one call reads: the unlearning data, the row views, the references'
    values (None: steps not evaluated), the record header and θ0 of steps 2..K (None: the start model)."""

    data: UnlearnData
    views: M.RowViews
    refs: dict | None
    header: SeqHeader
    original: torch.nn.Module | None


@dataclass
class SequentialRun:
    """One sequential run: the resolved job, its models and data, its identity (module docstring)."""

    job: UnlearnJob
    settings: SequentialSettings
    ctx: ExecContext
    bundle: ClipBundle
    clean_bundle: ClipBundle | None
    ds: SalmuDataset
    split: RequestSplit
    model_source: str
    run: dict[str, Any]
    run_hash: str
    wall0: float
    imagenet: ImageNetImages | None = None  # opened settings.imagenet

    @classmethod
    def start(cls, job: UnlearnJob, model_dir: str | os.PathLike, data_dir: str | os.PathLike,
              settings: SequentialSettings, ctx: ExecContext, arch: str | None = None) -> SequentialRun:
        """Load the models and data, split the requests, compute the run identity (one process only)."""
        if init_distributed(ctx.device).world_size > 1:
            raise ConfigError("sequential unlearning (requests) runs in one process; start it without torchrun")
        wall0 = time.perf_counter()
        images = open_imagenet(settings.imagenet) if settings.imagenet is not None and settings.evaluate else None
        bundle = load_model(model_dir, arch=arch, device=ctx.device)
        ds = load_dataset(data_dir, images="lazy")  # read in order once, into tensors
        split = forget_split(ds, settings.requests, settings.unit, settings.seed)
        evaluated_clean = settings.clean is not None and settings.evaluate
        clean_bundle = load_model(settings.clean, arch=arch, device=ctx.device) if evaluated_clean else None
        run = job.identity(bundle.checkpoint_sha256, ds.fingerprint)
        run["sequential"] = {"requests": split.record(), "theta0": settings.theta0, "evaluate": bool(settings.evaluate),
                             "clean_checkpoint_sha256": clean_bundle.checkpoint_sha256 if clean_bundle else None,
                             "protocol": protocol_hash()}
        if images is not None:  # only then: every other run keeps its config hash
            run["sequential"]["imagenet"] = images.identity()
        return cls(job=job, settings=settings, ctx=ctx, bundle=bundle, clean_bundle=clean_bundle, ds=ds, split=split,
                   model_source=str(model_dir), run=run, run_hash=config_hash(run), wall0=wall0, imagenet=images)

    @property
    def out(self) -> Path:
        return self.job.out

    def finish(self) -> Path:
        """Run the requests not finished yet, then write the summary and the final model; returns OUT."""
        if is_complete(self.out, self.run_hash) and (self.out / SUMMARY_FILE).is_file():
            return self.out
        (self.out / UNLEARN_FILE).unlink(missing_ok=True)  # not complete under this configuration any more
        env = environment()
        with torch_threads(self.ctx.threads):
            data = build_unlearn_data(self.ds, self.bundle.preprocess, self.bundle.tokenizer)
            header = self._header(data, env)
            views = M.RowViews(self.ds, self.split)
            t_refs = time.perf_counter()
            refs = self._references(views) if self.settings.evaluate else None
            refs_seconds = time.perf_counter() - t_refs
            model = self._run_steps(StepInputs(data, views, refs, header, self._theta0_original()))
        steps = [read_step(step_dir(self.out, k)).step for k in range(1, self.split.k + 1)]
        summary = self._summary(header, steps, refs_seconds)
        write_record(summary, self.out / SUMMARY_FILE)
        save_unlearned(dataclasses.replace(self.bundle, model=model), self.out, self._unlearn_record(summary))
        return self.out

    # ------------------------------------------------------------ the steps

    def _theta0_original(self) -> torch.nn.Module | None:
        """θ0 of steps 2..K with ``theta0="original"`` for a method that uses one (never modified)."""
        if self.settings.theta0 == "original" and self.job.cls.theta0_role() and self.split.k > 1:
            return frozen_copy(self.bundle.model)
        return None

    def _run_steps(self, inputs: StepInputs) -> torch.nn.Module:
        """Run the requests after the finished ones; returns the model after the last request."""
        done = finished_steps(self.out, self.run_hash, self.split.k)
        model = self.bundle.model if done == 0 else load_model(step_dir(self.out, done), device=self.ctx.device).model
        task = Task(self.ctx.on_progress, f"requests {self.job.method}", self.split.k).start(done)
        for k in range(done + 1, self.split.k + 1):
            model, record = self._step(k, model, inputs)
            status = "" if record.step.metrics is None else _status(record.step)
            task.advance(status=f"request {k}/{self.split.k} {status}".strip())
        return model

    def _step(self, k: int, model: torch.nn.Module, inputs: StepInputs) -> tuple[torch.nn.Module, StepRecord]:
        """Unlearn request ``k`` from ``model``, save, evaluate, write ``step.json``; returns (model, record)."""
        job, split = self.job, self.split
        rows = split.rows[k - 1]
        seed_k = step_seed(job.seed, k, split.k)
        relabel = _relabel(self.ctx.on_progress, f"request {k}/{split.k}")
        runtime = Runtime(seed=seed_k, on_progress=relabel, reference=inputs.original if k > 1 else None)
        original_sha = inputs.header.models.original_checkpoint_sha256
        start_sha = original_sha if k == 1 else read_step(step_dir(self.out, k - 1)).step.checkpoint_sha256
        model, meter = run_method(job.instance(runtime), model, request_data(inputs.data, rows), job.budget)
        folder = step_dir(self.out, k)
        if folder.exists():  # a partial folder of a killed step
            shutil.rmtree(folder)
        step_bundle = dataclasses.replace(self.bundle, model=model)
        sha = save_model(step_bundle, folder, extra={"role": "unlearned", "method": job.method,
                                                     "config_hash": inputs.header.run.config_hash,
                                                     "base_checkpoint_sha256": original_sha,
                                                     "request": k, "requests": split.k})
        values, seconds = self._evaluate_step(step_bundle, sha, k, inputs, relabel)
        log = runtime.log
        step = SeqStep(step=k, step_seed=seed_k, rows=len(rows), units=list(split.units[k - 1]),
                       requested_rows=len(split.requested(k)), pending_rows=len(split.pending(k)),
                       checkpoint_sha256=sha, start_checkpoint_sha256=start_sha,
                       optimizer_steps=job.budget.steps(len(rows), job.cfg.forget_batch_size), cost=meter.as_dict(),
                       loss_first=log[0] if log else None, loss_last=log[-1] if log else None, metrics=values,
                       eval_seconds=seconds)
        record = StepRecord(**inputs.header.fields(), step=step, created_at=_now())
        write_record(record, folder / "step.json")
        # the next request starts from this model, whose weights are the saved bytes (a resumed run loads them:
        # tests check that both paths give the same models)
        return model, record

    def _evaluate_step(self, step_bundle: ClipBundle, sha: str, k: int, inputs: StepInputs,
                       on_progress: OnProgress | None) -> tuple[dict | None, float]:
        """The step's metric values against the references (None when steps are not evaluated), seconds."""
        if inputs.refs is None:
            return None, 0.0
        from salmubench.evaluation.embed import EmbeddingBank
        from salmubench.evaluation.evaluator import prefetch_protocol_splits

        t0 = time.perf_counter()
        step_bundle.checkpoint_sha256 = sha
        bank = EmbeddingBank(step_bundle, device=self.ctx.device, on_progress=on_progress)
        prefetch_protocol_splits(bank, inputs.views.ds)  # the evaluator's embeddings, to the bit
        raw = M.raw_values(inputs.views, k, bank, imagenet=self.imagenet)
        values = M.step_values(raw, inputs.refs, k, M.view_sizes(inputs.views, k))
        return values, round(time.perf_counter() - t0, 3)

    # ------------------------------------------------------------ references (cached)

    def _references(self, views: M.RowViews) -> dict:
        """The Compromised and Clean values on every row view of the split, from ``references.json``
        when it holds this key (``evaluation.reference_cache``), else computed once and written."""
        ds, split = views.ds, views.split
        key = {"split": split.digest, "protocol": protocol_hash(), "data": ds.fingerprint,
               "fragile": _fragile_digest(ds), "compromised": self.bundle.checkpoint_sha256,
               "clean": self.clean_bundle.checkpoint_sha256 if self.clean_bundle else None,
               **({"imagenet": self.run["sequential"]["imagenet"]} if self.imagenet is not None else {})}
        cache = keyed_json(self.out / REFERENCES_FILE, key, schema=REFS_SCHEMA)
        return cache.get_or_compute(lambda: self._reference_values(views, key))

    def _reference_values(self, views: M.RowViews, key: dict) -> dict:
        from salmubench.evaluation.evaluator import protocol_bank

        values: dict[str, Any] = {"schema": REFS_SCHEMA, "key": key, "full": {}, "steps": {}}
        per_ref = {}
        for role, bundle in (("compromised", self.bundle), ("clean", self.clean_bundle)):
            if bundle is None:
                continue
            bank = protocol_bank(bundle, views.ds, self.ctx.device, self.ctx.on_progress)  # the evaluator's cache
            full = M.full_values(views.ds, bank, imagenet=self.imagenet)
            values["full"][role] = full
            per_ref[role] = {k: M.raw_values(views, k, bank, full=full, imagenet=self.imagenet)
                             for k in range(1, self.split.k + 1)}
            bank.save()
        for k in range(1, self.split.k + 1):
            values["steps"][str(k)] = {"compromised": per_ref["compromised"][k],
                                       "clean": per_ref.get("clean", {}).get(k)}
        return values

    # ------------------------------------------------------------ records

    def _header(self, data: UnlearnData, env: dict[str, Any]) -> SeqHeader:
        job, run, clean = self.job, self.run, self.clean_bundle
        return SeqHeader(
            run=SeqRun(method=job.method, params=job.cfg.model_dump(mode="json"), budget=run["budget"],
                       seed=run["seed"], recipe=run.get("recipe"), config_hash=self.run_hash,
                       method_source=run.get("method_source")),
            requests=SeqRequests(**self.split.record()),
            theta0=Theta0Info(setting=self.settings.theta0, role=job.cls.theta0_role()),
            models=SeqModels(arch=self.bundle.arch, source=self.model_source,
                             original_checkpoint_sha256=self.bundle.checkpoint_sha256,
                             clean_checkpoint_sha256=clean.checkpoint_sha256 if clean else None),
            protocol=ProtocolInfo(name=PROTOCOL_NAME, version=PROTOCOL_VERSION, hash=protocol_hash()),
            dataset=SeqDataset(root=str(self.ds.root), fingerprint=self.ds.fingerprint, forget_rows=len(data.forget),
                               retain_rows=len(data.retain), preset=(self.ds.manifest or {}).get("preset")),
            env=env)

    def _summary(self, header: SeqHeader, steps: list[SeqStep], refs_seconds: float) -> SequentialSummary:
        def total(key: str) -> float:
            return sum(float(s.cost.get(key, 0.0)) for s in steps)

        cost = SeqCost(unlearn_seconds=round(total("unlearn_seconds"), 3), fwd_passes=int(total("fwd_passes")),
                       bwd_passes=int(total("bwd_passes")), optimizer_steps=sum(s.optimizer_steps for s in steps),
                       one_shot_steps=self.job.budget.steps(self.split.n_forget, self.job.cfg.forget_batch_size),
                       eval_seconds=round(sum(float(s.eval_seconds) for s in steps), 3),
                       references_seconds=round(refs_seconds, 3),
                       wall_seconds=round(time.perf_counter() - self.wall0, 3))
        models = header.models.model_copy(update={"final_checkpoint_sha256": steps[-1].checkpoint_sha256})
        return SequentialSummary(**{**header.fields(), "models": models}, steps=steps, cost=cost, created_at=_now())

    def _unlearn_record(self, summary: SequentialSummary) -> dict[str, Any]:
        """``OUT/unlearn.json`` of a sequential run (the one-shot record's fields + ``sequential``)."""
        cost, job = summary.cost, self.job
        return {"schema": UNLEARN_SCHEMA, "complete": True, "config_hash": self.run_hash, **self.run,
                "description": job.cls.summary(), "steps": cost.optimizer_steps, "world_size": 1,
                "threads": torch.get_num_threads(),
                "cost": {"unlearn_seconds": cost.unlearn_seconds, "fwd_passes": cost.fwd_passes,
                         "bwd_passes": cost.bwd_passes},
                "base_model": {"source": self.model_source, "arch": self.bundle.arch}, "recipe_fit": job.recipe_fit,
                "data": {"root": str(self.ds.root), "forget_rows": summary.dataset.forget_rows,
                         "retain_rows": summary.dataset.retain_rows},
                "sequential": {**self.run["sequential"],
                               "theta0": {"setting": self.settings.theta0, "role": job.cls.theta0_role()},
                               "summary": SUMMARY_FILE, "one_shot_steps": cost.one_shot_steps},
                "loss_first": summary.steps[0].loss_first, "loss_last": summary.steps[-1].loss_last,
                "env": environment(), "created_at": _now()}


def finished_steps(out: Path, run_hash: str, k: int) -> int:
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


def _relabel(on_progress: OnProgress | None, suffix: str) -> OnProgress | None:
    if on_progress is None:
        return None
    return lambda event: on_progress(ProgressEvent(f"{event.task} · {suffix}", event.done, event.total, event.status))


def _status(step: SeqStep) -> str:
    m = step.metrics or {}
    parts = [f"{key}={m[key].value:.3f}" for key in ("ret_fail", "pending_sim", "gen_know")
             if key in m and m[key].value is not None]
    return " ".join(parts)


def _fragile_digest(ds: SalmuDataset) -> str | None:
    if ds.fragile_ids is None:
        return None
    return hashlib.sha256(json.dumps(sorted(ds.fragile_ids)).encode()).hexdigest()[:16]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
