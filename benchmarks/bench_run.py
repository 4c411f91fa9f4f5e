"""Time the whole default ``salmubench run`` by stage kind: wall time, CPU time and peak RSS.

    python benchmarks/bench_run.py --out /tmp/bench_run [--preset mini] [--jobs N] [--threads T] [--no-attacks]
        [--methods all] [--json benchmarks/results/bench_run_mini.json]

* Starts from an **empty cache**: the run dir ``OUT/run`` is deleted first and the embedding cache
  is redirected to ``OUT/cache`` (``XDG_CACHE_HOME``), also emptied.
* Runs ``salmubench.pipeline.run_benchmark`` in this process with a recording view: per stage its
  wall seconds, CPU seconds (user + sys of every thread that ran it) and peak RSS. With the
  concurrent runner (``--jobs``) a stage runs in a worker process that measures itself and reports
  these in the stage's status; with the one-process runner of older versions the view measures
  in-process (CPU: ``getrusage`` deltas; peak RSS: ``/proc/self/clear_refs`` reset before each stage,
  ``VmHWM`` after it).
* Then re-runs the same command **as a user would** (``python -m salmubench.cli.main run ...``, a fresh
  process, imports included) against the finished run dir: the cached re-run time.
* Samples the 1-minute load average at the start, after every stage and at the end: on a shared
  machine wall times mean little unless the load average was ~0 (CPU seconds are the load-independent
  figure).

Writes one JSON (``--json``; the README quotes it): totals, per kind (count, wall sum, CPU sum, max
peak RSS), every stage, the cached re-run, the machine (cores, CPU model) and the load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path


def _cpu_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


class RecordingView:
    """A ``run_benchmark`` view that records every stage (it draws nothing)."""

    on_progress = None

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.loads: list[float] = []
        self._open: dict[str, tuple[float, float]] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def begin(self, stage, index, stages, cache) -> None:
        _reset_peak()
        self._open[stage.id] = (time.perf_counter(), _cpu_self())

    def end(self, stage, status) -> None:
        t0, c0 = self._open.pop(stage.id, (time.perf_counter(), _cpu_self()))
        measured = getattr(status, "resources", None) or {}
        row = {"id": stage.id, "kind": stage.kind, "state": status.state, "wall_s": round(status.seconds, 3)}
        if "cpu_s" in measured:  # measured by the worker process that ran the stage
            row.update(cpu_s=measured["cpu_s"], peak_rss_mb=measured.get("peak_rss_mb"),
                       worker=measured.get("worker"), threads=measured.get("threads"))
        else:
            row.update(cpu_s=round(_cpu_self() - c0, 3), peak_rss_mb=round(_peak_rss_mb(), 1), worker="in-process",
                       wall_view_s=round(time.perf_counter() - t0, 3))
        self.loads.append(os.getloadavg()[0])
        row["load1_after"] = round(self.loads[-1], 2)
        self.rows.append(row)


def by_kind(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = defaultdict(lambda: {"count": 0, "wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mb_max": 0.0})
    for r in rows:
        if r["state"] != "done":
            continue
        k = out[r["kind"]]
        k["count"] += 1
        k["wall_s"] = round(k["wall_s"] + r["wall_s"], 2)
        k["cpu_s"] = round(k["cpu_s"] + (r.get("cpu_s") or 0.0), 2)
        k["peak_rss_mb_max"] = max(k["peak_rss_mb_max"], r.get("peak_rss_mb") or 0.0)
    return dict(out)


def cli_args(args: argparse.Namespace, run_dir: Path) -> list[str]:
    out = ["run", "--preset", args.preset, "--out", str(run_dir), "--methods", args.methods, "--no-progress"]
    if args.no_attacks:
        out.append("--no-attacks")
    if args.jobs is not None:
        out += ["--jobs", str(args.jobs)]
    if args.threads is not None:
        out += ["--threads", str(args.threads)]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="work dir (OUT/run: the run dir, OUT/cache: caches)")
    p.add_argument("--preset", default="mini")
    p.add_argument("--methods", default="all")
    p.add_argument("--jobs", type=int, default=None, help="concurrent stages (default: the run's own default)")
    p.add_argument("--threads", type=int, default=None, help="torch threads of every stage (default: the run's, 2)")
    p.add_argument("--no-attacks", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep OUT/run and OUT/cache (resume instead of a fresh run)")
    p.add_argument("--no-rerun", action="store_true", help="skip the cached re-run")
    p.add_argument("--json", type=Path, default=None, help="write the JSON here (default OUT/bench_run.json)")
    args = p.parse_args(argv)

    run_dir, cache = args.out / "run", args.out / "cache"
    if not args.keep:
        for path in (run_dir, cache):
            shutil.rmtree(path, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(cache.resolve())  # before salmubench reads it

    load_start = os.getloadavg()
    t_import = time.perf_counter()
    import salmubench  # noqa: F401 - first, before torch (the CPU-numerics pin)
    import_s = time.perf_counter() - t_import
    return _run(args, run_dir, cache, load_start, import_s)


def _run(args, run_dir: Path, cache: Path, load_start, import_s: float) -> int:
    from salmubench.cli.main import build_parser
    from salmubench.cli.run_cmd import build_run_config
    from salmubench.pipeline import run_benchmark
    from salmubench.runtime import environment, stage_threads

    cfg = build_run_config(build_parser().parse_args(cli_args(args, run_dir)))
    view = RecordingView()
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = _cpu_self()
    report = run_benchmark(cfg, view=view)
    wall = time.perf_counter() - t0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_total = (_cpu_self() - cpu0) + (children.ru_utime + children.ru_stime - c0.ru_utime - c0.ru_stime)
    load_end = os.getloadavg()
    result = {
        "schema": "salmubench.bench_run/1",
        "command": "salmubench " + " ".join(cli_args(args, run_dir)),
        "config": cfg.model_dump(mode="json"),
        "jobs": cfg.jobs,
        "threads_per_job": stage_threads(cfg.threads),
        "ok": report.ok,
        "stages": len(report.statuses),
        "states": {s: report.count(s) for s in ("done", "cached", "failed", "skipped")},
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu_total, 1),
        "import_s": round(import_s, 2),
        "by_kind": by_kind(view.rows),
        "load1": {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in load_end],
                  "max_after_stage": round(max(view.loads, default=0.0), 2),
                  "mean_after_stage": round(sum(view.loads) / max(1, len(view.loads)), 2)},
        "machine": {"cores": len(os.sched_getaffinity(0)), "cpu": _cpu_model(), "python": platform.python_version()},
        "env": environment(),
        "stage_rows": view.rows,
    }
    if not args.no_rerun:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "salmubench.cli.main", *cli_args(args, run_dir)],
                              capture_output=True, text=True)
        result["cached_rerun"] = {"wall_s": round(time.perf_counter() - t0, 2), "exit_code": proc.returncode,
                                  "summary": proc.stdout.strip().splitlines()[-3:],
                                  "load1": round(os.getloadavg()[0], 2)}
    path = args.json or args.out / "bench_run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("jobs", "threads_per_job", "wall_s", "cpu_s", "states", "by_kind", "load1")},
                     indent=1))
    if "cached_rerun" in result:
        print("cached re-run:", result["cached_rerun"]["wall_s"], "s")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
