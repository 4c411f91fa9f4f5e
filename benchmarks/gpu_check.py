"""The GPU check (docs/performance.md, "GPU check"): throughput, peak memory and bf16-vs-fp32 agreement.

    python benchmarks/gpu_check.py --data DIR --out WORK --json check.json [--device cuda] [--arch ViT-B-16]
    python benchmarks/gpu_check.py --cpu-dry-run --out /tmp/gpu_check --json /tmp/gpu_check.json

On generated data (``benchmarks/gpu_smoke.sh`` generates a paper-preset slice, ``--limit-identities``) and two
random-init models (``create_model(arch, seed=0)`` saved as Compromised, seed 1 as Clean; no training), one
process measures, in this order:

1. **embed-only floor** (fp32): the evaluator's embeddings and nothing else (``protocol_bank`` with the cache
   off: every image and caption the 10 metrics read, as ``benchmarks/bench_paper_path.py`` defines it);
2. **evaluate** (fp32, then bf16): ``salmubench.evaluate`` end to end (10 metrics, result files, cache off);
   images/s = images embedded / evaluation seconds, against the floor's images/s;
3. **bf16 agreement**: max |bf16 - fp32| of the 10 metric values (the two evaluations) and of the normalised
   image and text embeddings (the floor's bank against a bf16 bank of the same items);
4. **unlearning** (``--method``, recipe none, ``--budget`` 1x, fp32 then bf16): forget pairs/s
   (forget rows x budget / unlearn seconds) and sample forward passes/s (the cost meter's);
5. **peak GPU memory** of every phase (``torch.cuda.max_memory_allocated``, reset before each).

A CUDA warm-up (a few captions embedded) runs first, so no phase pays for CUDA/cuBLAS initialisation. The
tensor cache is off (``SALMUBENCH_TENSOR_CACHE=off``, unless set): every phase decodes its images.

``--cpu-dry-run``: the same script on a CPU in seconds (salmu-test, a generated ``tiny`` dataset when no
``--data``, 2 threads), bf16 through the private CPU-autocast switch of ``salmubench.execution`` (tests
only): it checks the script, its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("SALMUBENCH_TENSOR_CACHE", "off")


def peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_mib(device: str) -> float | None:
    import torch

    if not device.startswith("cuda"):
        return None
    torch.cuda.synchronize()
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def timed(device: str, fn):
    """(fn(), seconds, peak MiB) with the peak counter reset first."""
    peak_reset(device)
    t0 = time.perf_counter()
    out = fn()
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    return out, time.perf_counter() - t0, peak_mib(device)


def make_models(work: Path, arch: str) -> dict[str, Path]:
    """Random-init Compromised (seed 0) and Clean (seed 1) models saved under ``work`` (reused when there)."""
    from salmubench.models import create_model, save_model

    out = {}
    for role, seed in (("compromised", 0), ("clean", 1)):
        folder = work / f"model_{arch}_{role}"
        if not (folder / "open_clip_config.json").is_file():
            save_model(create_model(arch, seed=seed), folder, extra={"role": role})
        out[role] = folder
    return out


def bank_arrays(bank) -> dict:
    """A bank's images and texts as {key: row} aligned arrays (keys in the bank's order)."""
    return {"images": (bank._images.keys, bank._images.array()), "texts": (bank._texts.keys, bank._texts.array())}


def max_abs_diff(a: dict, b: dict) -> dict[str, float]:
    """Per table, max |a - b| of the same keys' normalised embeddings (and the least cosine)."""
    import numpy as np

    out = {}
    for name, (keys, arr) in a.items():
        other_keys, other = b[name]
        index = {k: i for i, k in enumerate(other_keys)}
        rows = other[[index[k] for k in keys]]
        out[f"{name}_max_abs"] = float(np.abs(arr - rows).max()) if len(keys) else 0.0
        out[f"{name}_min_cosine"] = float((arr * rows).sum(axis=1).min()) if len(keys) else 1.0
        out[f"{name}_n"] = len(keys)
    return out


def embed_phases(model: Path, data_dir: Path, args) -> tuple[dict, dict]:
    """The fp32 embed-only floor and a bf16 bank of the same items; (floor record, embedding agreement)."""
    from salmubench.data import load_dataset
    from salmubench.evaluation.evaluator import protocol_bank
    from salmubench.models import load_model

    bundle = load_model(model, device=args.device)
    data = load_dataset(data_dir, images="lazy")
    fp32, seconds, peak = timed(args.device, lambda: protocol_bank(bundle, data, args.device, cache_dir=False,
                                                                   batch_size=args.batch_size))
    n = fp32.counts["images_embedded"]
    floor = {"seconds": round(seconds, 3), "embed_seconds": round(fp32.embed_seconds, 3), "images": n,
             "texts": fp32.counts["texts_embedded"], "images_per_s": round(n / seconds, 1), "peak_gpu_mib": peak}
    bf16, seconds, peak = timed(args.device, lambda: protocol_bank(bundle, data, args.device, cache_dir=False,
                                                                   batch_size=args.batch_size, precision="bf16"))
    floor["bf16"] = {"seconds": round(seconds, 3), "images_per_s": round(n / seconds, 1), "peak_gpu_mib": peak}
    return floor, max_abs_diff(bank_arrays(fp32), bank_arrays(bf16))


def eval_phase(model: Path, data_dir: Path, work: Path, precision: str, args) -> dict:
    from salmubench.evaluation.evaluator import evaluate

    out = work / f"eval_{precision}"
    result, seconds, peak = timed(args.device, lambda: evaluate(
        model, data_dir, out, device=args.device, batch_size=args.batch_size, cache_dir=False, role="compromised",
        name=f"random-{precision}", precision=precision))
    n = result.extras["embeddings"]["images_embedded"]
    return {"seconds": round(seconds, 3), "eval_seconds": result.cost.eval_seconds,
            "embed_seconds": result.cost.embed_seconds, "images": n, "images_per_s": round(n / seconds, 1),
            "recorded_precision": result.extras.get("precision"), "peak_gpu_mib": peak,
            "metrics": {k: m.value for k, m in result.metrics.items()}}


def unlearn_phase(model: Path, data_dir: Path, work: Path, precision: str, args) -> dict:
    import shutil

    from salmubench.execution import ExecContext
    from salmubench.io_utils import read_json
    from salmubench.unlearning.api import unlearn

    out = work / f"unlearn_{args.method}_{precision}"
    shutil.rmtree(out, ignore_errors=True)  # measured, never resumed
    ctx = ExecContext(device=args.device, precision=precision, threads=args.threads)
    path, seconds, peak = timed(args.device, lambda: unlearn(args.method, model, data_dir, out, budget=args.budget,
                                                             recipe=None, context=ctx))
    record = read_json(Path(path) / "unlearn.json")
    cost, rows = record["cost"], record["data"]["forget_rows"]
    loop = float(cost["unlearn_seconds"])
    return {"seconds": round(seconds, 3), "unlearn_seconds": loop, "steps": record["steps"], "forget_rows": rows,
            "forget_pairs_per_s": round(rows * args.budget / loop, 1),
            "sample_fwd_passes_per_s": round(cost["fwd_passes"] / loop, 1), "recorded_precision": record["precision"],
            "peak_gpu_mib": peak, "loss_first": record["loss_first"], "loss_last": record["loss_last"]}


def warm_up(model: Path, device: str) -> None:
    from salmubench.evaluation.embed import EmbeddingBank
    from salmubench.models import load_model

    bank = EmbeddingBank(load_model(model, device=device), device=device)
    bank.texts(["warm up", "a photo of a person"])


def dry_run_setup(args) -> None:
    """``--cpu-dry-run``: CPU, salmu-test, 2 threads, bf16 via the private CPU-autocast switch, tiny data."""
    import torch

    from salmubench import execution

    execution._CPU_AUTOCAST_FOR_TESTS = True
    args.device, args.arch, args.threads = "cpu", "salmu-test", args.threads or 2
    torch.set_num_threads(args.threads)
    if args.data is None:
        from salmubench.data.generate import generate_dataset

        args.data = args.out / "data_tiny"
        if not (args.data / "manifest.json").is_file():
            generate_dataset(args.data, preset="tiny", seed=0, overwrite=True)


def run_check(args) -> dict:
    import torch

    models = make_models(args.out, args.arch)
    comp = models["compromised"]
    warm_up(comp, args.device)
    floor, emb_diff = embed_phases(comp, args.data, args)
    evals = {p: eval_phase(comp, args.data, args.out, p, args) for p in ("fp32", "bf16")}
    metric_diff = {k: abs(evals["bf16"]["metrics"][k] - v) for k, v in evals["fp32"]["metrics"].items()}
    unl = {p: unlearn_phase(comp, args.data, args.out, p, args) for p in ("fp32", "bf16")}
    peaks = [r["peak_gpu_mib"] for r in (floor, floor["bf16"], *evals.values(), *unl.values())]
    return {
        "schema": "salmubench.gpu_check/1", "dry_run": args.cpu_dry_run, "device": args.device,
        "device_name": (torch.cuda.get_device_name(0) if args.device.startswith("cuda")
                        else platform.processor() or platform.machine()),
        "torch": torch.__version__, "arch": args.arch, "data": str(args.data),
        "models": {k: str(v) for k, v in models.items()},
        "method": args.method, "budget": args.budget, "batch_size": args.batch_size,
        "embed_only_floor": floor, "evaluate": evals,
        "eval_vs_floor": round(evals["fp32"]["images_per_s"] / floor["images_per_s"], 3),
        "unlearn": unl,
        "bf16_vs_fp32": {"metrics_max_abs": max(metric_diff.values()), "metrics_abs": metric_diff,
                         "embeddings": emb_diff},
        "peak_gpu_mib": max(peaks) if all(p is not None for p in peaks) else None,
    }


def summary_lines(r: dict) -> list[str]:
    f, e, u, d = r["embed_only_floor"], r["evaluate"], r["unlearn"], r["bf16_vs_fp32"]
    return [
        f"device {r['device']} ({r['device_name']}), {r['arch']}, {f['images']} images / {f['texts']} texts"
        + (" [CPU DRY RUN: numbers mean nothing]" if r["dry_run"] else ""),
        f"embed-only floor: {f['images_per_s']} images/s fp32, {f['bf16']['images_per_s']} bf16",
        f"evaluate: {e['fp32']['images_per_s']} images/s fp32 ({r['eval_vs_floor']}x the floor), "
        f"{e['bf16']['images_per_s']} bf16",
        f"unlearn {r['method']} {r['budget']:g}x: {u['fp32']['forget_pairs_per_s']} forget pairs/s fp32, "
        f"{u['bf16']['forget_pairs_per_s']} bf16 ({u['fp32']['steps']} steps)",
        f"peak GPU memory: {r['peak_gpu_mib']} MiB",
        f"bf16 vs fp32: metrics max |diff| {d['metrics_max_abs']:.4g}, embeddings max |diff| images "
        f"{d['embeddings']['images_max_abs']:.4g} texts {d['embeddings']['texts_max_abs']:.4g}",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="generated dataset (required without --cpu-dry-run)")
    p.add_argument("--out", type=Path, required=True, help="work folder (models, results, unlearned models)")
    p.add_argument("--json", type=Path, required=True, help="where the JSON record goes")
    p.add_argument("--device", default="cuda")
    p.add_argument("--arch", default="ViT-B-16")
    p.add_argument("--method", default="finetune")
    p.add_argument("--budget", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--cpu-dry-run", action="store_true", help="CPU, salmu-test, tiny data: checks the script only")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.cpu_dry_run:
        dry_run_setup(args)
    elif args.data is None:
        p.error("--data is required (or --cpu-dry-run)")
    t0 = time.perf_counter()
    record = run_check(args)
    record["total_seconds"] = round(time.perf_counter() - t0, 1)
    record["command"] = " ".join(sys.argv)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1) + "\n")
    print("\n".join(summary_lines(record)) + f"\ntotal {record['total_seconds']} s; wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
