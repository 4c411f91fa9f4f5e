"""What the runners share: stage states, the run report, method resolution and the per-stage steps
(decide whether a stage runs, record its success or failure). ``runner.py`` runs stages one after the
other in this process, ``parallel.py`` several at once in worker processes; both go through these."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from salmubench.errors import ConfigError
from salmubench.io_utils import atomic_write_bytes
from salmubench.pipeline.cache import StageCache
from salmubench.pipeline.config import RunConfig
from salmubench.pipeline.plan import Stage
from salmubench.pipeline.stages import StageFns
from salmubench.registry import unknown_name_message

DONE, CACHED, FAILED, SKIPPED = "done", "cached", "failed", "skipped"


@dataclass
class StageStatus:
    id: str
    label: str
    state: str
    seconds: float = 0.0
    message: str = ""
    # where and how a stage ran under --jobs > 1 (measured by its worker): device, threads, worker pid,
    # cpu_s (user + sys, its own child processes included), peak_rss_mb
    resources: dict = field(default_factory=dict)


@dataclass
class RunReport:
    """What happened to every stage."""

    run_dir: Path
    statuses: list[StageStatus] = field(default_factory=list)
    seconds: float = 0.0
    redone: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """Everything planned ran (or was cached)."""
        return all(s.state in (DONE, CACHED) for s in self.statuses)

    def count(self, state: str) -> int:
        return sum(s.state == state for s in self.statuses)


def resolve_methods(cfg: RunConfig, fns: StageFns) -> list[str]:
    """The method names to run (``all`` = every registered one); external specs (``file.py:Class``)
    are loaded and replaced by their registered names; unknown names fail with suggestions."""
    if cfg.methods == ("all",):
        return list(fns.methods())
    names = []
    for spec in cfg.methods:
        if ":" in spec:
            if fns.resolve is None:
                raise ConfigError(f"method {spec!r}: these stage functions take registered names only")
            names.append(fns.resolve(spec))
            continue
        available = list(fns.methods())
        if spec not in available:
            raise ConfigError(unknown_name_message("unknown method", spec, available))
        names.append(spec)
    return list(dict.fromkeys(names))


def decide(stage: Stage, cache: StageCache, report: RunReport, redo_patterns: tuple[str, ...] = ()
           ) -> StageStatus | tuple[dict, bool, bool]:
    """What to do with a stage whose dependencies have ended: a final status (skipped: a dependency did
    not finish; cached: done with the same key), or ``(key, resume, redo)`` to run it (its started
    record is written here)."""
    ended = {s.id: s for s in report.statuses}
    bad = [ended[d] for d in stage.deps if d in ended and ended[d].state not in (DONE, CACHED)]
    if bad:
        return StageStatus(stage.id, stage.label, SKIPPED, message=f"needs {bad[0].id} ({bad[0].state})")
    key = stage.resolved_key()
    redo = any(fnmatch.fnmatchcase(stage.id, pat) for pat in redo_patterns) or bool(set(stage.deps) & report.redone)
    if not redo and cache.is_done(stage.id, key, stage.outputs):
        return StageStatus(stage.id, stage.label, CACHED, cache.seconds(stage.id) or 0.0)
    resume = cache.begin(stage.id, key, stage.outputs, fresh=redo)
    return key, resume, redo


def failed(stage: Stage, root: Path, error: str, trace: str, seconds: float) -> StageStatus:
    """The status of a stage that raised ``error`` (``Class: first line``); the traceback goes to
    ``RUN_DIR/logs/<stage>.log``."""
    log = root / "logs" / f"{stage.id}.log"
    atomic_write_bytes(log, trace.encode())
    return StageStatus(stage.id, stage.label, FAILED, seconds, f"{error} (traceback: {log})")


def finished(stage: Stage, cache: StageCache, report: RunReport, key: dict, redo: bool, seconds: float,
             info) -> StageStatus:
    """Write the done-marker of a stage that succeeded; its status."""
    cache.finish(stage.id, key, seconds, info if isinstance(info, dict) else None)
    if redo:
        report.redone.add(stage.id)  # what depends on a redone stage is redone too
    return StageStatus(stage.id, stage.label, DONE, seconds)


def one_line(exc: BaseException) -> str:
    """``Class: first line of the message``."""
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {first}"
