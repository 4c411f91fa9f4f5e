"""``salmubench eval``: evaluate one model with the SALMUBench protocol (thin layer over ``evaluate``)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    """Register ``salmubench eval``."""
    p = subparsers.add_parser("eval", help="evaluate a model: the 10 SALMUBench metrics",
                              description="Evaluate a model; writes OUT/result.json and OUT/evaluation_<name>.json "
                                          "(the original evaluator's schema).")
    p.add_argument("--model", required=True, help="model folder, local-dir:DIR, hf-hub:ORG/REPO or checkpoint file")
    p.add_argument("--data", required=True, help="dataset directory (released layout)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--arch", default=None, help="open_clip architecture for a bare checkpoint (e.g. ViT-B-16)")
    p.add_argument("--imagenet", default=None, metavar="DIR",
                   help="ImageNet-1K val set for GenKnow: an ImageFolder or parquet shards (DIR/*.parquet, "
                        "DIR/data/*.parquet, columns image and label)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="embedding precision: fp32 (default) or bf16 (autocast; CUDA only)")
    p.add_argument("--reference-clean", default=None, help="result dir of the Clean model (adds a KS statistic)")
    p.add_argument("--cache-dir", default=None, help="embedding cache root (default ~/.cache/salmubench/embeddings)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    p.add_argument("--role", choices=("compromised", "clean", "unlearned", "other"), default=None)
    p.add_argument("--name", default=None, help="display name; also names evaluation_<name>.json")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress bars or summary table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the evaluation and print a summary table."""
    from salmubench.errors import ConfigError
    from salmubench.evaluation.evaluator import evaluate

    if args.batch_size < 1:
        raise ConfigError("--batch-size must be >= 1")
    from salmubench.cli.display import progress_display

    with progress_display(not args.quiet) as on_progress:
        result = evaluate(args.model, args.data, args.out, arch=args.arch, imagenet=args.imagenet,
                          batch_size=args.batch_size, device=args.device, reference_clean=args.reference_clean,
                          role=args.role, name=args.name, cache_dir=False if args.no_cache else args.cache_dir,
                          on_progress=on_progress, precision=args.precision)
    if not args.quiet:
        _print_summary(result, args.out)
    return 0


def _print_summary(result, out: str) -> None:
    from salmubench.cli.display import print_table

    rows = [[m.official_key, m.display, f"{m.value:.4f}", m.pillar, m.target] for m in result.metrics.values()]
    print_table(("key", "metric", "value", "pillar", "target"), rows,
                title=f"SALMUBench {result.protocol.version} · {result.model.name or result.model.source}", boxed=True)
    print(f"GenKnow source: {result.gen_know_source}; {result.cost.eval_seconds:.1f} s "
          f"(embedding {result.cost.embed_seconds:.1f} s); wrote {out}/result.json and "
          f"{out}/{result.files['official']}")
