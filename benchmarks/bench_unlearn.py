"""Time every registered unlearning method at a budget on one model + dataset.

    python benchmarks/bench_unlearn.py --model MODEL_DIR --data DATA_DIR --out /tmp/bench [--budget 1] [--methods a,b]

Prints one row per method: steps, unlearn seconds (method only, wall clock), wall seconds (incl.
loading and tensorising the data), process CPU seconds of the whole call (less sensitive to other
processes sharing the machine than wall time), forward/backward sample passes. Quote the load
average with the numbers: the machine is often shared.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from salmubench.io_utils import read_json
from salmubench.unlearning import method_names
from salmubench.unlearning.api import UNLEARN_FILE, unlearn


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--budget", type=float, default=1.0)
    p.add_argument("--methods", default="*", help="comma-separated names (default: all)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    names = method_names() if args.methods == "*" else args.methods.split(",")
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'method':<20}{'steps':>6}{'unlearn_s':>11}{'wall_s':>9}{'cpu_s':>8}{'fwd':>10}{'bwd':>10}")
    for name in names:
        t0, c0 = time.perf_counter(), time.process_time()
        out = unlearn(name, args.model, args.data, Path(args.out) / name, budget=args.budget)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rec = read_json(out / UNLEARN_FILE)
        cost = rec["cost"]
        print(f"{name:<20}{rec['steps']:>6}{cost['unlearn_seconds']:>11.1f}{wall:>9.1f}{cpu:>8.1f}"
              f"{cost['fwd_passes']:>10}{cost['bwd_passes']:>10}", flush=True)


if __name__ == "__main__":
    main()
