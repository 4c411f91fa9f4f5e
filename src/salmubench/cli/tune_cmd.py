"""``salmubench tune``: choose a method's defaults on the validation slice (docs/tuning.md)."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``tune`` on the root parser."""
    p = subparsers.add_parser(
        "tune", help="grid-search a method's defaults on a validation slice of the forget set",
        description="Tune a method's hyperparameters on a validation slice of the forget identities (never "
                    "the holdout splits): each trial unlearns the slice V_A and scores proxy metrics against "
                    "the Compromised and Clean models. Writes OUT/tune_<method>.json; resumable.")
    p.add_argument("--method", required=True,
                   help="method name or external spec (path/to/file.py:Class), comma list, or 'all'")
    p.add_argument("--model", required=True, help="the Compromised model folder (or checkpoint file with --arch)")
    p.add_argument("--clean", required=True, help="the Clean model folder (or checkpoint file with --arch)")
    p.add_argument("--arch", default=None, help="open_clip architecture for bare checkpoints (e.g. ViT-B-16)")
    p.add_argument("--data", required=True, help="SALMUBench dataset directory")
    p.add_argument("--out", required=True, help="output folder (finished trials are reused)")
    p.add_argument("--budget", type=float, default=1.0, help="budget of the real run to match (default 1.0)")
    p.add_argument("--seed", type=int, default=0, help="validation split and run seed (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--selection", default="structured", metavar="PROTOCOL",
                   help="selection protocol of the reported choice: structured (default) or forget-retain "
                        "(docs/tuning.md); every protocol's choice is recorded, one recipe file each")
    p.add_argument("--tune-imagenet", default=None, metavar="DIR",
                   help="images of the GenKnow proxy (ImageFolder or parquet shards, e.g. a slice of the ImageNet "
                        "train set); default: the data's zeroshot split")
    p.add_argument("--imagenet", default=None, metavar="DIR",
                   help="the ImageNet-1K val set the evaluation reports as GenKnow: never read by tuning; "
                        "--tune-imagenet must be another folder")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar and per-trial lines")
    p.set_defaults(func=run)


def _line(record: dict, cached: bool) -> str:
    proxies = record.get("proxies") or {}
    values = " ".join(f"{k}={v:.4f}" for k, v in proxies.items())
    tag = "cached" if cached else f"{record.get('seconds', 0):.1f}s"
    error = f" error: {record['error']}" if record.get("error") else ""
    return f"  {record['method']} {record['overrides']}: score {record['scores']['score']:.4f} {values} ({tag}){error}"


def run(args: argparse.Namespace) -> int:
    """Call the library and print one line per trial and the chosen config of each method."""
    from salmubench.cli.display import progress_display
    from salmubench.tuning.search import tune

    def on_trial(record: dict, cached: bool) -> None:
        if not args.no_progress:
            print(_line(record, cached), flush=True)

    with progress_display(not args.no_progress) as on_progress:
        results = tune(args.method, args.model, args.clean, args.data, args.out, budget=args.budget,
                       seed=args.seed, threads=args.threads, device=args.device, on_progress=on_progress,
                       selection=args.selection, on_trial=on_trial, arch=args.arch, imagenet=args.imagenet,
                       tune_imagenet=args.tune_imagenet)
    for method, result in results.items():
        chosen = result["chosen"]
        print(f"{method}: chosen {chosen['overrides']} (score {chosen['scores']['score']:.4f}, "
              f"{args.selection}) -> {args.out}/tune_{method}.json")
    proxy = next(iter(results.values()), {}).get("gen_know_proxy") or {}
    if proxy:
        print(f"GenKnow proxy: {proxy.get('source')}" + (f" ({proxy['path']})" if proxy.get("path") else "")
              + (f"; {proxy['note']}" if proxy.get("note") else ""))
    return 0
