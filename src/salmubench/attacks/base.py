"""The attack interface: one registered function per attack, what it may read, what it returns.

An attack is ``fn(ctx: AttackContext) -> AttackOutput``, registered in its own file under
``salmubench/attacks/suite/`` with :func:`register_attack` (the folder is imported automatically,
like the metrics). Its module docstring is its card: threat model, procedure, constants, source.

* It reads the model only through ``ctx.bundle`` and never changes it: attacks that modify weights
  work on ``ctx.copy_model()``.
* It reads the data only through ``ctx.data``, a dataset without the holdout splits (they are not
  even opened: :func:`salmubench.attacks.api.load_attack_data`).
* Every metric value comes from the evaluator's own metric functions on row views of the data
  (``ctx.metric(key, view, emb)`` = ``evaluation.registry.run_metric``), never a second implementation.
* Its randomness comes from ``ctx.rng(...)`` / ``ctx.seed_for(...)``: streams derived from the attack
  seed and the attack's name, so the same seed gives the same numbers on every model and the model
  under attack never influences which rows or batches are drawn.
* Its constants are module-level, passed to :func:`register_attack` and recorded in ``attack.json``
  (and hashed into :func:`suite_hash`, which keys the pipeline's cache). Those it declares ``tunable``
  (the fine-tuning budget: ``lr``, ``steps``) a run may set instead (``AttackContext.constants``, read
  with ``ctx.constant(key, default)``; chosen on the references by ``attacks/calibration.py``); the
  recorded constants and the hash are then the effective ones.

This module imports no torch (the leaderboard reads attack files and must stay torch-free).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from salmubench.config import config_hash
from salmubench.progress import OnProgress, ProgressEvent
from salmubench.registry import Registry
from salmubench.seeding import derive_seed, rng_for

if TYPE_CHECKING:
    import numpy as np

    from salmubench.data.dataset import SalmuDataset
    from salmubench.evaluation.embed import EmbeddingBank
    from salmubench.evaluation.registry import MetricOutput
    from salmubench.models import ClipBundle

# Bump when an attack's procedure changes in a way its constants do not show (invalidates caches and
# makes attack files of different versions refuse to mix on one leaderboard).
SUITE_VERSION = "1"
Kind = Literal["recovery", "measure"]


@dataclass(frozen=True)
class Measure:
    """One attacked value: ``after`` the attack, and ``before`` it on the same rows and metric
    (None for attacks that only measure, such as ``mia``)."""

    after: float
    before: float | None = None


@dataclass
class AttackOutput:
    """What an attack returns: its values, or why it is not available on this data."""

    values: dict[str, Measure] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # row counts, blind baseline, ... (JSON-able)
    available: bool = True
    reason: str | None = None  # one line, when not available

    @classmethod
    def unavailable(cls, reason: str) -> AttackOutput:
        return cls(available=False, reason=reason)


@dataclass(frozen=True)
class AttackSpec:
    """A registered attack.

    Attributes:
        name: registry key (``relearn``).
        fn: the attack function.
        kind: ``recovery`` (changes the model or the captions: reports ``recovery = position_after -
            position_before``) or ``measure`` (only measures: its headline position is the ``leak``).
        headline: value keys whose positions decide the attack's headline: the largest position
            after the attack among them (the worst case for the model, e.g. over 8 and 4 bits).
        constants: the attack's fixed constants (recorded and hashed).
        summary: one line (the module docstring's first line).
        tunable: keys of ``constants`` a run may set (``AttackContext.constants``; module docstring).
    """

    name: str
    fn: Callable[[AttackContext], AttackOutput]
    kind: Kind
    headline: tuple[str, ...]
    constants: Mapping[str, Any]
    summary: str = ""
    tunable: tuple[str, ...] = ()


ATTACKS: Registry[AttackSpec] = Registry("attack", package="salmubench.attacks.suite")  # loaded on first lookup


def register_attack(name: str, kind: Kind, headline: tuple[str, ...], constants: Mapping[str, Any],
                    summary: str = "", tunable: tuple[str, ...] = ()
                    ) -> Callable[[Callable[[AttackContext], AttackOutput]], Callable]:
    """Decorator registering an attack function (see the module docstring)."""
    def decorator(fn: Callable[[AttackContext], AttackOutput]) -> Callable[[AttackContext], AttackOutput]:
        module = sys.modules.get(fn.__module__)
        doc = (summary or (module.__doc__ if module else "") or "").strip()
        first = doc.splitlines()[0].removeprefix(f"{name}:").strip() if doc else ""
        ATTACKS.register(name)(AttackSpec(name=name, fn=fn, kind=kind, headline=tuple(headline),
                                          constants=dict(constants), summary=first, tunable=tuple(tunable)))
        return fn

    return decorator


def load_attacks() -> Registry[AttackSpec]:
    """The registry with every module of ``salmubench.attacks.suite`` imported (their decorators register)."""
    return ATTACKS.load()


def attack_names() -> list[str]:
    """The registered attacks, sorted."""
    return load_attacks().names()


def get_attack(name: str) -> AttackSpec:
    """The attack registered as ``name`` (ConfigError with suggestions otherwise)."""
    return load_attacks().get(name)


def suite_constants(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """``{"version": SUITE_VERSION, "attacks": {name: constants}}``: everything that defines the attacks.

    ``overrides``: a run's ``{attack: {key: value}}`` (``AttackContext.constants``, validated by
    ``attacks.calibration.resolve_constants``) put in place of those module constants. Values equal to
    the module's give the same dict, so the same :func:`suite_hash`.
    """
    attacks = {n: dict(s.constants) for n, s in load_attacks().items()}
    for name, values in (overrides or {}).items():
        attacks[name] = {**attacks[name], **values}
    return {"version": SUITE_VERSION, "attacks": attacks}


def suite_hash(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """16-hex hash of :func:`suite_constants` (keys the pipeline's attack stages; matches reference files)."""
    return config_hash(suite_constants(overrides), length=16)


@dataclass
class AttackContext:
    """Everything an attack may use.

    Attributes:
        bundle: the model under attack (never modified; see :meth:`copy_model`).
        data: the dataset without holdout splits.
        emb: the embeddings of the unmodified model (shared by all attacks of one run).
        seed: the attack seed (the same on every model).
        name: the running attack's name (its random streams are derived from it).
        device: torch device for fine-tuning and embedding.
        batch_size: embedding batch size.
        on_progress: progress callback (``salmubench.progress``), or None.
        constants: the run's ``{attack: {key: value}}`` for tunable constants (empty: the module's).
        precision: ``"fp32"`` or ``"bf16"`` (CUDA only): fine-tuning forward passes and embeddings under
            autocast (``execution.autocast``).
    """

    bundle: ClipBundle
    data: SalmuDataset
    emb: EmbeddingBank
    seed: int
    name: str = ""
    device: str = "cpu"
    batch_size: int = 256
    on_progress: OnProgress | None = None
    constants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    precision: str = "fp32"
    _before: dict = field(default_factory=dict, repr=False)

    def constant(self, key: str, default: Any) -> Any:
        """The running attack's value of constant ``key``: the run's (``constants``), else ``default``."""
        return (self.constants.get(self.name) or {}).get(key, default)

    def rng(self, *names: str | int) -> np.random.Generator:
        """A numpy generator for stream ``(seed, "attack", name, *names)``."""
        return rng_for(self.seed, "attack", self.name, *names)

    def seed_for(self, *names: str | int) -> int:
        """An integer seed for stream ``(seed, "attack", name, *names)`` (torch generators)."""
        return derive_seed(self.seed, "attack", self.name, *names)

    def progress(self, what: str, done: int, total: int) -> None:
        """Report ``done`` of ``total`` units of this attack's step ``what``."""
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(f"attack {self.name}: {what}", done, total))

    def copy_model(self):
        """A deep copy of the model under attack (on ``device``), to modify freely."""
        import copy

        return copy.deepcopy(self.bundle.model).to(self.device)

    def embeddings(self, model=None) -> EmbeddingBank:
        """A fresh in-memory embedding bank for ``model`` (default: the unmodified model's shared one)."""
        if model is None:
            return self.emb
        from dataclasses import replace

        from salmubench.evaluation.embed import EmbeddingBank

        bundle = replace(self.bundle, model=model, checkpoint_sha256=None)
        return EmbeddingBank(bundle, batch_size=self.batch_size, device=self.device, precision=self.precision)

    def metric(self, key: str, view: SalmuDataset, emb: EmbeddingBank | None = None) -> MetricOutput:
        """The evaluator's metric ``key`` on a view of the data (``run_metric``: its own seeded generator).

        Values of the unmodified model are memoised per (metric, view fingerprint): several attacks
        measure the same "before" value.
        """
        from salmubench.evaluation.registry import run_metric

        if emb is not None and emb is not self.emb:
            return run_metric(key, view, emb)
        memo = (key, view.fingerprint)
        if memo not in self._before:
            self._before[memo] = run_metric(key, view, self.emb)
        return self._before[memo]
