"""The real tier's data path on a CPU: the ``paper`` preset (512 px) with a ``salmu-tiny`` model.

    python benchmarks/bench_paper_path.py --out /tmp/paper --identities 100 774 \
        [--workers 2] [--steps 20] [--method neg_grad --budget 0.25] \
        [--json benchmarks/results/bench_paper_path.json]

For every dataset size (``--identities``: every corpus of the preset scaled by N / 774, 774 = full):

1. **generate** the data (``salmubench data generate --preset paper``, ``--workers``), kept for 2-5;
2. **embed-only floor**: a process that loads the model and the data (images read lazily) and embeds
   every image and caption the evaluation reads (``prefetch_protocol_splits``), nothing else: the least
   memory any evaluation of this model on this data needs;
3. **evaluate**: ``salmubench.evaluate`` on the same model and data (all 10 metrics, result files);
4. **train slice**: ``train_reference("compromised", ...)`` with the paper preset's training config but
   ``arch=salmu-tiny``, fp32 on CPU, batch 256, ``--steps`` steps (the streamed corpus: images decoded
   per batch), then s/step and the extrapolated time of one epoch (corpus / batch steps);
5. **method**: ``unlearn(--method, budget=--budget)`` from the same model.

Every step runs in a fresh child process; its peak RSS is that child's ``ru_maxrss`` (``os.wait4``),
for generation the largest sum of PSS over its process tree (pool workers, ``bench_generate.py``).
The tensor cache is off (``SALMUBENCH_TENSOR_CACHE=off``): every figure is a first contact with the data.
The model is an untrained salmu-tiny (seed 0): memory and time do not depend on its weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generate import _tree_rss  # noqa: E402 - the sibling script's process-tree sampler

GENERATE = r"""
import json, sys
from salmubench.data.generate import generate_dataset
from salmubench.data.generate.presets import get_preset, scaled_overrides
out, workers, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kw = scaled_overrides("paper", n) if n < get_preset("paper").n_identities else {}
m = generate_dataset(out, preset="paper", seed=0, workers=workers, overwrite=True, **kw)
print(json.dumps({"counts": m["counts"]}))
"""

FLOOR = r"""
import json, sys, torch
import salmubench
from salmubench.data import load_dataset
from salmubench.evaluation.embed import EmbeddingBank
from salmubench.evaluation.evaluator import prefetch_protocol_splits
from salmubench.models import load_model
torch.set_num_threads(int(sys.argv[3]))
bundle = load_model(sys.argv[1])
data = load_dataset(sys.argv[2], images="lazy")
bank = EmbeddingBank(bundle)
prefetch_protocol_splits(bank, data)
print(json.dumps(bank.counts))
"""

EVALUATE = r"""
import json, sys, torch
import salmubench
from salmubench.evaluation.evaluator import evaluate
torch.set_num_threads(int(sys.argv[4]))
r = evaluate(sys.argv[1], sys.argv[2], sys.argv[3], cache_dir=False, role="other", name="tiny-untrained")
print(json.dumps({"metrics": {k: v.value for k, v in r.metrics.items()}, "embeddings": r.extras["embeddings"]}))
"""

TRAIN = r"""
import json, sys
import salmubench
from salmubench.data import load_dataset
from salmubench.training.corpus import corpus_size
from salmubench.training.reference import read_train_record, train_reference
data, out, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
overrides = {"arch": "salmu-tiny", "device": "cpu", "precision": "fp32", "steps": steps, "batch_size": 256,
             "workers": 0, "threads": threads, "checkpoint_every": 10 ** 6}
train_reference("compromised", data, out, preset="paper", seed=0, overrides=overrides)
rec = read_train_record(out)
n = corpus_size(load_dataset(data, images="lazy"), "compromised", 1)
print(json.dumps({"steps": rec.get("steps"), "loop_seconds": rec.get("seconds"), "corpus_pairs": n}))
"""

UNLEARN = r"""
import json, sys, torch
import salmubench
from salmubench.unlearning.api import unlearn
from salmubench.io_utils import read_json
model, data, out, method, budget, threads = sys.argv[1:7]
path = unlearn(method, model, data, out, budget=float(budget), threads=int(threads), recipe=None)
print(json.dumps(read_json(f"{path}/unlearn.json")["cost"]))
"""


def run_child(code: str, *args: str, tree: bool = False) -> dict:
    """Run ``code`` in a fresh interpreter; wall, CPU, peak memory and its last JSON line."""
    env = dict(os.environ, SALMUBENCH_TENSOR_CACHE="off")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]
    if tree:
        def sample() -> None:
            while proc.poll() is None:
                peak[0] = max(peak[0], _tree_rss(proc.pid))
                time.sleep(0.1)
        threading.Thread(target=sample, daemon=True).start()
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    readers = [threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()), daemon=True),
               threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join()
    wall = time.perf_counter() - t0
    out, err = "".join(out_chunks), "".join(err_chunks)
    if proc.returncode:
        raise SystemExit(f"child failed (exit {proc.returncode}):\n{err[-3000:]}")
    result = {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
              "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}
    if tree:  # the process tree's largest PSS sum (generation's pool workers are children of the child)
        result["peak_tree_pss_mib"] = round(peak[0] / 2**20, 1)
    lines = [ln for ln in out.strip().splitlines() if ln.startswith("{")]
    result["out"] = json.loads(lines[-1]) if lines else None
    return result


STEPS = ("generate", "embed_only_floor", "evaluate", "train_slice", "method")


def one_size(root: Path, n: int, args, row: dict) -> dict:
    data, work = root / f"data_{n}", root / f"work_{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    row["identities"] = n
    if "generate" in args.only:
        print(f"[{n}] generate ...", flush=True)
        row["generate"] = run_child(GENERATE, data, args.workers, n, tree=True)
        row["dataset_mib"] = round(sum(p.stat().st_size for p in data.rglob("*") if p.is_file()) / 2**20, 1)
        row["images"] = sum(row["generate"]["out"]["counts"].values())
    elif not (data / "manifest.json").is_file():
        raise SystemExit(f"{data}: no generated data (run with generate in --only first)")
    model = root / "model"
    if not (model / "open_clip_config.json").is_file():
        from salmubench.models import create_model, save_model

        save_model(create_model("salmu-tiny", seed=0), model)
    for name, code, extra in (("embed_only_floor", FLOOR, (model, data, args.threads)),
                              ("evaluate", EVALUATE, (model, data, work / "eval", args.threads)),
                              ("train_slice", TRAIN, (data, work / "train", args.steps, args.threads)),
                              ("method", UNLEARN, (model, data, work / "unlearn", args.method, args.budget, args.threads))):
        if name not in args.only:
            continue
        print(f"[{n}] {name} ...", flush=True)
        row[name] = run_child(code, *extra)
        print(f"[{n}] {name}: {row[name]['wall_s']} s, peak RSS {row[name]['peak_rss_mib']} MiB", flush=True)
    t = row.get("train_slice", {}).get("out")
    if t and t.get("loop_seconds") and t.get("steps"):
        per_step = t["loop_seconds"] / t["steps"]
        row["train_slice"]["s_per_step"] = round(per_step, 3)
        row["train_slice"]["epoch_steps"] = t["corpus_pairs"] // 256
        row["train_slice"]["epoch_estimate_s"] = round(per_step * (t["corpus_pairs"] // 256), 1)
    if "evaluate" in row and "embed_only_floor" in row:
        row["evaluate"]["vs_floor"] = round(row["evaluate"]["peak_rss_mib"] / row["embed_only_floor"]["peak_rss_mib"], 3)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--identities", type=int, nargs="+", default=[100, 774])
    p.add_argument("--workers", type=int, default=2, help="generation worker processes")
    p.add_argument("--threads", type=int, default=2, help="torch threads of evaluation, training and the method")
    p.add_argument("--steps", type=int, default=20, help="training steps of the slice")
    p.add_argument("--method", default="neg_grad")
    p.add_argument("--budget", type=float, default=0.25)
    p.add_argument("--only", default=",".join(STEPS),
                   help=f"comma-separated steps to (re)measure, of {','.join(STEPS)}; the others keep their "
                        "figures from an existing --json (the data must exist without generate)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    args.only = [s for s in args.only.split(",") if s]
    unknown = [s for s in args.only if s not in STEPS]
    if unknown:
        p.error(f"--only: unknown step(s) {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    old = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {}
    previous = {r["identities"]: r for r in old.get("sizes", [])}
    result = {"schema": "salmubench.bench_paper_path/1",
              "commands": [*old.get("commands", []), " ".join(sys.argv)],
              "machine": {"cores": os.cpu_count(), "cpu": platform.processor() or platform.machine()},
              "loadavg_start": os.getloadavg(), "sizes": [r for n, r in previous.items() if n not in args.identities]}
    for n in args.identities:
        result["sizes"].append(one_size(args.out, n, args, dict(previous.get(n, {}))))
        result["sizes"].sort(key=lambda r: r["identities"])
        if args.json:
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    result["loadavg_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
