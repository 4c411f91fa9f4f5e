"""Result files of sequential unlearning (docs/results_schema.md); pure pydantic, no torch.

* ``OUT/steps/step-NNN/step.json`` (schema ``salmubench.sequential-step/1``): one request's step, written
  last in its folder (beside that step's model), so it marks the step as finished;
* ``OUT/sequential.json`` (schema ``salmubench.sequential/1``): the summary, every step's metrics and cost,
  the totals, written when the last step finished;
* ``OUT/references.json`` (schema ``salmubench.sequential-references/1``): the Compromised and Clean
  models' values on every row view of the split, computed once per run and reused on resume.

The metrics after each step (:data:`SEQ_METRICS`) are the evaluator's own metric functions on row views
of the data (``requested``: forget rows of the requests so far; ``pending``: forget rows not yet requested;
``all``: the evaluator's full splits). Every value carries the two references' values on the same rows
and its position between them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from salmubench.errors import ResultError
from salmubench.evaluation.results import Number, ProtocolInfo, read_validated
from salmubench.io_utils import atomic_write_json

SEQ_SCHEMA = "salmubench.sequential/1"
STEP_SCHEMA = "salmubench.sequential-step/1"
REFS_SCHEMA = "salmubench.sequential-references/1"
SUMMARY_FILE = "sequential.json"
STEP_FILE = "step.json"
REFERENCES_FILE = "references.json"
STEPS_DIR = "steps"
THETA0 = ("previous", "original")


@dataclass(frozen=True)
class SeqMetric:
    """One metric reported after every request."""

    key: str  # the protocol key it shares with result.json (pending_sim: ours)
    display: str
    rows: Literal["requested", "pending", "all"]  # the row view it is computed on
    metric: str  # the evaluator metric function (evaluation.registry) that computes it
    target: Literal["clean", "compromised"]
    description: str


SEQ_METRICS: tuple[SeqMetric, ...] = (
    SeqMetric("ret_fail", "RetFail", "requested", "ret_fail", "clean",
              "RetFail MRR on the forget rows requested so far (gallery: those rows + retain_disjoint)"),
    SeqMetric("assoc_str", "AssocStr", "requested", "assoc_str", "clean",
              "mean cos(image, own caption) on the forget rows requested so far"),
    SeqMetric("core_assoc", "CoreAssoc", "requested", "core_assoc", "clean",
              "CoreAssoc on the forget rows requested so far"),
    SeqMetric("pending_sim", "PendingSim", "pending", "assoc_str", "compromised",
              "mean cos(image, own caption) on the forget rows not requested yet (still legitimate knowledge)"),
    SeqMetric("gen_know", "GenKnow", "all", "gen_know", "compromised", "GenKnow (the evaluator's)"),
    SeqMetric("inter_id_sim", "InterIdSim", "all", "inter_id_sim", "compromised", "InterIdSim on holdout_identity"),
    SeqMetric("intra_id_sim", "IntraIdSim", "all", "intra_id_sim", "compromised",
              "IntraIdSim on holdout_association"),
    SeqMetric("vis_id_int", "VisIdInt", "all", "vis_id_int", "compromised", "VisIdInt on retain_joint"),
    SeqMetric("frag_sim", "FragSim", "all", "frag_sim", "compromised", "FragSim on the fragile set"),
)
SEQ_KEYS = tuple(m.key for m in SEQ_METRICS)
SEQ_BY_KEY = {m.key: m for m in SEQ_METRICS}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SeqValue(_Strict):
    value: Number | None  # None: no rows (PendingSim after the last request)
    n: int | None = None  # rows of the view (row-view metrics)
    clean: Number | None = None  # the Clean model's value on the same rows (None without a Clean model)
    compromised: Number | None = None  # the Compromised (starting) model's value on the same rows
    position: Number | None = None  # (value − clean) / (compromised − clean)


class SeqRun(_Strict):
    method: str
    params: dict[str, Any]
    budget: float  # per request: 1x = one pass over the request's rows
    seed: int  # the run seed (each step's seed derives from it, docs/sequential.md)
    recipe: dict[str, Any] | None = None
    config_hash: str  # hash of the whole sequential run (method, params, budget, seed, split, θ0, models, data)
    method_source: dict[str, Any] | None = None  # external methods: origin and file sha256


class SeqRequests(_Strict):
    k: int
    unit: Literal["identity", "association"]
    seed: int
    digest: str  # sequential.requests.RequestSplit.digest
    version: int
    rows: list[int]  # forget rows per request
    units: list[int]  # units (identities / associations) per request


class Theta0Info(_Strict):
    setting: Literal["previous", "original"]
    role: str | None = None  # how this method uses θ0 ("teacher", "task-vector origin"); None: not at all


class SeqModels(_Strict):
    arch: str
    source: str  # the starting (Compromised) model as given
    original_checkpoint_sha256: str | None  # the Compromised model: start of step 1, the PendingSim target
    clean_checkpoint_sha256: str | None = None  # the Clean model of the efficacy targets (None: not given)
    final_checkpoint_sha256: str | None = None  # summary only: the model after the last request


class SeqDataset(_Strict):
    root: str
    fingerprint: str
    forget_rows: int
    retain_rows: int
    preset: str | None = None


class SeqStep(_Strict):
    step: int  # 1-based request index
    step_seed: int  # the run seed of this step (= the run seed when K = 1)
    rows: int  # forget rows of this request
    units: list[str]  # identity ids or "identity/attribute" of this request
    requested_rows: int  # forget rows requested so far (this one included)
    pending_rows: int  # forget rows not requested yet
    checkpoint_sha256: str  # the model after this request
    start_checkpoint_sha256: str | None  # the model it started from (the previous step's, or the Compromised)
    optimizer_steps: int  # Budget(budget).steps(rows, forget_batch_size)
    cost: dict[str, Number]  # unlearn_seconds, fwd_passes, bwd_passes, ... of this request (CostMeter)
    loss_first: dict[str, Number] | None = None
    loss_last: dict[str, Number] | None = None
    metrics: dict[str, SeqValue] | None = None  # None when the steps were not evaluated
    eval_seconds: Number = 0.0

    @field_validator("metrics")
    @classmethod
    def _known(cls, value: dict[str, SeqValue] | None) -> dict[str, SeqValue] | None:
        if value is not None and set(value) != set(SEQ_KEYS):
            raise ValueError(f"metrics must be exactly {', '.join(SEQ_KEYS)}")
        return value


class SeqHeader(_Strict):
    """The blocks every ``step.json`` and the ``sequential.json`` summary share."""

    run: SeqRun
    requests: SeqRequests
    theta0: Theta0Info
    models: SeqModels
    protocol: ProtocolInfo
    dataset: SeqDataset
    env: dict[str, Any] = Field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        """The blocks as they are (not dumped), to build a step record or summary from."""
        return {name: getattr(self, name) for name in SeqHeader.model_fields}


class _Common(SeqHeader):
    created_at: str


class StepRecord(_Common):
    """``steps/step-NNN/step.json``."""

    schema_: str = Field(STEP_SCHEMA, alias="schema")
    complete: bool = True
    step: SeqStep

    @field_validator("schema_")
    @classmethod
    def _schema(cls, value: str) -> str:
        if value != STEP_SCHEMA:
            raise ValueError(f"unsupported step schema {value!r} (expected {STEP_SCHEMA})")
        return value


class SeqCost(_Strict):
    unlearn_seconds: Number  # sum over requests (CostMeter wall seconds: setup + apply)
    fwd_passes: int
    bwd_passes: int
    optimizer_steps: int  # sum over requests
    one_shot_steps: int  # Budget(budget).steps(|forget|, forget_batch_size): the one-shot run's
    eval_seconds: Number  # sum of the per-step evaluations (not part of the unlearning cost)
    references_seconds: Number = 0.0  # computing the references' values on every row view (0 when cached)
    wall_seconds: Number | None = None  # the whole call that finished the run (a resumed run: its part only)


class SequentialSummary(_Common):
    """``sequential.json``."""

    schema_: str = Field(SEQ_SCHEMA, alias="schema")
    steps: list[SeqStep]
    cost: SeqCost

    @field_validator("schema_")
    @classmethod
    def _schema(cls, value: str) -> str:
        if value != SEQ_SCHEMA:
            raise ValueError(f"unsupported sequential schema {value!r} (expected {SEQ_SCHEMA})")
        return value


def write_record(record: StepRecord | SequentialSummary, path: str | os.PathLike) -> Path:
    """Write a step record or a summary atomically; returns its path."""
    path = Path(path)
    atomic_write_json(path, record.model_dump(mode="json", by_alias=True))
    return path


def _read(path: Path, schema: type[BaseModel], what: str):
    if not path.is_file():
        raise ResultError(f"{what} not found: {path}")
    return read_validated(path, schema, what)


def read_summary(path: str | os.PathLike) -> SequentialSummary:
    """Read and validate ``sequential.json`` (or a folder holding it); one-line ResultError."""
    path = Path(path)
    return _read(path / SUMMARY_FILE if path.is_dir() else path, SequentialSummary, "sequential summary")


def read_step(path: str | os.PathLike) -> StepRecord:
    """Read and validate a ``step.json`` (or a step folder holding it); one-line ResultError."""
    path = Path(path)
    return _read(path / STEP_FILE if path.is_dir() else path, StepRecord, "sequential step file")


def step_dir(out_dir: str | os.PathLike, step: int) -> Path:
    """``OUT/steps/step-NNN`` (1-based)."""
    return Path(out_dir) / STEPS_DIR / f"step-{step:03d}"


def find_summaries(paths) -> list[Path]:
    """Every ``sequential.json`` under the given dirs (or the given files), sorted, de-duplicated; hidden
    folders skipped. An empty list when there is none (sequential runs are optional)."""
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            if path.name == SUMMARY_FILE:
                found[path.resolve()] = None
        elif path.is_dir():
            for f in sorted(path.rglob(SUMMARY_FILE)):
                if not any(part.startswith(".") for part in f.relative_to(path).parts):
                    found[f.resolve()] = None
    return list(found)
