"""Concurrent stages (``salmubench run --jobs N``): the same stage graph, several stages at once.

The parent process (:func:`run_concurrent`) walks the plan in order and starts every stage whose
dependencies have ended, up to ``jobs`` at a time; the leaderboard starts once everything else has ended.
Deciding (skipped / cached / run), the done-markers and the failure logs stay in the parent, exactly as
in the one-process runner (runner.py), so caching, ``--redo`` and resume behave the same.

Each stage runs in a worker process of a ``spawn`` :class:`~concurrent.futures.ProcessPoolExecutor`:

* the worker imports ``salmubench`` before torch (this module is inside the package, and the CPU
  numerics pins are already in the environment it inherits), so its numerics are those of the parent;
* it rebuilds the same plan from the run config (external methods are loaded again from their specs),
  runs the stage's action and reports back its info, wall and CPU seconds and peak RSS;
* it runs on ``threads_per_job`` torch threads (``--threads`` total, default the usable cores, shared
  evenly by the jobs), passed to every stage function; with ``devices`` each started stage gets the
  least busy device of the list (round-robin among equals);
* its progress events travel through a queue to the parent's view, their task names prefixed with the
  stage id;
* it ignores SIGINT: on Ctrl-C the parent terminates the workers and re-raises, keeping every finished
  stage (the interrupted ones keep their started records and resume next time).

A stage that raises in a worker is a failed stage (one line, traceback in ``RUN_DIR/logs/<id>.log``);
a worker that dies (killed, out of memory) fails the stages it was running and a fresh pool runs the rest.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import queue as queue_mod
import resource
import signal
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from salmubench.errors import ConfigError
from salmubench.pipeline.cache import StageCache
from salmubench.pipeline.config import RunConfig
from salmubench.pipeline.execute import (
    RunReport,
    StageStatus,
    decide,
    failed,
    finished,
    one_line,
    resolve_methods,
)
from salmubench.pipeline.plan import Planner, Stage
from salmubench.pipeline.stages import StageFns
from salmubench.progress import ProgressEvent
from salmubench.runtime import threads_per_job

PROGRESS_EVERY_S = 0.1  # a worker sends a task's progress at most this often (and always its last event)


def run_concurrent(cfg: RunConfig, fns: StageFns, methods: list[str], stages: list[Stage], cache: StageCache,
                   report: RunReport, root: Path, view) -> None:
    """Run ``stages`` (the parent's plan) with ``cfg.jobs`` worker processes; statuses go to ``report``
    in plan order. The workers get a pickled copy of ``fns``."""
    try:  # the library's stage functions pickle by reference; injected ones must be importable
        fns_blob = pickle.dumps(fns)
    except Exception as exc:  # noqa: BLE001 - any pickling failure means the same thing
        raise ConfigError(f"jobs={cfg.jobs} needs picklable stage functions ({one_line(exc)}); "
                          f"use jobs=1 with these") from None
    jobs = cfg.jobs
    threads = threads_per_job(cfg.threads, jobs)
    devices = list(cfg.devices or [cfg.device])
    load = [0] * len(devices)
    last = [-1]
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    init = (events, threads, cfg.model_dump(mode="json"), methods, fns_blob)

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=init)

    def pick() -> int:  # the least busy device; among equals the next one after the last pick
        n = len(devices)
        order = [(last[0] + 1 + k) % n for k in range(n)]
        best = min(order, key=lambda i: load[i])
        last[0] = best
        return best

    order = {s.id: i for i, s in enumerate(stages)}
    pending = list(stages)
    running: dict[Future, tuple[Stage, dict, bool, int, float]] = {}
    ended: dict[str, StageStatus] = {}

    def end(stage: Stage, status: StageStatus) -> None:
        ended[stage.id] = status
        report.statuses.append(status)
        view.end(stage, status)

    def relay() -> None:
        while True:
            try:
                stage_id, task, done, total, status = events.get_nowait()
            except (queue_mod.Empty, OSError, EOFError, ValueError):
                return
            if view.on_progress is not None:
                view.on_progress(ProgressEvent(f"{stage_id}: {task}", done, total, status))

    pool = new_pool()
    try:
        while pending or running:
            for stage in list(pending):
                if len(running) >= jobs:
                    break
                if any(d not in ended for d in stage.deps):
                    continue
                if stage.after_all and (running or any(s is not stage for s in pending)):
                    continue
                pending.remove(stage)
                view.begin(stage, len(ended), stages, cache)
                decision = decide(stage, cache, report, cfg.redo)
                if isinstance(decision, StageStatus):
                    end(stage, decision)
                    continue
                key, resume, redo = decision
                slot = pick()
                load[slot] += 1
                fut = pool.submit(_run_stage, stage.id, resume, devices[slot])
                running[fut] = (stage, key, redo, slot, time.perf_counter())
            if not running:
                if pending:  # cannot happen with a valid plan (dependencies come first)
                    raise RuntimeError(f"stages waiting on nothing: {[s.id for s in pending]}")
                break
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            relay()
            broken = False
            for fut in done:
                stage, key, redo, slot, t0 = running.pop(fut)
                load[slot] -= 1
                try:
                    out = fut.result()
                except BrokenProcessPool as exc:
                    broken = True
                    end(stage, failed(stage, root, f"worker process died ({one_line(exc)})",
                                      traceback.format_exc(), time.perf_counter() - t0))
                    continue
                resources = out["resources"] | {"device": devices[slot]}
                if out["ok"]:
                    status = finished(stage, cache, report, key, redo, out["seconds"], out["info"])
                else:
                    status = failed(stage, root, out["error"], out["traceback"], out["seconds"])
                status.resources = resources
                end(stage, status)
            if broken:  # the pool is unusable: fail what it still ran, go on with a fresh one
                for fut, (stage, _key, _redo, slot, t0) in list(running.items()):
                    running.pop(fut)
                    load[slot] -= 1
                    end(stage, failed(stage, root, "worker process died (another stage's worker broke the pool)",
                                      "", time.perf_counter() - t0))
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
        relay()
    except BaseException:
        _terminate(pool)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        events.close()
        events.join_thread()
    report.statuses.sort(key=lambda s: order.get(s.id, len(order)))


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now (Ctrl-C, an error in the parent): what they ran stays resumable."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, AttributeError):
            proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


# ---- the worker side -------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(events, threads: int, cfg: dict, methods: list[str], fns_blob: bytes) -> None:
    """Once per worker process: ignore Ctrl-C (the parent stops the workers), set torch's threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    _WORKER.update(events=events, threads=threads, cfg=cfg, methods=methods, fns_blob=fns_blob, planner=None,
                   stage=None, sent={})


def _planner() -> Planner:
    """The run's plan, rebuilt once per worker from the config (and the stage functions) it was given."""
    if _WORKER["planner"] is None:
        cfg = RunConfig.model_validate(_WORKER["cfg"])
        fns = pickle.loads(_WORKER["fns_blob"])
        methods = resolve_methods(cfg, fns)  # loads external methods (file.py:Class) in this process too
        if methods != _WORKER["methods"]:
            raise RuntimeError(f"the worker resolved methods {methods}, the parent {_WORKER['methods']}")
        planner = Planner(cfg, fns, methods, StageCache(Path(cfg.out).resolve()), on_progress=_send)
        planner.build()
        planner.threads = _WORKER["threads"]
        _WORKER["planner"] = planner
    return _WORKER["planner"]


def _send(event: ProgressEvent) -> None:
    """A stage's progress event to the parent (throttled per task; first and last always go)."""
    now = time.monotonic()
    key = event.task
    last = _WORKER["sent"].get(key)
    if last is not None and not event.finished and now - last < PROGRESS_EVERY_S:
        return
    _WORKER["sent"][key] = now
    with contextlib.suppress(OSError, ValueError, queue_mod.Full):
        _WORKER["events"].put_nowait((_WORKER["stage"], event.task, event.done, event.total, event.status))


def _run_stage(stage_id: str, resume: bool, device: str | None) -> dict[str, Any]:
    """Run one stage's action in this worker; its info or error, wall and CPU seconds, peak RSS."""
    t0, cpu0 = time.perf_counter(), _cpu()
    _reset_peak_rss()
    _WORKER["stage"], _WORKER["sent"] = stage_id, {}
    ok, info, error, trace = True, None, "", ""
    try:
        planner = _planner()
        planner.device = device
        stage = next(s for s in planner.stages if s.id == stage_id)
        info = stage.action(resume)
    except Exception as exc:  # noqa: BLE001 - reported as the stage's failure
        ok, error, trace = False, one_line(exc), traceback.format_exc()
    seconds = time.perf_counter() - t0
    resources = {"worker": os.getpid(), "threads": _WORKER["threads"], "cpu_s": round(_cpu() - cpu0, 3),
                 "peak_rss_mb": _peak_rss_mb()}
    return {"ok": ok, "info": info if isinstance(info, dict) else None, "error": error, "traceback": trace,
            "seconds": seconds, "resources": resources}


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
