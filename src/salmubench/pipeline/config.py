"""The resolved configuration of ``salmubench run`` (written to ``RUN_DIR/run.json``)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from salmubench.config import StrictModel
from salmubench.runtime import STAGE_THREADS

DEVICE_RE = re.compile(r"cpu|mps|cuda(:\d+)?")


class RunConfig(StrictModel):
    """What one benchmark run does. Stage cache keys are derived from these values."""

    preset: str = "mini"  # data and training preset (tiny, mini, paper); mini is the embedded default
    out: str | None = None  # the run dir (None: runs/<preset>, or runs/given-<data fingerprint[:8]> when given)
    # the real tier (pipeline/given.py): given data and references instead of generated and trained ones
    data: str | None = None  # a dataset dir (released layout) or a Hugging Face dataset id
    compromised: str | None = None  # the Compromised model: anything `eval` takes (folder, local-dir:, hf-hub:, file)
    clean: str | None = None  # the Clean model
    arch: str | None = None  # open_clip architecture of bare checkpoint files among the given references
    imagenet: str | None = None  # ImageNet-1K val (ImageFolder or parquet) for GenKnow, instead of the zeroshot split
    methods: tuple[str, ...] = ("all",)  # method names or external specs (path.py:Class), or ("all",)
    budgets: tuple[float, ...] = (1.0,)  # forget-set passes (1x = one pass)
    seeds: tuple[int, ...] = (0,)  # unlearning seeds (the references are trained once, train_seed)
    data_seed: int = 0  # dataset generator seed
    train_seed: int = 0  # seed of both reference models (same seed, same config, as the paper)
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)  # method name -> config overrides
    recipe: str | None = "default"  # method hyperparameters: salmubench.recipes.resolve_for (None: code defaults)
    attacks: bool = True  # recovery attacks on every model after its evaluation (docs/attacks.md)
    attack_seed: int = 0  # seed of the recovery attacks (the same for every model)
    # sequential unlearning (docs/sequential.md): None = off; K adds one stage per method x budget x seed
    requests: int | None = Field(None, ge=1)  # K deletion requests
    request_unit: Literal["identity", "association"] = "identity"
    request_seed: int = 0
    theta0: Literal["previous", "original"] = "previous"  # θ0 of teacher / task-vector methods per request
    redo: tuple[str, ...] = ()  # fnmatch patterns of stage ids to redo from scratch (e.g. "unlearn-npo*")
    # execution settings, not part of any cache key (docs/run.md, "Concurrent stages")
    device: str | None = None  # torch device of every stage (None: cpu; cuda when available for unlearning)
    jobs: int = Field(1, ge=1)  # stages run at once, each in its own worker process when > 1
    threads: int = Field(STAGE_THREADS, ge=1)  # torch threads of every stage, not split by the jobs (numbers depend on it)
    devices: tuple[str, ...] | None = None  # one device per concurrent stage, round-robin (cuda:0,cuda:1 / cpu,cpu)
    # forward-pass precision of the eval / unlearn / attack stages; bf16 (CUDA only) enters their keys, fp32 not
    precision: Literal["fp32", "bf16"] = "fp32"

    @model_validator(mode="after")
    def _given_together(self) -> RunConfig:
        given = {k: getattr(self, k) for k in ("data", "compromised", "clean")}
        if any(v is not None for v in given.values()) and any(v is None for v in given.values()):
            missing = ", ".join(k for k, v in given.items() if v is None)
            raise ValueError(f"data, compromised and clean go together (missing: {missing})")
        if self.arch is not None and self.data is None:
            raise ValueError("arch is for given reference checkpoints (with data, compromised, clean)")
        if self.precision != "fp32":
            devices = self.devices or ((self.device,) if self.device else ())
            if not devices or not all(d.startswith("cuda") for d in devices):
                raise ValueError(f"precision {self.precision} needs a CUDA device (device or devices cuda...)")
            if self.requests is not None:
                raise ValueError(f"precision {self.precision}: sequential unlearning (requests) runs in fp32 only")
        return self

    @field_validator("budgets")
    @classmethod
    def _positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any(b <= 0 for b in v):
            raise ValueError("budgets must be positive numbers")
        return v

    @field_validator("devices")
    @classmethod
    def _devices(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("must name at least one device")
        for d in v:
            if not DEVICE_RE.fullmatch(d):
                raise ValueError(f"{d!r} is not a device (cpu, cuda, cuda:N, mps)")
        return v

    @field_validator("seeds", "methods")
    @classmethod
    def _nonempty(cls, v: tuple) -> tuple:
        if not v:
            raise ValueError("must not be empty")
        return v
