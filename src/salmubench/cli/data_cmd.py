"""``salmubench data generate | validate``: thin wrappers over salmubench.data."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``data`` with its ``generate`` and ``validate`` subcommands."""
    from salmubench.presets import preset_names

    parser = subparsers.add_parser("data", help="generate or validate a SALMU dataset")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    gen = sub.add_parser("generate", help="generate a procedural SALMU dataset in the released layout")
    gen.add_argument("--preset", default="mini", metavar="{" + ",".join(preset_names()) + "}",
                     help="dataset size (default: mini)")
    gen.add_argument("--out", required=True, help="output folder")
    gen.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    gen.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)),
                     help="rendering processes (default: CPU cores, at most 4; the output does not depend on it)")
    gen.add_argument("--limit-identities", type=int, default=None,
                     help="generate only this many identities (other sizes scaled alike; for benchmarks)")
    gen.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE",
                     help="change a preset field, e.g. --set n_identities=50 (repeatable; see docs/data.md)")
    gen.add_argument("--force", action="store_true", help="replace an existing different dataset in --out")
    gen.add_argument("--no-progress", action="store_true", help="hide progress bars")
    gen.set_defaults(func=_generate)

    val = sub.add_parser("validate", help="check a dataset folder (ours or the released one)")
    val.add_argument("dir", help="dataset folder")
    val.add_argument("--skip-decode", action="store_true", help="do not decode every image (faster)")
    val.add_argument("--strict", action="store_true", help="treat warnings as violations")
    val.set_defaults(func=_validate)

    _add_export_parser(sub)


def _generate(args: argparse.Namespace) -> int:
    from salmubench.config import parse_overrides
    from salmubench.data.generate import generate_dataset
    from salmubench.data.generate.presets import scaled_overrides
    from salmubench.presets import get_preset

    get_preset(args.preset)  # an unknown name: one line with suggestions
    overrides = scaled_overrides(args.preset, args.limit_identities) if args.limit_identities else {}
    overrides.update(parse_overrides(args.overrides))
    from salmubench.cli.display import progress_display

    with progress_display(not args.no_progress) as on_progress:
        manifest = generate_dataset(args.out, preset=args.preset, seed=args.seed, on_progress=on_progress,
                                    workers=args.workers, overwrite=args.force, **overrides)
    counts = ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
    print(f"wrote {args.out}: {counts}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from salmubench.cli.display import progress_display
    from salmubench.data.validate import validate_dataset

    with progress_display() as on_progress:
        report = validate_dataset(args.dir, decode_images=not args.skip_decode, on_progress=on_progress)
    for line in report.errors:
        print(f"violation: {line}")
    for line in report.warnings:
        print(f"warning: {line}")
    failed = bool(report.errors) or (args.strict and bool(report.warnings))
    summary = f"{len(report.errors)} violation(s), {len(report.warnings)} warning(s); {report.summary()}"
    print(("INVALID: " if failed else "OK: ") + summary, file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


def _add_export_parser(sub: argparse._SubParsersAction) -> None:
    """``salmubench data export``: a reference model's corpus as input for ``open_clip_train``.

    The library (salmubench.training.export) imports torch, so it is imported only when the export runs.
    """
    p = sub.add_parser("export", help="export a reference corpus for open_clip_train (webdataset or csv)")
    p.add_argument("--data", required=True, metavar="DIR", help="SALMUBench dataset directory")
    p.add_argument("--out", required=True, metavar="DIR", help="export directory")
    p.add_argument("--kind", required=True, choices=("compromised", "clean"), help="corpus of which reference model")
    p.add_argument("--format", dest="fmt", default="webdataset", choices=("webdataset", "csv"),
                   help="default: webdataset")
    p.add_argument("--shard-size", type=int, default=1000,
                   help="samples per tar shard (webdataset; open_clip_train needs shards >= workers x GPUs)")
    p.add_argument("--sensitive-oversample", type=int, default=1, help="repeats of each sensitive pair")
    p.add_argument("--seed", type=int, default=0, help="shuffle seed")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    """Call ``export_corpus`` with plain keyword arguments and print the ``--train-data`` value."""
    from salmubench.training.export import export_corpus

    kwargs = {"sensitive_oversample": args.sensitive_oversample, "seed": args.seed}
    if args.fmt == "webdataset":
        kwargs["shard_size"] = args.shard_size
    summary = export_corpus(args.data, args.out, args.kind, args.fmt, **kwargs)
    print(f"exported {summary.samples} {summary.kind} pairs as {summary.format}: --train-data '{summary.train_data}'")
    return 0
