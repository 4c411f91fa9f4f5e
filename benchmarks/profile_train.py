"""Where a reference-training step spends its time: torch.profiler over real batches of the mini corpus.

    python benchmarks/profile_train.py --data RUN_DIR/data [--steps 8] [--threads 2] \
        [--out benchmarks/results/profile_train_mini.txt]

Builds the Compromised corpus of ``--data`` exactly as ``train_reference`` does (mini training config,
salmu-tiny, seed 0), times ``iter_batches`` (gathering a batch) and ``train_step`` (forward, loss,
backward, AdamW) separately over ``--steps`` steps after 2 warm-up steps, and writes the profiler's
table of the top operators by self CPU time. The loop's own work (batch gathering, learning-rate
setting, logit-scale clamp, loss bookkeeping) is what is left outside the model's operators.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import salmubench  # noqa: F401 - first (CPU numerics pin)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    import torch
    from torch.profiler import ProfilerActivity, profile

    from salmubench.data import load_dataset
    from salmubench.models import create_model
    from salmubench.runtime import DistEnv
    from salmubench.training.config import train_config
    from salmubench.training.corpus import build_corpus, total_steps
    from salmubench.training.loop import iter_batches, lr_at, make_optimizer, train_step

    torch.set_num_threads(args.threads)
    cfg = train_config("mini")
    ds = load_dataset(args.data, images="lazy")
    bundle = create_model(cfg.arch, seed=0)
    corpus = build_corpus(ds, "compromised", bundle, cfg)
    total = total_steps(ds, cfg)
    model, env, device = bundle.model.train(), DistEnv(), torch.device("cpu")
    optimizer = make_optimizer(model, cfg)
    n = args.steps + 2
    t0 = time.perf_counter()
    batches = list(iter_batches(corpus, cfg, 0, 0, n, env, device))
    gather_s = (time.perf_counter() - t0) / n
    for step in range(2):
        train_step(model, optimizer, batches[step], lr_at(step, total, cfg), cfg, env)
    t0 = time.perf_counter()
    for step in range(2, n):
        train_step(model, optimizer, batches[step], lr_at(step, total, cfg), cfg, env)
    step_s = (time.perf_counter() - t0) / args.steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for step in range(2, n):
            train_step(model, optimizer, batches[step], lr_at(step, total, cfg), cfg, env)
    tokens = (corpus.tokens != 0).sum(dim=1).float()
    head = (f"profile of the mini reference training: salmu-tiny, batch {cfg.batch_size}, {args.threads} threads, "
            f"{args.steps} steps\n"
            f"train_step: {step_s:.3f} s/step; batch gathering: {gather_s * 1000:.1f} ms/step "
            f"({100 * gather_s / (gather_s + step_s):.1f}% of a step)\n"
            f"caption tokens: mean {tokens.mean():.1f}, max {int(tokens.max())} of a context of {corpus.tokens.shape[1]}\n\n")
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    text = head + table + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
