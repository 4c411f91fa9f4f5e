"""Execute a run: plan the stages, skip the cached ones, run the rest, reporting to a view.

A stage runs iff it is not done (cache.py); its done-marker is written only after it succeeded,
so Ctrl-C or a crash loses nothing that finished and a re-run resumes where it stopped. A stage
that fails is logged (one line here, the traceback in ``RUN_DIR/logs/<stage>.log``) and the stages
that depend on it are skipped; independent stages (other methods) still run.

The view is any object with ``begin(stage, index, stages, cache)``, ``end(stage, status)`` and an
``on_progress`` attribute (the running stage's progress callback); the command line passes a rich one
(``salmubench.cli.display.RunView``), the default draws nothing.
"""

from __future__ import annotations

import difflib
import fnmatch
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from salmubench.errors import ConfigError
from salmubench.io_utils import atomic_write_bytes, atomic_write_json, check_out_dir
from salmubench.pipeline.cache import StageCache
from salmubench.pipeline.config import RunConfig
from salmubench.pipeline.plan import Planner, Stage
from salmubench.pipeline.stages import StageFns, real_stage_fns
from salmubench.progress import OnProgress

DONE, CACHED, FAILED, SKIPPED = "done", "cached", "failed", "skipped"


@dataclass
class StageStatus:
    id: str
    label: str
    state: str
    seconds: float = 0.0
    message: str = ""


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
            close = difflib.get_close_matches(spec, available, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown method {spec!r}.{hint} Available: {', '.join(available)}")
        names.append(spec)
    return list(dict.fromkeys(names))


class _NoView:
    """The default view: draws nothing."""

    on_progress: OnProgress | None = None

    def __enter__(self) -> _NoView:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def begin(self, stage, index, stages, cache) -> None:
        return None

    def end(self, stage, status) -> None:
        return None


def run_benchmark(cfg: RunConfig, fns: StageFns | None = None, view=None) -> RunReport:
    """Run (or resume) the whole benchmark described by ``cfg``; returns the per-stage report.

    Args:
        cfg: what to run (methods may be names or external specs, ``path.py:Class``).
        fns: the stage functions (default: the library's, :func:`real_stage_fns`).
        view: receives the stages as they run (module docstring); default: nothing is drawn.
    """
    fns = fns or real_stage_fns()
    start = time.perf_counter()
    root = check_out_dir(cfg.out, "out").resolve()
    methods = resolve_methods(cfg, fns)
    atomic_write_json(root / "run.json", cfg.model_dump(mode="json") | {"resolved_methods": methods})
    cache = StageCache(root)
    view = view or _NoView()

    def relay(event) -> None:  # the running stage's progress, to the view's callback of the moment
        if view.on_progress is not None:
            view.on_progress(event)

    stages = Planner(cfg, fns, methods, cache, on_progress=relay).build()
    report = RunReport(run_dir=root)
    with view:
        for i, stage in enumerate(stages):
            view.begin(stage, i, stages, cache)
            status = _run_one(stage, fns, cache, report, root, cfg.redo)
            report.statuses.append(status)
            view.end(stage, status)
    report.seconds = time.perf_counter() - start
    return report


def _run_one(stage: Stage, fns: StageFns, cache: StageCache, report: RunReport, root: Path,
             redo_patterns: tuple[str, ...] = ()) -> StageStatus:
    bad = [s for s in report.statuses if s.id in stage.deps and s.state not in (DONE, CACHED)]
    if bad:
        return StageStatus(stage.id, stage.label, SKIPPED, message=f"needs {bad[0].id} ({bad[0].state})")
    key = stage.resolved_key()
    redo = any(fnmatch.fnmatchcase(stage.id, pat) for pat in redo_patterns) or bool(set(stage.deps) & report.redone)
    if not redo and cache.is_done(stage.id, key, stage.outputs):
        return StageStatus(stage.id, stage.label, CACHED, cache.seconds(stage.id) or 0.0)
    resume = cache.begin(stage.id, key, stage.outputs, fresh=redo)
    t0 = time.perf_counter()
    try:
        info = stage.action(resume)
    except Exception as exc:  # noqa: BLE001 - one failing stage must not stop independent ones
        log = root / "logs" / f"{stage.id}.log"
        atomic_write_bytes(log, traceback.format_exc().encode())
        first = str(exc).splitlines()[0] if str(exc) else ""
        return StageStatus(stage.id, stage.label, FAILED, time.perf_counter() - t0,
                           f"{exc.__class__.__name__}: {first} (traceback: {log})")
    seconds = time.perf_counter() - t0
    cache.finish(stage.id, key, seconds, info if isinstance(info, dict) else None)
    if redo:
        report.redone.add(stage.id)  # what depends on a redone stage is redone too
    return StageStatus(stage.id, stage.label, DONE, seconds)
