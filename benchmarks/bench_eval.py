"""Benchmark ``salmubench eval``: full evaluation vs the embed-only floor, in one run.

* **full**: ``evaluate()`` end to end with an empty cache (model + dataset loading, embedding,
  the 10 metrics, writing both JSON files and the cache), in a fresh child process after the
  imports (torch + open_clip take seconds to import; that is process start-up, not evaluation).
* **floor**: in the same child, a fresh EmbeddingBank on the already loaded model and data embeds
  exactly the unique images and captions the full run embedded (read from the cache it wrote),
  once each, in large batches: the time any evaluation of this model on this data must spend.
* **cached**: ``evaluate()`` again, reading the cache written by the full run.
* **peak memory**: the child's peak RSS (``ru_maxrss``).

Wall times and process CPU times (all threads) are both reported: on a shared machine the CPU
ratio is the load-independent one.

    python benchmarks/bench_eval.py --data /tmp/salmu-mini --arch salmu-tiny
    python benchmarks/bench_eval.py --data DIR --model MODEL_DIR --device cuda --batch-size 512

Without ``--model`` an untrained model of ``--arch`` is saved and used (embedding time does not
depend on the weights). Without ``--data`` the ``mini`` preset is generated into a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from salmubench.data import load_dataset
from salmubench.evaluation.embed import EmbeddingBank
from salmubench.evaluation.evaluator import evaluate
from salmubench.io_utils import read_json
from salmubench.models import load_model  # imports torch + open_clip before any timing
model, data_dir, work, batch, device = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cache = work / "cache"
t0, c0 = time.perf_counter(), time.process_time()
res = evaluate(model, data_dir, work / "out", batch_size=batch, device=device, cache_dir=cache)
full, full_cpu = time.perf_counter() - t0, time.process_time() - c0
t0, c0 = time.perf_counter(), time.process_time()
evaluate(model, data_dir, work / "out2", batch_size=batch, device=device, cache_dir=cache)
cached, cached_cpu = time.perf_counter() - t0, time.process_time() - c0
(folder,) = [p for p in cache.iterdir() if p.is_dir()]
image_keys, text_keys = read_json(folder / "images.keys.json"), read_json(folder / "texts.keys.json")
bundle, data = load_model(model, device=device), load_dataset(data_dir)
by_split = {}
for key in image_keys:
    split, name = key.split("/", 1)
    by_split.setdefault(split, set()).add(name)
bank = EmbeddingBank(bundle, batch_size=batch, device=device)
t0, c0 = time.perf_counter(), time.process_time()
for split, names in by_split.items():
    table = data.split(split)
    bank.images(table.where([f in names for f in table.file_names]))
bank.texts(text_keys)
floor, floor_cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"full_s": full, "floor_s": floor, "cached_s": cached, "ratio": full / floor,
                  "full_cpu_s": full_cpu, "floor_cpu_s": floor_cpu, "cached_cpu_s": cached_cpu,
                  "cpu_ratio": full_cpu / floor_cpu,
                  "embed_s_inside_full": res.cost.embed_seconds, "n_images": len(image_keys),
                  "n_texts": len(text_keys), "metric_s": res.extras["metric_seconds"],
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _prepare(args, work: Path) -> tuple[str, str]:
    data = args.data
    if data is None:
        from salmubench.data.generate import generate_dataset

        data = str(work / "data")
        generate_dataset(data, preset="mini", seed=0)
    model = args.model
    if model is None:
        from salmubench.models import create_model, save_model

        model = str(work / "model")
        save_model(create_model(args.arch, seed=0), model)
    return model, data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset dir (default: generate the mini preset)")
    parser.add_argument("--model", default=None, help="model dir (default: untrained --arch)")
    parser.add_argument("--arch", default="salmu-tiny")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="also write the report JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_eval_") as tmp:
        work = Path(tmp)
        model, data = _prepare(args, work)
        env = {**os.environ, "XDG_CACHE_HOME": str(work / "xdg")}
        proc = subprocess.run([sys.executable, "-c", CHILD, model, data, str(work), str(args.batch_size), args.device],
                              capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        report = json.loads(proc.stdout.strip().splitlines()[-1])
    report.update({"data": data if args.data else "mini (generated)", "model": args.model or f"untrained {args.arch}",
                   "batch_size": args.batch_size, "device": args.device, "loadavg": os.getloadavg()})
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
