"""``attack.json`` (schema ``salmubench.attack/1``): the self-describing record of one attacked model.

Written by :func:`salmubench.attacks.api.attack` next to the model's ``result.json`` (the pipeline:
``RUN_DIR/results/<name>/attack.json``), validated on read. It carries the attack constants, their
hash and the references the tunable ones were chosen on, the attack seed, the model's checkpoint
sha256, the dataset fingerprint, the protocol (the metric definitions every value comes from),
versions, costs, and per attack: its raw values (before / after), their positions between the
references, ``recovery`` and the headline (or the reason it is not available). The leaderboard
recomputes positions from the raw values of the three rows, so it never trusts a stale position.
Pure pydantic: no torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from salmubench.errors import ResultError
from salmubench.evaluation.results import ModelInfo, ProtocolInfo, read_validated
from salmubench.io_utils import atomic_write_json

ATTACK_SCHEMA = "salmubench.attack/1"
ATTACK_FILE = "attack.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SuiteInfo(_Strict):
    version: str
    hash: str  # salmubench.attacks.base.suite_hash(the run's constants): of the effective constants
    constants: dict[str, Any]  # {"version", "attacks": {name: constants}} (the effective ones)
    # where the tunable constants (relearn / benign_finetune lr, steps) were chosen: source, file, rule_version,
    # satisfied, references {compromised, clean, data_fingerprint, arch}, note (attacks.calibration); None: a
    # file from before issue 21
    chosen_on: dict[str, Any] | None = None


class AttackDataset(_Strict):
    root: str
    fingerprint: str
    split_counts: dict[str, int]  # splits the attacks loaded (never the holdouts)
    has_unseen: bool
    preset: str | None = None


class ReferenceInfo(_Strict):
    checkpoint_sha256: str | None
    file: str  # the reference's attack.json the positions were computed from ("self": this file)


class AttackValue(_Strict):
    after: float
    before: float | None = None
    position_after: float | None = None
    position_before: float | None = None
    recovery: float | None = None  # position_after - position_before


class Headline(_Strict):
    key: str | None = None  # the value key that decided it (worst case among the attack's headline keys)
    position: float | None = None  # position after the attack (recovery attacks) / of the AUC (mia)
    recovery: float | None = None  # recovery attacks only
    leak: float | None = None  # mia only (= position)


class AttackEntry(_Strict):
    kind: Literal["recovery", "measure"]
    available: bool = True
    reason: str | None = None  # why not available (one line)
    headline_keys: list[str] = Field(default_factory=list)
    values: dict[str, AttackValue] = Field(default_factory=dict)
    headline: Headline | None = None  # None without references or when not available
    info: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0


class AttackSummary(_Strict):
    robustness: float | None = None  # clip(1 - mean(recovery headline positions, MIA leak), 0, 1)
    worst_attack: str | None = None
    worst_position: float | None = None


class AttackResult(_Strict):
    schema_: str = Field(ATTACK_SCHEMA, alias="schema")
    suite: SuiteInfo
    seed: int
    model: ModelInfo
    dataset: AttackDataset
    protocol: ProtocolInfo
    references: dict[str, ReferenceInfo] | None = None  # {"compromised": ..., "clean": ...}
    attacks: dict[str, AttackEntry]
    summary: AttackSummary | None = None
    cost: dict[str, float] = Field(default_factory=dict)  # {"seconds": wall, "cpu_seconds": process CPU}
    env: dict[str, Any] = Field(default_factory=dict)
    created_at: str

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("schema_")
    @classmethod
    def _known_schema(cls, value: str) -> str:
        if value != ATTACK_SCHEMA:
            raise ValueError(f"unsupported attack schema {value!r} (expected {ATTACK_SCHEMA})")
        return value

    def raw(self) -> dict[str, dict[str, tuple[float | None, float]]]:
        """``{attack: {key: (before, after)}}`` of the available attacks."""
        return {name: {k: (v.before, v.after) for k, v in e.values.items()}
                for name, e in self.attacks.items() if e.available}


def write_attack(result: AttackResult, out_dir: str | os.PathLike) -> Path:
    """Write ``OUT_DIR/attack.json`` atomically; returns its path."""
    path = Path(out_dir) / ATTACK_FILE
    atomic_write_json(path, result.model_dump(mode="json", by_alias=True))
    return path


def read_attack(path: str | os.PathLike) -> AttackResult:
    """Read and validate an attack file (or a directory holding ``attack.json``); one-line ResultError."""
    path = Path(path)
    if path.is_dir():
        path = path / ATTACK_FILE
    if not path.is_file():
        raise ResultError(f"attack file not found: {path}")
    return read_validated(path, AttackResult, "attack file")
