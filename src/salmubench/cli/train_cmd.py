"""``salmubench train``: train a reference model (Compromised or Clean) from scratch.

Runs single-process, or with DDP under ``torchrun --nproc_per_node=N -m salmubench.cli.main train ...``.
After a Compromised model, the fragile set is written into the dataset dir (``--no-fragile`` skips).
"""

from __future__ import annotations

import argparse

from salmubench.config import parse_overrides
from salmubench.presets import get_preset, preset_names
from salmubench.training.config import KINDS


def add_parser(subparsers) -> None:
    """Register ``train``."""
    p = subparsers.add_parser("train", help="train a Compromised or Clean reference model from scratch",
                              description=__doc__.splitlines()[0])
    p.add_argument("--kind", required=True, choices=KINDS, help="which reference model")
    p.add_argument("--data", required=True, metavar="DIR", help="SALMUBench dataset directory")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="model folder to create")
    p.add_argument("--preset", default="mini", metavar="{" + ",".join(preset_names()) + "}",
                   help="training preset (default: mini)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch-order seed (default: 0)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a training config value (repeatable), e.g. --set epochs=8")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: the preset's)")
    p.add_argument("--no-fragile", action="store_true",
                   help="do not write fragile_set_ids.json after training the Compromised model")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, then (Compromised, rank 0) write the fragile set; print where the model is."""
    from salmubench.cli.display import progress_display
    from salmubench.runtime import init_distributed, shutdown_distributed
    from salmubench.training.fragile import write_fragile_set
    from salmubench.training.reference import read_train_record, train_reference

    get_preset(args.preset)  # an unknown name: one line with suggestions
    overrides = parse_overrides(args.overrides)
    if args.device:
        overrides["device"] = args.device
    with progress_display(not args.no_progress) as on_progress:
        out = train_reference(args.kind, args.data, args.out, preset=args.preset, seed=args.seed,
                              resume=args.resume, on_progress=on_progress, overrides=overrides)
    env = init_distributed(overrides.get("device", "cpu"))
    shutdown_distributed()
    if not env.is_main:
        return 0
    record = read_train_record(out)
    print(f"{args.kind} model: {out} ({record['steps']} steps, {record['seconds']:.0f} s, "
          f"{record['samples_per_second']:.0f} samples/s)")
    if args.kind == "compromised" and not args.no_fragile:
        ids = write_fragile_set(out, args.data, fraction=record["config"]["fragile_fraction"])
        print(f"fragile set: {len(ids)} retain_disjoint pairs written to {args.data}")
    return 0
