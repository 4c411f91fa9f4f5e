"""Concurrent stages (``salmubench run --jobs N``): the same stage graph, several stages at once.

The parent process (:func:`run_concurrent`, driving a :class:`ConcurrentScheduler`) walks the plan in
order and starts every stage whose dependencies have ended, up to ``jobs`` at a time; the leaderboard
starts once everything else has ended.
Deciding (skipped / cached / run), the done-markers and the failure logs stay in the parent, exactly as
in the one-process runner (runner.py), so caching, ``--redo`` and resume behave the same.

Each stage runs in one of ``jobs`` worker processes (``spawn``; started when first needed, each bound to
one device of ``devices``, round-robin), talking to the parent over its own pipe:

* the worker imports ``salmubench`` before torch (this module is inside the package, and the CPU
  numerics pins are already in the environment it inherits), so its numerics are those of the parent;
* it rebuilds the same plan from the run config (external methods are loaded again from their specs),
  runs the stage's action and answers with its info, wall and CPU seconds and peak RSS;
* it runs on ``stage_threads(cfg.threads)`` torch threads, the same as a stage of ``--jobs 1`` (never
  split by the jobs: CPU numbers depend on the thread count), passed to every stage function;
* a stage's progress events go to the parent's view, their task names prefixed with the stage id;
* it ignores SIGINT and (Linux) dies with the parent: on Ctrl-C the parent terminates the workers and
  re-raises, keeping every finished stage (the interrupted ones keep their started records and resume
  next time).

A stage that raises in a worker is a failed stage (one line, traceback in ``RUN_DIR/logs/<id>.log``);
a worker that dies (killed, out of memory) fails its stage and a fresh worker takes its place.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import pickle
import resource
import signal
import sys
import time
import traceback
from multiprocessing import connection as mp_connection
from pathlib import Path
from typing import Any, NamedTuple

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
from salmubench.pipeline.given import load_given
from salmubench.pipeline.plan import Planner, Stage
from salmubench.pipeline.stages import StageFns
from salmubench.progress import ProgressEvent
from salmubench.runtime import environ, stage_threads, worker_environment

PROGRESS_EVERY_S = 0.1  # a worker sends a task's progress at most this often (and always its last event)
POLL_S = 0.5  # the parent wakes at least this often (a worker that died without a word)


class _Job(NamedTuple):
    """A stage running in a slot: its cache key, whether it is redone, and when it was sent."""

    stage: Stage
    key: dict
    redo: bool
    start: float


class _Slot:
    """One of the ``jobs`` places a stage can run: a worker process (started when first needed, again
    if it died), bound to one device of the list."""

    def __init__(self, index: int, device: str | None) -> None:
        self.index, self.device = index, device
        self.proc = None
        self.conn = None
        self.job: _Job | None = None  # while busy

    def start(self, ctx, init: tuple, env: dict[str, str]) -> None:
        if self.proc is not None and self.proc.is_alive():
            return
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, *init), name=f"salmubench-job{self.index}")
        with environ(env):  # the child's environment is the parent's at start
            self.proc.start()
        child.close()
        self.conn = parent

    def stop(self, now: bool) -> None:
        """End the worker: at once (Ctrl-C, an error), or after it read the stop message."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if now:
                self.proc.terminate()
            else:
                self.conn.send(None)
        self.proc.join(timeout=5 if now else 60)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
        with contextlib.suppress(OSError):
            self.conn.close()
        self.proc = self.conn = None


def run_concurrent(cfg: RunConfig, fns: StageFns, methods: list[str], stages: list[Stage], cache: StageCache,
                   report: RunReport, root: Path, view) -> None:
    """Run ``stages`` (the parent's plan) on ``cfg.jobs`` worker processes; statuses go to ``report``
    in plan order. The workers get a pickled copy of ``fns``."""
    try:  # the library's stage functions pickle by reference; injected ones must be importable
        fns_blob = pickle.dumps(fns)
    except Exception as exc:  # noqa: BLE001 - any pickling failure means the same thing
        raise ConfigError(f"jobs={cfg.jobs} needs picklable stage functions ({one_line(exc)}); "
                          f"use jobs=1 with these") from None
    ConcurrentScheduler(cfg, fns_blob, methods, stages, cache, report, root, view).run()


class ConcurrentScheduler:
    """The parent's side of one concurrent run: it submits the stages whose dependencies have ended to
    idle slots, collects what the workers answer (progress, results, deaths), and ends every stage in
    ``report`` and the view; :meth:`run` drives it to the end (or stops every worker on an error)."""

    def __init__(self, cfg: RunConfig, fns_blob: bytes, methods: list[str], stages: list[Stage],
                 cache: StageCache, report: RunReport, root: Path, view) -> None:
        self.redo, self.stages, self.cache, self.report, self.root, self.view = (
            cfg.redo, stages, cache, report, root, view)
        self.devices = list(cfg.devices or [cfg.device])
        self.slots = [_Slot(i, self.devices[i % len(self.devices)]) for i in range(cfg.jobs)]
        self.ctx = mp.get_context("spawn")
        threads = stage_threads(cfg.threads)
        self.init = (threads, cfg.model_dump(mode="json"), methods, fns_blob,
                     logging.getLogger().getEffectiveLevel(), os.getpid())
        self.env = worker_environment(cfg.jobs, threads)
        self.last_pick = -1  # index of the slot picked last (round-robin among equally busy devices)
        self.pending = list(stages)  # not started yet, in plan order
        self.ended: dict[str, StageStatus] = {}

    # ---- the loop
    def run(self) -> None:
        """Submit and collect until every stage has ended; then stop the workers and sort the report
        into plan order. Any error (Ctrl-C included) terminates the workers and is re-raised."""
        order = {s.id: i for i, s in enumerate(self.stages)}
        try:
            while True:
                self.submit_ready()
                busy = self.running()
                if not busy:
                    if self.pending:  # cannot happen with a valid plan (dependencies come first)
                        raise RuntimeError(f"stages waiting on nothing: {[s.id for s in self.pending]}")
                    break
                self.collect(busy)
        except BaseException:
            self.stop_workers(now=True)
            raise
        self.stop_workers(now=False)
        self.report.statuses.sort(key=lambda s: order.get(s.id, len(order)))

    def running(self) -> list[_Slot]:
        return [sl for sl in self.slots if sl.job is not None]

    def stop_workers(self, now: bool) -> None:
        for slot in self.slots:
            slot.stop(now=now)

    # ---- submitting
    def submit_ready(self) -> None:
        """Start every pending stage that can start now, in plan order, while a slot is idle; a stage
        decided without running (skipped, cached) ends here at once."""
        for stage in list(self.pending):
            if not self._ready(stage):
                continue
            slot = self._pick_slot()
            if slot is None:
                return
            self.pending.remove(stage)
            self.view.begin(stage, len(self.ended), self.stages, self.cache)
            decision = decide(stage, self.cache, self.report, self.redo)
            if isinstance(decision, StageStatus):
                self._end(stage, decision)
                continue
            key, resume, redo = decision
            slot.start(self.ctx, self.init, self.env)
            slot.conn.send((stage.id, resume, slot.device))
            slot.job = _Job(stage, key, redo, time.perf_counter())

    def _ready(self, stage: Stage) -> bool:
        """Its dependencies have ended (and, for an ``after_all`` stage, everything else has too)."""
        if any(d not in self.ended for d in stage.deps):
            return False
        return not (stage.after_all and (self.running() or any(s is not stage for s in self.pending)))

    def _pick_slot(self) -> _Slot | None:
        """An idle slot: on the least busy device, among equals the next one after the last pick."""
        jobs = len(self.slots)
        idle = [self.slots[(self.last_pick + 1 + k) % jobs] for k in range(jobs)]
        idle = [sl for sl in idle if sl.job is None]
        if not idle:
            return None
        busy = {d: sum(1 for sl in self.slots if sl.job is not None and sl.device == d) for d in self.devices}
        best = min(idle, key=lambda sl: busy[sl.device])
        self.last_pick = best.index
        return best

    # ---- collecting
    def collect(self, busy: list[_Slot]) -> None:
        """Wait (at most POLL_S) for a busy worker to say something or die; handle every message."""
        mp_connection.wait([sl.conn for sl in busy] + [sl.proc.sentinel for sl in busy], timeout=POLL_S)
        for slot in busy:
            while slot.job is not None and slot.conn.poll():
                self._receive(slot)
            if slot.job is not None and not slot.proc.is_alive():
                self._receive(slot)  # died without a result: EOF

    def _receive(self, slot: _Slot) -> None:
        """One message of ``slot``'s worker: progress, a result, an interrupt; or its death (EOF)."""
        try:
            msg = slot.conn.recv()
        except (EOFError, OSError):  # the worker died mid-stage (killed, out of memory, a crash in C)
            self._worker_died(slot)
            return
        if msg[0] == "progress":
            self._progress(slot.job.stage, msg)
        elif msg[0] == "interrupt":  # KeyboardInterrupt raised inside the stage
            raise KeyboardInterrupt(msg[1])
        else:
            self._result(slot, msg[1])

    def _progress(self, stage: Stage, msg: tuple) -> None:
        """A worker's progress event to the view, its task named by the stage."""
        if self.view.on_progress is not None:
            _, task, done, total, text = msg
            self.view.on_progress(ProgressEvent(f"{stage.id}: {task}", done, total, text))

    def _result(self, slot: _Slot, out: dict[str, Any]) -> None:
        """The end of a stage the worker ran: done (its done-marker written) or failed (its log)."""
        stage, key, redo, _t0 = slot.job
        slot.job = None
        if out["ok"]:
            status = finished(stage, self.cache, self.report, key, redo, out["seconds"], out["info"])
        else:
            status = failed(stage, self.root, out["error"], out["traceback"], out["seconds"])
        status.resources = out["resources"] | {"device": slot.device}
        self._end(stage, status)

    def _worker_died(self, slot: _Slot) -> None:
        """The worker's stage fails; the slot starts a fresh worker when next used."""
        stage, t0 = slot.job.stage, slot.job.start
        slot.proc.join(timeout=5)
        code = slot.proc.exitcode
        slot.job = None
        slot.stop(now=True)
        self._end(stage, failed(stage, self.root, f"worker process died (exit code {code})",
                                f"the worker process of stage {stage.id} died with exit code {code}\n",
                                time.perf_counter() - t0))

    def _end(self, stage: Stage, status: StageStatus) -> None:
        self.ended[stage.id] = status
        self.report.statuses.append(status)
        self.view.end(stage, status)


# ---- the worker side -------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _worker_main(conn, threads: int, cfg: dict, methods: list[str], fns_blob: bytes, log_level: int,
                 parent: int) -> None:
    """A worker process: run the stages the parent sends (``(stage_id, resume, device)``, None to stop),
    answering each with ``("result", {...})`` after its ``("progress", ...)`` messages."""
    logging.getLogger().setLevel(log_level)  # the parent's (the command line: errors only)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the workers
    _die_with_parent(parent)
    import torch

    torch.set_num_threads(threads)
    _WORKER.update(conn=conn, threads=threads, cfg=cfg, methods=methods, fns_blob=fns_blob, planner=None,
                   sent={})
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            out = _run_stage(*task)
        except KeyboardInterrupt as exc:  # raised by the stage itself (a real Ctrl-C is ignored here)
            conn.send(("interrupt", str(exc)))
            continue
        conn.send(("result", out))


def _die_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when the parent dies (killed, not only Ctrl-C), so that no orphan goes on
    writing into the run dir; elsewhere the worker ends after its stage (the parent's pipe is closed)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the call
        os._exit(1)


def _planner() -> Planner:
    """The run's plan, rebuilt once per worker from the config (and the stage functions) it was given."""
    if _WORKER["planner"] is None:
        cfg = RunConfig.model_validate(_WORKER["cfg"])
        fns = pickle.loads(_WORKER["fns_blob"])
        methods = resolve_methods(cfg, fns)  # loads external methods (file.py:Class) in this process too
        if methods != _WORKER["methods"]:
            raise RuntimeError(f"the worker resolved methods {methods}, the parent {_WORKER['methods']}")
        root = Path(cfg.out).resolve()
        given = load_given(root) if cfg.data is not None else None
        planner = Planner(cfg, fns, methods, StageCache(root), on_progress=_send, given=given)
        planner.build()
        planner.threads = _WORKER["threads"]
        _WORKER["planner"] = planner
    return _WORKER["planner"]


def _send(event: ProgressEvent) -> None:
    """A stage's progress event to the parent (throttled per task; first and last always go)."""
    now = time.monotonic()
    last = _WORKER["sent"].get(event.task)
    if last is not None and not event.finished and now - last < PROGRESS_EVERY_S:
        return
    _WORKER["sent"][event.task] = now
    with contextlib.suppress(OSError, ValueError):
        _WORKER["conn"].send(("progress", event.task, event.done, event.total, event.status))


def _run_stage(stage_id: str, resume: bool, device: str | None) -> dict[str, Any]:
    """Run one stage's action in this worker; its info or error, wall and CPU seconds, peak RSS."""
    t0, cpu0 = time.perf_counter(), _cpu()
    _reset_peak_rss()
    _WORKER["sent"] = {}
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
