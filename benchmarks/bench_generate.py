"""Benchmark ``salmubench data generate``: wall time, images/s and peak memory per preset.

Each run happens in a fresh child process whose whole process tree (pool workers included) is
sampled from /proc every 0.1 s; peak memory is the largest *sum* of PSS over the tree
(proportional set size: pages shared by forked workers are counted once).

    python benchmarks/bench_generate.py --presets tiny mini
    python benchmarks/bench_generate.py --presets paper --limit-identities 80 --workers 2

With ``--limit-identities N`` every corpus of the preset is scaled by N / n_identities (see
presets.scaled_overrides); the report extrapolates the full-preset time linearly and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CHILD = r"""
import json, sys
from salmubench.data.generate import generate_dataset
from salmubench.data.generate.presets import scaled_overrides
preset, out, workers, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
kw = scaled_overrides(preset, limit) if limit else {}
m = generate_dataset(out, preset=preset, seed=0, workers=workers, overwrite=True, **kw)
print(json.dumps({"counts": m["counts"], "n_identities": m["n_identities"]}))
"""


def _mem_of(pid: int) -> int:
    """Proportional set size (bytes) of one process: shared pages split between sharers (so forked
    workers are not double counted); falls back to VmRSS without smaps_rollup."""
    for path, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(path) as fh:
                for line in fh:
                    if line.startswith(key):
                        return int(line.split()[1]) * 1024
        except OSError:
            continue
    return 0


def _tree_rss(pid: int) -> int:
    """Sum of the memory (PSS, see _mem_of) of ``pid`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        stack.extend(children.get(p, []))
        total += _mem_of(p)
    return total


def _children_cpu() -> float:
    """user + system CPU seconds of reaped children (pool workers are reaped by their parent)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_one(preset: str, workers: int, limit: int | None) -> dict:
    """Generate ``preset`` once in a child process; return timing and memory figures."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cpu0 = _children_cpu()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, preset, str(Path(tmp) / "ds"), str(workers),
                                 str(limit or 0)], stdout=subprocess.PIPE, text=True)
        peak = [0]

        def sample() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], _tree_rss(proc.pid))
                time.sleep(0.1)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        out, _ = proc.communicate()
        seconds = time.perf_counter() - t0
        thread.join()
        cpu = _children_cpu() - cpu0
        if proc.returncode:
            raise SystemExit(f"generation of {preset} failed (exit {proc.returncode})")
        size = sum(p.stat().st_size for p in (Path(tmp) / "ds").rglob("*") if p.is_file())
    info = json.loads(out.strip().splitlines()[-1])
    images = sum(info["counts"].values())
    return {"preset": preset, "workers": workers, "limit_identities": limit, "seconds": round(seconds, 2),
            "images": images, "images_per_s": round(images / seconds, 1), "cpu_seconds": round(cpu, 1),
            # what an otherwise idle machine would take: CPU time spread over the worker processes
            "idle_estimate_seconds": round(cpu / max(1, min(workers, os.cpu_count() or 1)), 1),
            "peak_pss_mib": round(peak[0] / 2**20, 1), "dataset_mib": round(size / 2**20, 1),
            "counts": info["counts"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "mini"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--limit-identities", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print JSON lines only")
    args = parser.parse_args(argv)
    from salmubench.data.generate.presets import get_preset

    load = os.getloadavg()[0]
    for preset in args.presets:
        res = run_one(preset, args.workers, args.limit_identities)
        full = get_preset(preset).n_identities
        if args.limit_identities and args.limit_identities < full:
            res["extrapolated_full_seconds"] = round(res["seconds"] * full / args.limit_identities, 1)
            res["extrapolated_idle_seconds"] = round(res["idle_estimate_seconds"] * full / args.limit_identities, 1)
        res["loadavg_1min_before"] = round(load, 2)
        if args.json:
            print(json.dumps(res))
            continue
        line = (f"{preset:6s} workers={res['workers']} {res['seconds']:8.2f} s  {res['images']:6d} images  "
                f"{res['images_per_s']:7.1f} img/s  peak {res['peak_pss_mib']:7.1f} MiB  "
                f"data {res['dataset_mib']:.1f} MiB  cpu {res['cpu_seconds']:.1f} s  (load {load:.2f}; "
                f"idle-machine estimate {res['idle_estimate_seconds']:.1f} s)")
        if "extrapolated_full_seconds" in res:
            line += (f"  [{args.limit_identities}/{full} identities; full preset extrapolated: "
                     f"{res['extrapolated_full_seconds']:.0f} s, idle estimate {res['extrapolated_idle_seconds']:.0f} s]")
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
