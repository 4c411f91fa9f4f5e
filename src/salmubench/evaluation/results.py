"""Self-describing result files: the schema of ``result.json`` (``salmubench.result/1``).

Leaderboards are built only from these files. Every file carries the protocol version and hash,
the dataset fingerprint, the model's checkpoint sha256, the run's provenance, costs and versions,
and every protocol metric with its pillar and target. Files are validated on read, numbers
strictly: a metric value must be a finite JSON number (not a string, a boolean, NaN or Infinity).

The official-schema file written beside it (``evaluation_<name>.json``, the original evaluator's
format) is read only through :func:`read_official`, which validates it the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_serializer,
)

from salmubench.errors import ResultError
from salmubench.evaluation.protocol import METRIC_KEYS
from salmubench.io_utils import atomic_write_json, read_json

RESULT_SCHEMA = "salmubench.result/1"
RESULT_FILE = "result.json"
Role = Literal["compromised", "clean", "unlearned", "other"]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # a finite JSON number (ints too)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProtocolInfo(_Strict):
    name: str
    version: str
    hash: str


class DatasetInfo(_Strict):
    root: str
    fingerprint: str  # salmubench.data.io.dataset_fingerprint
    split_counts: dict[str, int]
    fragile_sha256: str | None = None  # sha256 of fragile_set_ids.json (written after training)
    preset: str | None = None


class ModelInfo(_Strict):
    source: str  # what was passed to --model
    arch: str
    checkpoint_sha256: str | None
    role: Role = "other"
    base_checkpoint_sha256: str | None = None  # the Compromised model an unlearned model started from
    name: str | None = None  # display name on leaderboards ("compromised", "npo@1x/s0", ...)


class RunInfo(_Strict):
    """Provenance of an unlearned model (empty for reference models).

    ``evaluate`` fills it from the caller's ``run_info`` (the pipeline) or, without one, from the model
    folder's ``unlearn.json`` (``salmubench eval`` of an unlearned model). The fields after ``recipe``
    are written only when set, so a file without them reads and writes as before.
    """

    method: str | None = None
    budget: float | None = None
    seed: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    config_hash: str | None = None
    recipe: dict[str, Any] | None = None  # the recipe the params came from (salmubench.recipes); None: none
    recipe_fit: dict[str, Any] | None = None  # the recipe check's record (unlearn.json "recipe_fit"), if any
    cost: dict[str, Any] | None = None  # unlearn.json "cost": unlearn_seconds, fwd/bwd sample passes, ...
    sequential: dict[str, Any] | None = None  # deletion requests: {"k", "unit", "seed", "theta0"}
    record: str | None = None  # the unlearn.json these fields were read from (None: given by the caller)

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler) -> dict[str, Any]:
        data = handler(self)
        for key in OPTIONAL_RUN_FIELDS:
            if data.get(key) is None:
                data.pop(key, None)
        return data


OPTIONAL_RUN_FIELDS = ("recipe_fit", "cost", "sequential", "record")  # written only when set


class MetricValue(_Strict):
    value: Number  # headline value (RetFail: MRR)
    display: str
    official_key: str
    pillar: Literal["efficacy", "utility"]
    target: Literal["clean", "compromised"]
    extra: dict[str, Any] = Field(default_factory=dict)  # e.g. {"r_at_1": ...}, sub-values


class Cost(_Strict):
    eval_seconds: Number = 0.0
    embed_seconds: Number = 0.0
    unlearn_seconds: Number | None = None
    train_seconds: Number | None = None
    fwd_passes: int | None = None  # forward sample passes (unlearning)
    bwd_passes: int | None = None  # backward sample passes (unlearning)


class EvalResult(_Strict):
    schema_: str = Field(RESULT_SCHEMA, alias="schema")
    protocol: ProtocolInfo
    dataset: DatasetInfo
    model: ModelInfo
    run: RunInfo = Field(default_factory=RunInfo)
    metrics: dict[str, MetricValue]
    extras: dict[str, Any] = Field(default_factory=dict)  # beyond the original: per-attribute, KS, ...
    gen_know_source: str = "zeroshot"  # "imagenet" or "zeroshot" (our generated set)
    seeds: dict[str, int] = Field(default_factory=dict)
    cost: Cost = Field(default_factory=Cost)
    env: dict[str, Any] = Field(default_factory=dict)  # salmubench.runtime.environment()
    files: dict[str, str] = Field(default_factory=dict)  # e.g. {"official": "evaluation_x.json"}
    created_at: str

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("schema_")
    @classmethod
    def _known_schema(cls, value: str) -> str:
        if value != RESULT_SCHEMA:
            raise ValueError(f"unsupported result schema {value!r} (expected {RESULT_SCHEMA})")
        return value

    @field_validator("metrics")
    @classmethod
    def _all_metrics(cls, value: dict[str, MetricValue]) -> dict[str, MetricValue]:
        missing = [k for k in METRIC_KEYS if k not in value]
        if missing:
            raise ValueError(f"missing metric(s) {', '.join(missing)}")
        return value

    def value(self, key: str) -> float:
        return self.metrics[key].value


def write_result(result: EvalResult, out_dir: str | os.PathLike) -> Path:
    """Write ``OUT_DIR/result.json`` atomically; returns its path."""
    path = Path(out_dir) / RESULT_FILE
    atomic_write_json(path, result.model_dump(mode="json", by_alias=True))
    return path


def read_result(path: str | os.PathLike) -> EvalResult:
    """Read and validate a result file (or a directory holding ``result.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULT_FILE
    if not path.is_file():
        raise ResultError(f"result file not found: {path}")
    return read_validated(path, EvalResult, "result file")


# The original evaluator's file: {"efficacy" | "utility": {official key: {field: number | [numbers]}}}
OfficialResult = dict[Literal["efficacy", "utility"], dict[str, dict[str, Number | list[Number]]]]
_OFFICIAL = TypeAdapter(OfficialResult)


def read_official(path: str | os.PathLike) -> OfficialResult:
    """Read and validate an official-schema file (``evaluation_<name>.json``); ResultError if invalid."""
    path = Path(path)
    if not path.is_file():
        raise ResultError(f"official result file not found: {path}")
    return read_validated(path, _OFFICIAL, "official result file")


def read_validated(path: Path, schema: type[BaseModel] | TypeAdapter, what: str) -> Any:
    """``read_json`` through a pydantic schema; every failure is one ResultError line (the one reader of
    every result file kind: evaluation, official, attack, sequential)."""
    try:
        data = read_json(path)
        return schema.validate_python(data) if isinstance(schema, TypeAdapter) else schema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ResultError(f"{path}: invalid {what} ({where}: {err['msg']})") from None
    except (OSError, ValueError) as exc:
        raise ResultError(f"{path}: not valid JSON ({exc})") from None
