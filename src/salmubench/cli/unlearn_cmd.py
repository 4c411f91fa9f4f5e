"""``salmubench unlearn``: run one unlearning method on a model and save the result."""

from __future__ import annotations

import argparse

from salmubench.config import parse_overrides


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``unlearn`` on the root parser."""
    p = subparsers.add_parser(
        "unlearn", help="unlearn the forget set from a model with one method",
        description="Unlearn a dataset's forget set from a model (open_clip local-dir) with one method; "
                    "writes an open_clip local-dir model plus unlearn.json. Methods: salmubench ls methods.")
    p.add_argument("--method", required=True,
                   help="method name (salmubench ls methods), or an external method: path/to/file.py:Class "
                        "or package.module:Class")
    p.add_argument("--model", required=True, help="starting model folder (the Compromised model)")
    p.add_argument("--data", required=True, help="SALMUBench dataset directory")
    p.add_argument("--out", required=True, help="output model folder (skipped if already complete)")
    p.add_argument("--budget", type=float, default=1.0, help="forget-set passes (default 1.0)")
    p.add_argument("--recipe", default="default", metavar="NAME",
                   help="hyperparameters before --set: default (the default protocol's recipe at this budget), a "
                        "protocol (structured, forget-retain), a recipe (forget-retain@5x) or none (code defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="method config override, repeatable (e.g. --set lr=1e-5)")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; 1 is often fastest on a busy machine)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Call the library with plain keyword arguments and print where the model went."""
    from salmubench.cli.display import progress_display
    from salmubench.io_utils import read_json
    from salmubench.unlearning.api import UNLEARN_FILE, unlearn

    with progress_display(not args.no_progress) as on_progress:
        out = unlearn(args.method, args.model, args.data, args.out, budget=args.budget,
                      overrides=parse_overrides(args.overrides), seed=args.seed,
                      on_progress=on_progress, device=args.device, threads=args.threads,
                      recipe=None if args.recipe == "none" else args.recipe)
    record = read_json(out / UNLEARN_FILE) if (out / UNLEARN_FILE).is_file() else {}
    cost = record.get("cost", {})
    recipe = (record.get("recipe") or {}).get("name") or "none"
    print(f"{record.get('method', args.method)}: {out} (recipe {recipe}, steps {record.get('steps')}, "
          f"{cost.get('unlearn_seconds')} s, fwd {cost.get('fwd_passes')}, bwd {cost.get('bwd_passes')} sample passes)")
    return 0
