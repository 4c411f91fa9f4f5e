"""The real tier of ``salmubench run``: given reference models and data instead of generated ones.

``RunConfig(data=..., compromised=..., clean=...)`` (``salmubench run --data D --compromised M
--clean M``) skips data generation and reference training: the stages ``data``, ``ref-compromised``
and ``ref-clean`` only check and fingerprint what was given, and every later stage (unlearning,
evaluation, attacks, sequential requests, leaderboard, report) is the embedded tier's, reading the
given paths. The given data is never written to (no fragile set is derived from the Compromised
model: FragSim then reads the data's own fragile set, or falls back as documented in docs/metrics.md).

:func:`resolve_given` runs before planning, so a missing folder, a dataset of the wrong schema, a
model that does not load (a bare checkpoint without ``arch``) fails in one line before anything
is written. Its fingerprints key the stages: another dataset or another checkpoint is another run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salmubench.errors import ConfigError
from salmubench.pipeline.config import RunConfig

GIVEN, EMBEDDED = "given", "embedded"
ROLES = ("compromised", "clean")


@dataclass(frozen=True)
class GivenModel:
    """A given reference: the spec as given, its checkpoint sha256 and architecture name."""

    spec: str
    checkpoint_sha256: str | None
    arch: str

    def record(self) -> dict[str, Any]:
        return {"spec": self.spec, "checkpoint_sha256": self.checkpoint_sha256, "arch": self.arch}


@dataclass(frozen=True)
class GivenInputs:
    """The resolved inputs of a given-tier run."""

    data_dir: Path
    fingerprint: str
    counts: dict[str, int]
    models: dict[str, GivenModel] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What ``run.json`` records of the inputs (``tier``: ``given``)."""
        return {"data": {"root": str(self.data_dir), "fingerprint": self.fingerprint, "counts": self.counts},
                "models": {role: m.record() for role, m in self.models.items()}}


def tier(cfg: RunConfig) -> str:
    """``given`` when the run names its data and references, else ``embedded``."""
    return GIVEN if cfg.data is not None else EMBEDDED


def resolve_given(cfg: RunConfig) -> GivenInputs:
    """Load (on the CPU) and fingerprint the given data and both references; one-line errors."""
    from salmubench.data.io import load_dataset
    from salmubench.models import load_model

    ds = load_dataset(cfg.data, images="lazy")
    models = {}
    for role in ROLES:
        spec = str(getattr(cfg, role))
        bundle = load_model(spec, arch=cfg.arch, device="cpu")
        models[role] = GivenModel(spec=spec, checkpoint_sha256=bundle.checkpoint_sha256, arch=bundle.arch)
        del bundle
    if models["compromised"].checkpoint_sha256 and \
            models["compromised"].checkpoint_sha256 == models["clean"].checkpoint_sha256:
        raise ConfigError("compromised and clean are the same checkpoint; give the two reference models")
    counts = {name: len(table) for name, table in sorted(ds.splits.items())}
    return GivenInputs(data_dir=Path(ds.root).resolve(), fingerprint=ds.fingerprint, counts=counts, models=models)


def default_out(cfg: RunConfig, given: GivenInputs | None) -> str:
    """The run dir when none is given: ``runs/given-<first 8 of the data fingerprint>`` for the real
    tier (never an embedded run's folder), ``runs/<preset>`` for the embedded one."""
    if given is not None:
        return f"runs/given-{given.fingerprint[:8]}"
    return f"runs/{cfg.preset}"


def check_same_tier(root: Path, wanted: str) -> None:
    """Refuse a run dir that holds a run of the other tier (its ``run.json``), in one line."""
    from salmubench.io_utils import read_json

    path = root / "run.json"
    if not path.is_file():
        return
    try:
        previous = read_json(path).get("tier", EMBEDDED)
    except (OSError, ValueError, AttributeError):
        return
    if previous != wanted:
        raise ConfigError(f"out {root} holds a run of the {previous} tier, not the {wanted} one; choose another folder")


def load_given(root: Path) -> GivenInputs:
    """The given inputs a run recorded in ``RUN_DIR/run.json`` (worker processes rebuild the plan from
    it instead of loading the models again)."""
    from salmubench.io_utils import read_json

    record = read_json(root / "run.json")["given"]
    data = record["data"]
    models = {role: GivenModel(**m) for role, m in record["models"].items()}
    return GivenInputs(data_dir=Path(data["root"]), fingerprint=data["fingerprint"], counts=data["counts"],
                       models=models)
