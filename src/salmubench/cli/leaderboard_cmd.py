"""``salmubench leaderboard RUN_DIR [RUN_DIR ...]``: rebuild (and merge) from result files only."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="rebuild leaderboard.{md,csv,json} + report.html from result files",
                       description=__doc__)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run dirs (or result.json files) to merge")
    p.add_argument("--out", default=None, help="output dir (default: the first RUN_DIR)")
    p.add_argument("--quiet", action="store_true", help="do not print the Markdown table")
    p.add_argument("--allow-mixed-recipes", action="store_true",
                   help="rank rows of different recipes (selection protocols) together, labelled by recipe")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build, write the four files, print the table (and where the files are)."""
    from salmubench.leaderboard import rebuild, to_markdown

    first = Path(args.run_dirs[0])
    out = Path(args.out) if args.out else (first if first.is_dir() else first.parent)
    data, paths = rebuild(args.run_dirs, out, allow_mixed_recipes=args.allow_mixed_recipes)
    if not args.quiet:
        print(to_markdown(data))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0
