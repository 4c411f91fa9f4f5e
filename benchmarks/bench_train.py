"""Throughput of salmubench's training loop vs a bare open_clip forward+backward+step.

Both sides train the same architecture on the same batch size with the same optimizer (fused
AdamW over open_clip's weight-decay groups); the bare side reuses one fixed batch and
``open_clip.ClipLoss``, ours runs ``salmubench.training.loop.train_loop`` over an in-memory corpus
(batch gathering, identity-masked loss, per-step lr, logit-scale clamp, loss logging). Each side
runs in its own subprocess (so peak memory, ``resource.getrusage().ru_maxrss``, is per side), and
the sides alternate ``--repeats`` times; the median samples/s is reported.

    python benchmarks/bench_train.py --arch salmu-tiny --batch 256 --steps 20 --repeats 3

Overhead ratio = bare samples/s / our samples/s - 1 (target <= 10%). On a shared CPU, wall-clock
throughput is noisy; ``overhead_cpu_time`` uses process CPU time (samples per CPU-second), which
other processes' load disturbs much less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def _model(arch: str, threads: int):
    import torch

    from salmubench.models import create_model

    torch.set_num_threads(threads)
    return create_model(arch, seed=0)


def _fake_batch(bundle, n: int, seed: int = 0):
    import torch

    gen = torch.Generator().manual_seed(seed)
    size = bundle.preprocess_cfg.get("size", 32)
    size = size[0] if isinstance(size, list) else size
    images = torch.randn(n, 3, size, size, generator=gen)
    tokens = torch.randint(1, 49000, (n, bundle.context_length), generator=gen)
    tokens[:, -1] = 49407  # end-of-text marker (pooled token)
    return images, tokens


def run_bare(arch: str, batch: int, steps: int, warmup: int, threads: int) -> float:
    """Samples/s of the bare open_clip loop on one fixed batch."""
    import open_clip

    from salmubench.training.config import train_config
    from salmubench.training.loop import make_optimizer

    bundle = _model(arch, threads)
    model, cfg = bundle.model.train(), train_config("mini", {"arch": arch, "batch_size": batch})
    opt, loss_fn = make_optimizer(model, cfg), open_clip.ClipLoss()
    images, tokens = _fake_batch(bundle, batch)
    for i in range(warmup + steps):
        if i == warmup:
            t0, c0 = time.perf_counter(), time.process_time()
        img, txt, scale = model(images, tokens)[:3]
        loss = loss_fn(img, txt, scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0), steps * batch / (time.process_time() - c0)


def run_ours(arch: str, batch: int, steps: int, warmup: int, threads: int) -> float:
    """Samples/s of salmubench's train_loop (steps after the warm-up ones)."""
    from pathlib import Path

    import torch

    from salmubench.runtime import DistEnv
    from salmubench.training.checkpointing import TrainState
    from salmubench.training.config import train_config
    from salmubench.training.corpus import Corpus
    from salmubench.training.loop import iter_batches, lr_at, make_optimizer, train_loop, train_step

    bundle = _model(arch, threads)
    cfg = train_config("mini", {"arch": arch, "batch_size": batch, "checkpoint_every": 10**9})
    n = 4 * batch
    images, tokens = _fake_batch(bundle, n)
    codes = torch.arange(n) // 8  # 8 rows per identity: the masked loss is exercised
    corpus = Corpus("compromised", tokens, codes, torch.arange(n), {"fake": n}, images=images)
    opt = make_optimizer(bundle.model, cfg)
    total, env, cpu = warmup + steps, DistEnv(), torch.device("cpu")
    bundle.model.train()
    for k, warm_batch in enumerate(iter_batches(corpus, cfg, 0, 0, warmup, env, cpu)):  # warm-up, untimed
        train_step(bundle.model, opt, warm_batch, lr_at(k, total, cfg), cfg, env)
    with tempfile.TemporaryDirectory() as out:  # no checkpoint is written (checkpoint_every is huge)
        c0 = time.process_time()
        res = train_loop(bundle.model, opt, corpus, cfg, total, 0, Path(out), "x", TrainState(step=warmup), env,
                         cpu, reporter=lambda *a: None)
    return res.samples / res.seconds, res.samples / (time.process_time() - c0)


def _child(args) -> None:
    fn = run_bare if args.mode == "bare" else run_ours
    sps, per_cpu_s = fn(args.arch, args.batch, args.steps, args.warmup, args.threads)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"mode": args.mode, "samples_per_s": sps, "samples_per_cpu_s": per_cpu_s, "peak_rss_mb": peak_mb}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="salmu-tiny")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--mode", choices=["bare", "ours"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mode:
        _child(args)
        return 0
    runs: dict[str, list[dict]] = {"bare": [], "ours": []}
    base = [sys.executable, os.path.abspath(__file__), "--arch", args.arch, "--batch", str(args.batch),
            "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", str(args.threads)]
    for _ in range(args.repeats):
        for mode in ("bare", "ours"):
            out = subprocess.run([*base, "--mode", mode], capture_output=True, text=True, check=True).stdout
            runs[mode].append(json.loads(out.strip().splitlines()[-1]))
    med = {m: statistics.median(r["samples_per_s"] for r in rs) for m, rs in runs.items()}
    cpu = {m: statistics.median(r["samples_per_cpu_s"] for r in rs) for m, rs in runs.items()}
    report = {"arch": args.arch, "batch": args.batch, "steps": args.steps, "threads": args.threads,
              "bare_samples_per_s": round(med["bare"], 1), "ours_samples_per_s": round(med["ours"], 1),
              "overhead": round(med["bare"] / med["ours"] - 1, 4),
              "bare_samples_per_cpu_s": round(cpu["bare"], 1), "ours_samples_per_cpu_s": round(cpu["ours"], 1),
              "overhead_cpu_time": round(cpu["bare"] / cpu["ours"] - 1, 4),
              "peak_rss_mb": {m: round(max(r["peak_rss_mb"] for r in rs), 1) for m, rs in runs.items()},
              "all_runs": runs, "loadavg": os.getloadavg()}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
