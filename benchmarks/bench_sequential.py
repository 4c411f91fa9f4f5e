"""Sequential unlearning (K deletion requests) against the one-shot run, per method: cost and drift.

    python benchmarks/bench_sequential.py --model MODELS/compromised --clean MODELS/clean --data DATA \\
        --work /tmp/bench_seq --out benchmarks/results/sequential_<preset>.json \\
        [--methods finetune,npo,ssd,shuffled_captions] [--requests 5] [--unit identity] [--budget 1] [--threads 1]

For each method: the one-shot run (``unlearn``) and its evaluation (``evaluate``), then the sequential
run (``unlearn(requests=K, clean=...)``, evaluated after each request), from empty folders under
``--work``. Cost, one shot vs sequential: optimiser steps, forward + backward sample passes, unlearning
seconds (the cost meter: method setup + apply, what the leaderboard's cost column shows), and the wall
time of the whole ``unlearn`` call without the evaluation (loading, tensorising the data, saving and
reloading each step's model). Drift: each metric after the last request minus the one-shot model's
evaluation (the same rows), plus the worst PendingSim position. Writes one JSON (``--out``) with the
load average before and after each run (the machine is often shared) and prints a table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from salmubench.evaluation.evaluator import evaluate
from salmubench.io_utils import atomic_write_json, read_json
from salmubench.runtime import environment
from salmubench.sequential.results import SEQ_METRICS, read_summary
from salmubench.unlearning.api import UNLEARN_FILE, unlearn


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def measure(method: str, args: argparse.Namespace) -> dict:
    work = Path(args.work) / method
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    one = unlearn(method, args.model, args.data, fresh(work / "one_shot"), budget=args.budget, seed=args.seed,
                  threads=args.threads or None)
    one_wall, one_cpu = time.perf_counter() - t0, time.process_time() - c0
    record = read_json(one / UNLEARN_FILE)
    result = evaluate(str(one), args.data, fresh(work / "one_shot_eval"), cache_dir=False)
    load1 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    seq = unlearn(method, args.model, args.data, fresh(work / "sequential"), budget=args.budget, seed=args.seed,
                  threads=args.threads or None, requests=args.requests, request_unit=args.unit, clean=args.clean,
                  theta0=args.theta0)
    seq_wall, seq_cpu = time.perf_counter() - t0, time.process_time() - c0
    load2 = os.getloadavg()[0]
    s = read_summary(seq)
    c = s.cost
    seq_wall_unlearn = seq_wall - c.eval_seconds - c.references_seconds
    one_passes = record["cost"]["fwd_passes"] + record["cost"]["bwd_passes"]
    last = s.steps[-1].metrics
    drift = {m.key: (None if last[m.key].value is None or m.key not in result.metrics
                     else last[m.key].value - result.metrics[m.key].value) for m in SEQ_METRICS}
    pending = [(st.step, st.metrics["pending_sim"].position) for st in s.steps
               if st.metrics["pending_sim"].position is not None]
    worst_pending = min(pending, key=lambda x: x[1]) if pending else None
    return {
        "method": method, "load_average": [round(load0, 2), round(load1, 2), round(load2, 2)],
        "one_shot": {"steps": record["steps"], "passes": one_passes, "unlearn_seconds": record["cost"]["unlearn_seconds"],
                     "wall_seconds": round(one_wall, 3), "cpu_seconds": round(one_cpu, 3),
                     "values": {k: v.value for k, v in result.metrics.items()}},
        "sequential": {"steps": c.optimizer_steps, "passes": c.fwd_passes + c.bwd_passes,
                       "unlearn_seconds": c.unlearn_seconds, "wall_seconds": round(seq_wall, 3),
                       "wall_seconds_without_eval": round(seq_wall_unlearn, 3), "cpu_seconds": round(seq_cpu, 3),
                       "eval_seconds": c.eval_seconds, "references_seconds": c.references_seconds,
                       "rows_per_request": s.requests.rows,
                       "curves": {m.key: [st.metrics[m.key].value for st in s.steps] for m in SEQ_METRICS},
                       "positions": {m.key: [st.metrics[m.key].position for st in s.steps] for m in SEQ_METRICS},
                       "summary": str(seq / "sequential.json")},
        "ratio": {"steps": c.optimizer_steps / record["steps"], "passes": (c.fwd_passes + c.bwd_passes) / one_passes,
                  "unlearn_seconds": c.unlearn_seconds / max(record["cost"]["unlearn_seconds"], 1e-9),
                  "wall_seconds_without_eval": seq_wall_unlearn / max(one_wall, 1e-9)},
        "drift": drift, "worst_pending_position": worst_pending,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="the Compromised model")
    p.add_argument("--clean", required=True, help="the Clean model")
    p.add_argument("--data", required=True)
    p.add_argument("--work", required=True, help="scratch folder for the models")
    p.add_argument("--out", required=True, help="the JSON to write")
    p.add_argument("--methods", default="finetune,npo,ssd,shuffled_captions")
    p.add_argument("--requests", type=int, default=5)
    p.add_argument("--unit", default="identity")
    p.add_argument("--theta0", default="previous")
    p.add_argument("--budget", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = p.parse_args()
    rows = []
    print(f"{'method':<20}{'steps':>11}{'passes x':>9}{'meter s':>16}{'x':>6}{'wall s (no eval)':>20}{'x':>6}"
          f"{'load':>6}  drift RetFail / GenKnow / InterIdSim, worst PendingSim pos.")
    for method in args.methods.split(","):
        r = measure(method, args)
        rows.append(r)
        o, s, x, d = r["one_shot"], r["sequential"], r["ratio"], r["drift"]
        wp = r["worst_pending_position"]
        print(f"{method:<20}{s['steps']:>5} / {o['steps']:<3}{x['passes']:>9.2f}{s['unlearn_seconds']:>8.2f} / "
              f"{o['unlearn_seconds']:<5.2f}{x['unlearn_seconds']:>6.2f}{s['wall_seconds_without_eval']:>10.1f} / "
              f"{o['wall_seconds']:<7.1f}{x['wall_seconds_without_eval']:>6.2f}{max(r['load_average']):>6.1f}  "
              f"{d['ret_fail']:+.4f} / {d['gen_know']:+.4f} / {d['inter_id_sim']:+.4f}, "
              f"{'-' if wp is None else f'{wp[1]:.2f} @{wp[0]}'}", flush=True)
    atomic_write_json(args.out, {"schema": "salmubench.bench-sequential/1", "args": vars(args), "env": environment(),
                                 "cpu_count": os.cpu_count(), "methods": rows,
                                 "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
