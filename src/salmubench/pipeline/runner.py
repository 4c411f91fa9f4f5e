"""Execute a run: plan the stages, skip the cached ones, run the rest, reporting to a view.

A stage runs iff it is not done (cache.py); its done-marker is written only after it succeeded,
so Ctrl-C or a crash loses nothing that finished and a re-run resumes where it stopped. A stage
that fails is logged (one line here, the traceback in ``RUN_DIR/logs/<stage>.log``) and the stages
that depend on it are skipped; independent stages (other methods) still run.

With ``cfg.jobs`` > 1 independent stages run at once, each in a worker process
(:mod:`salmubench.pipeline.parallel`); the stage graph, the cache and the statuses are the same.

The view is any object with ``begin(stage, index, stages, cache)``, ``end(stage, status)`` and an
``on_progress`` attribute (progress callback of the running stages); the command line passes a rich one
(``salmubench.cli.display.RunView``), the default draws nothing. ``index`` is the number of stages that
ended before this one began; under ``jobs`` > 1 several stages are between ``begin`` and ``end`` at once,
and their progress events come with task names prefixed by the stage id (``"unlearn-npo@1x-s0: ..."``).
"""

from __future__ import annotations

import time
import traceback
from contextlib import ExitStack
from pathlib import Path

from salmubench.errors import ConfigError
from salmubench.io_utils import atomic_write_json, check_out_dir
from salmubench.pipeline.cache import StageCache
from salmubench.pipeline.config import RunConfig
from salmubench.pipeline.execute import (  # noqa: F401 - re-exported (salmubench.pipeline, tests)
    CACHED,
    DONE,
    FAILED,
    SKIPPED,
    RunReport,
    StageStatus,
    decide,
    failed,
    finished,
    one_line,
    resolve_methods,
)
from salmubench.pipeline.given import GIVEN, GivenInputs, check_same_tier, default_out, resolve_given, tier
from salmubench.pipeline.lock import run_folder_lock
from salmubench.pipeline.parallel import run_concurrent
from salmubench.pipeline.plan import Planner, Stage
from salmubench.pipeline.stages import StageFns, real_stage_fns
from salmubench.progress import OnProgress


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


def check_devices(devices: tuple[str, ...]) -> None:
    """ConfigError (one line) if a listed device is not on this machine."""
    wanted = [d for d in devices if d != "cpu"]
    if not wanted:
        return
    import torch

    for d in wanted:
        if d.startswith("cuda"):
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            index = int(d.partition(":")[2] or 0)
            if index >= count:
                have = f"{count} CUDA device(s): cuda:0..cuda:{count - 1}" if count else "no CUDA device"
                raise ConfigError(f"devices: {d!r} is not available (this machine has {have})")
        elif d == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError("devices: 'mps' is not available on this machine")


def run_benchmark(cfg: RunConfig, fns: StageFns | None = None, view=None) -> RunReport:
    """Run (or resume) the whole benchmark described by ``cfg``; returns the per-stage report.

    Args:
        cfg: what to run (methods may be names or external specs, ``path.py:Class``); ``cfg.jobs`` > 1
            runs independent stages at once in worker processes (:mod:`salmubench.pipeline.parallel`).
        fns: the stage functions (default: the library's, :func:`real_stage_fns`); with ``jobs`` > 1 they
            must be picklable (module-level functions or methods of an importable class).
        view: receives the stages as they run (module docstring); default: nothing is drawn.

    The run folder is locked while the run lasts (``RUN_DIR/.lock``, :mod:`salmubench.pipeline.lock`): a
    second run on the same folder is refused in one line (ConfigError naming the holder's pid).
    """
    with ExitStack() as held:  # the run folder's lock, taken in _run once the folder is known; released on any exit
        return _run(cfg, fns, view, held)


def _run(cfg: RunConfig, fns: StageFns | None, view, held: ExitStack) -> RunReport:
    """:func:`run_benchmark`, taking the run folder's lock into ``held`` before anything is written there."""
    fns = fns or real_stage_fns()
    start = time.perf_counter()
    if cfg.device and cfg.devices:
        raise ConfigError("give device or devices, not both (devices: one per concurrent stage)")
    if cfg.devices:
        check_devices(cfg.devices)
    given = resolve_given(cfg) if tier(cfg) == GIVEN else None
    cfg = cfg.model_copy(update={"out": cfg.out or default_out(cfg, given), "recipe": run_recipe(cfg)})
    check_run_recipe(cfg)
    root = check_out_dir(cfg.out, "out").resolve()
    check_same_tier(root, tier(cfg))
    methods = resolve_methods(cfg, fns)
    held.enter_context(run_folder_lock(root))  # before run.json: a second run on root stops here
    atomic_write_json(root / "run.json", run_record(cfg, methods, given))
    cache = StageCache(root)
    view = view or _NoView()

    def relay(event) -> None:  # the running stage's progress, to the view's callback of the moment
        if view.on_progress is not None:
            view.on_progress(event)

    planner = Planner(cfg, fns, methods, cache, on_progress=relay, given=given)
    stages = planner.build()
    report = RunReport(run_dir=root)
    with view:
        if cfg.jobs == 1:
            planner.device = cfg.devices[0] if cfg.devices else cfg.device
            for i, stage in enumerate(stages):
                view.begin(stage, i, stages, cache)
                status = _run_one(stage, cache, report, root, cfg.redo)
                report.statuses.append(status)
                view.end(stage, status)
        else:
            run_concurrent(cfg, fns, methods, stages, cache, report, root, view)
    report.seconds = time.perf_counter() - start
    return report


def embedded_preset(cfg: RunConfig):
    """The :class:`~salmubench.presets.Preset` of an embedded run; None for a given run, or for an unknown
    preset name (which fails, with suggestions, where it is read)."""
    from salmubench.presets import PRESETS

    return PRESETS.get(cfg.preset) if tier(cfg) != GIVEN and cfg.preset in PRESETS else None


def run_recipe(cfg: RunConfig) -> str | None:
    """The recipe spec the run applies: ``"default"`` on an embedded preset means that preset's recipe
    (``presets.RECIPE_OF_PRESET``: mini's shipped recipes, the code defaults on tiny and paper, whose
    architectures no recipe was tuned on); any other spec, and every spec of a given run, as given."""
    preset = embedded_preset(cfg) if cfg.recipe == "default" else None
    return preset.recipe if preset is not None else cfg.recipe


def check_run_recipe(cfg: RunConfig) -> None:
    """Refuse, before anything is written, a recipe tuned on another architecture than the run's
    Compromised model (the given one, or the preset's before it is trained): one line per
    ``unlearning.job.check_recipe_fits``, once per budget."""
    from salmubench.unlearning.job import check_recipe_fits

    if tier(cfg) == GIVEN:
        model, arch = cfg.compromised, cfg.arch
    elif (preset := embedded_preset(cfg)) is not None:
        model, arch = None, preset.train.arch
    else:
        return
    for budget in cfg.budgets:
        check_recipe_fits(cfg.recipe, budget, model, arch=arch)


def run_record(cfg: RunConfig, methods: list[str], given: GivenInputs | None) -> dict:
    """``RUN_DIR/run.json``: the resolved config, the methods, the tier and (given tier) the inputs."""
    record = cfg.model_dump(mode="json") | {"resolved_methods": methods, "tier": tier(cfg)}
    if given is not None:
        record["given"] = given.record()
    return record


def _run_one(stage: Stage, cache: StageCache, report: RunReport, root: Path,
             redo_patterns: tuple[str, ...] = ()) -> StageStatus:
    decision = decide(stage, cache, report, redo_patterns)
    if isinstance(decision, StageStatus):
        return decision
    key, resume, redo = decision
    t0 = time.perf_counter()
    try:
        info = stage.action(resume)
    except Exception as exc:  # noqa: BLE001 - one failing stage must not stop independent ones
        return failed(stage, root, one_line(exc), traceback.format_exc(), time.perf_counter() - t0)
    return finished(stage, cache, report, key, redo, time.perf_counter() - t0, info)
