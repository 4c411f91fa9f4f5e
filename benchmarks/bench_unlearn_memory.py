"""Benchmark the peak memory of ``unlearn`` as the forget set grows, at 224 px (issue 22: bounded memory).

One fresh child process per (forget size, images mode) runs ``salmubench.unlearning.api.unlearn``
(``neg_grad``, budget ``--budget``, recipe ``none``, tensor cache off) and reports its peak RSS
(``VmHWM`` of ``/proc/self/status``, else ``ru_maxrss``) and, before unlearning, the RSS of the same
process after the imports and the model load (the floor).

* **Model**: a random-init open_clip CLIP at 224 px (vision width 64, patch 32, 1 layer; text width 64,
  1 layer), created from a model-config JSON with ``salmubench.models.create_model`` and saved
  (memory does not depend on the weights; the preprocessed images are 224 px, 0.6 MB a row).
* **Data**: the ``tiny`` preset (generated once), whose forget rows are repeated to N rows and whose
  forget and retain_synth images are re-encoded at 512 x 512 (the released data's size; bicubic
  upscale plus seeded noise so that JPEG sizes are of a photo's order, reported as
  ``encoded_bytes_per_forget_row``), written in shards of ``--rows-per-shard`` rows. Retain is the
  tiny preset's (retain_synth 129 rows + general_retain 1,500 rows at 48 px): fixed across sizes.
* **Modes**: ``auto`` (the default: at 224 px both sides exceed the 512 MiB cap and are held lazily)
  for every size; ``memory`` (the dense path, as before issue 22) for the sizes of ``--memory-sizes``.
* **Fit**: a least-squares line ``rss = a + b * forget_rows`` over the ``auto`` sizes, projected to
  the released forget + retain_synth rows (30,468 + 16,741: a retain row costs what a forget row
  costs, both held encoded), and the ratio peak(largest) / peak(smallest).

    python benchmarks/bench_unlearn_memory.py --out benchmarks/results/bench_unlearn_memory.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RELEASED_FORGET, RELEASED_RETAIN = 30_468, 16_741
ARCH = {"embed_dim": 64,
        "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "patch_size": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1}}

CHILD = r"""
import json, os, resource, sys, time
def hwm():
    try:
        for line in open("/proc/self/status"):
            if line.startswith(("VmHWM", "VmRSS")):
                yield line.split(":")[0], int(line.split()[1]) * 1024
    except OSError:
        yield "VmHWM", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
from salmubench.models import load_model
from salmubench.unlearning.api import unlearn
model, data, out, budget = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
load_model(model)  # imports + one model load: the floor
floor = dict(hwm())
t0 = time.perf_counter()
unlearn("neg_grad", model, data, out, budget=budget, recipe="none", threads=2)
seconds = time.perf_counter() - t0
peak = dict(hwm())
rec = json.load(open(os.path.join(out, "unlearn.json")))
print(json.dumps({"floor_rss": floor.get("VmRSS", floor.get("VmHWM")), "peak_rss": peak["VmHWM"],
                  "seconds": round(seconds, 2), "steps": rec["steps"], "forget_rows": rec["data"]["forget_rows"],
                  "retain_rows": rec["data"]["retain_rows"]}))
"""


def upscaled(blob: bytes, seed: int, size: int = 512) -> bytes:
    """``blob`` re-encoded as a ``size`` x ``size`` JPEG (bicubic upscale + seeded noise, quality 90)."""
    import numpy as np
    from PIL import Image

    img = Image.open(io.BytesIO(blob)).convert("RGB").resize((size, size), Image.BICUBIC)
    noise = np.random.default_rng(seed).normal(0, 6, (size, size, 3))
    pixels = np.clip(np.asarray(img, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def write_split(folder: Path, name: str, table, rows_per_shard: int) -> None:
    """``table`` as ``folder/name-KKKKK-of-MMMMM.parquet`` shards (old shards of ``name`` removed)."""
    import pyarrow.parquet as pq

    for old in folder.glob(f"{name}-*.parquet"):
        old.unlink()
    n = max(1, -(-table.num_rows // rows_per_shard))
    for k in range(n):
        pq.write_table(table.slice(k * rows_per_shard, rows_per_shard), folder / f"{name}-{k:05d}-of-{n:05d}.parquet")


def reencoded(table, seed: int):
    """``table`` with every image re-encoded at 512 px (:func:`upscaled`)."""
    import pyarrow as pa

    cells = table.column("image").to_pylist()
    images = [{"bytes": upscaled(c["bytes"], seed + i), "path": c.get("path")} for i, c in enumerate(cells)]
    col = pa.array(images, type=table.schema.field("image").type)
    return table.set_column(table.schema.get_field_index("image"), "image", col)


def make_datasets(work: Path, sizes: list[int], rows_per_shard: int) -> tuple[dict[int, Path], float]:
    """A copy of the tiny preset per forget size (module docstring); (folders, encoded bytes a forget row)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from salmubench.data.generate import generate_dataset

    base = work / "tiny"
    if not base.exists():
        generate_dataset(base, preset="tiny", seed=0)
    forget = reencoded(pa.concat_tables([pq.read_table(p) for p in sorted((base / "data").glob("forget-*.parquet"))]), 0)
    retain = reencoded(pa.concat_tables([pq.read_table(p) for p in sorted((base / "data").glob("retain_synth-*.parquet"))]),
                       10_000)
    per_row = sum(len(c["bytes"]) for c in forget.column("image").to_pylist()) / forget.num_rows
    out = {}
    for n in sizes:
        folder = work / f"forget{n}"
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(base, folder)
        reps = -(-n // forget.num_rows)
        write_split(folder / "data", "forget", pa.concat_tables([forget] * reps).slice(0, n), rows_per_shard)
        write_split(folder / "data", "retain_synth", retain, rows_per_shard)
        out[n] = folder
    return out, per_row


def fit(points: list[tuple[int, int]]) -> tuple[float, float]:
    """Least-squares (a, b) of ``rss = a + b * rows``."""
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - b * mx, b


def run_child(model: Path, data: Path, out: Path, budget: float, mode: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)  # a complete output folder would make unlearn a no-op
    env = {**os.environ, "SALMUBENCH_TENSOR_CACHE": "off", "SALMUBENCH_UNLEARN_IMAGES": mode,
           "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(model), str(data), str(out), str(budget)],
                          env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({mode}, {data.name}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_unlearn_memory.json"))
    ap.add_argument("--sizes", default="1000,2000,4000,8000")
    ap.add_argument("--memory-sizes", default="1000,2000", help="sizes also run on the dense path ('' for none)")
    ap.add_argument("--budget", type=float, default=0.1)
    ap.add_argument("--rows-per-shard", type=int, default=1000)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    dense = [int(s) for s in args.memory_sizes.split(",") if s]
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-unlearn-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    from salmubench.models import create_model, save_model

    arch = work / "salmu-bench224.json"
    arch.write_text(json.dumps(ARCH))
    model = work / "model224"
    save_model(create_model(str(arch), seed=0), model)
    datasets, per_row = make_datasets(work, sorted(set(sizes) | set(dense)), args.rows_per_shard)
    runs = []
    for mode, chosen in (("auto", sizes), ("memory", dense)):
        for n in chosen:
            rec = {"mode": mode, **run_child(model, datasets[n], work / f"out-{mode}-{n}", args.budget, mode)}
            runs.append(rec)
            print(f"{mode:6s} forget {n:6d}: peak {rec['peak_rss'] / 2**20:8.0f} MiB "
                  f"(floor {rec['floor_rss'] / 2**20:.0f} MiB), {rec['seconds']:.1f} s, {rec['steps']} steps", flush=True)
    report = summarise(runs, per_row, args, sizes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))


def summarise(runs: list[dict], per_row: float, args, sizes: list[int]) -> dict:
    auto = sorted((r["forget_rows"], r["peak_rss"]) for r in runs if r["mode"] == "auto")
    a, b = fit(auto)
    retain_bench = next(r["retain_rows"] for r in runs)
    projected = a + b * (RELEASED_FORGET + RELEASED_RETAIN - retain_bench)
    ratio = auto[-1][1] / auto[0][1]
    summary = {"fit_intercept_mib": round(a / 2**20, 1), "fit_slope_kib_per_row": round(b / 1024, 2),
               "growth_ratio": round(ratio, 3), "growth_rows_ratio": auto[-1][0] / auto[0][0],
               "projected_released_gib": round(projected / 2**30, 2),
               "target_growth_ratio": 1.3, "target_projected_gib": 6.0,
               "met": bool(ratio <= 1.3 and projected <= 6 * 2**30)}
    dense = sorted((r["forget_rows"], r["peak_rss"]) for r in runs if r["mode"] == "memory")
    if len(dense) >= 2:
        da, db = fit(dense)
        summary["dense_slope_kib_per_row"] = round(db / 1024, 1)
        summary["dense_projected_released_gib"] = round((da + db * (RELEASED_FORGET + RELEASED_RETAIN - retain_bench))
                                                        / 2**30, 1)
    return {"benchmark": "bench_unlearn_memory", "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "settings": {"method": "neg_grad", "budget": args.budget, "recipe": "none", "tensor_cache": "off",
                         "image_size": 224, "arch": ARCH, "sizes": sizes, "rows_per_shard": args.rows_per_shard,
                         "encoded_bytes_per_forget_row": round(per_row), "retain_rows": retain_bench,
                         "released_rows": {"forget": RELEASED_FORGET, "retain_synth": RELEASED_RETAIN}},
            "runs": [{**r, "peak_rss_mib": round(r["peak_rss"] / 2**20, 1), "floor_rss_mib": round(r["floor_rss"] / 2**20, 1)}
                     for r in runs],
            "summary": summary}


if __name__ == "__main__":
    main()
