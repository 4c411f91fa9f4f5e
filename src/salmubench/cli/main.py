"""``salmubench`` command line: a thin layer of subcommand modules over the library.

Each subcommand module exposes ``add_parser(subparsers)`` which registers its parser and sets
``func(args) -> int``. User errors (SalmuError) print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import warnings

from salmubench.errors import SalmuError
from salmubench.version import __version__

SUBCOMMANDS = ("data", "train", "eval", "unlearn", "attack", "tune", "run", "leaderboard", "export",
               "ls")  # modules <name>_cmd, in help order (export_cmd: export-checkpoint)
# library errors name parameters; the command line shows its flags instead
FLAGS = {"out_dir": "--out", "data_dir": "--data", "model_dir": "--model", "reference_clean": "--reference-clean",
         "imagenet": "--imagenet", "tune_imagenet": "--tune-imagenet", "arch": "--arch",
         "resume=True": "--resume", "overwrite=True": "--force",
         "allow_mixed_recipes=True": "--allow-mixed-recipes", "request_unit": "--request-unit",
         "request_seed": "--request-seed", "theta0": "--theta0", "devices": "--devices"}
_FLAG_RE = re.compile(r"(?<![\w/.=-])(" + "|".join(re.escape(k) for k in FLAGS) + r")(?![\w/.=-])")


def as_flags(message: str) -> str:
    """A library error message with parameter names replaced by this CLI's flags (paths untouched)."""
    return _FLAG_RE.sub(lambda m: FLAGS[m.group(1)], message)


def build_parser() -> argparse.ArgumentParser:
    """The root parser with every available subcommand."""
    parser = argparse.ArgumentParser(prog="salmubench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"salmubench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logs and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"salmubench.cli.{name}_cmd").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the subcommand; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR, format="%(message)s")
    # PIL warns (two lines) about an image between 1x and 2x its pixel limit before the library refuses it
    # (data.tables.MAX_IMAGE_PIXELS is lower): the library's one-line error is all the user needs to see
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SalmuError as exc:
        if args.verbose:
            raise
        print(f"error: {as_flags(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
