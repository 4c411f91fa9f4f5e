"""``salmubench attack``: run the recovery attacks on one model; writes OUT/attack.json (docs/attacks.md).

``salmubench attack-calibrate``: choose the fine-tuning attacks' lr and steps on two references
(``attacks.calibration``; docs/attacks.md, "Choosing the constants"); ``attack --constants FILE`` uses them.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``salmubench attack``."""
    p = subparsers.add_parser(
        "attack", help="recovery attacks on a model: erased or hidden? (relearn, quantize, mia, ...)",
        description="Run the recovery attacks on a model (the same way, seeded, as on the references) and "
                    "write OUT/attack.json with the attacked values, their positions between the references "
                    "and the recovery. Attacks: salmubench ls attacks.")
    p.add_argument("--model", required=True, help="model folder, local-dir:DIR, hf-hub:ORG/REPO or checkpoint file")
    p.add_argument("--data", required=True, help="dataset directory (its holdout splits are never read)")
    p.add_argument("--references", default=None, metavar="RUN_DIR/results",
                   help="results folder with compromised/ and clean/: their attack.json is used, or computed "
                        "from their result.json's model and written there (default: raw values only)")
    p.add_argument("--out", required=True, help="output directory (attack.json)")
    p.add_argument("--attacks", default="all", help="'all' or a comma-separated list of attack names")
    p.add_argument("--seed", type=int, default=0, help="attack seed (default 0; use the references' seed)")
    p.add_argument("--arch", default=None, help="open_clip architecture for a bare checkpoint (e.g. ViT-B-16)")
    p.add_argument("--role", choices=("compromised", "clean", "unlearned", "other"), default=None)
    p.add_argument("--name", default=None, help="display name (default: from the model folder)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="fine-tuning and embedding precision: fp32 (default) or bf16 (autocast; CUDA only)")
    p.add_argument("--batch-size", type=int, default=256, help="embedding batch size")
    p.add_argument("--constants", default=None, metavar="FILE",
                   help="fine-tuning constants chosen by salmubench attack-calibrate (default: the module "
                        "constants, chosen on the embedded salmu-tiny references)")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress bar or table")
    p.set_defaults(func=run)
    _add_calibrate_parser(subparsers)


def _add_calibrate_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``salmubench attack-calibrate``."""
    from salmubench.attacks.calibration import DEFAULT_LRS, DEFAULT_STEPS

    p = subparsers.add_parser(
        "attack-calibrate", help="choose the fine-tuning attacks' lr and steps on two references",
        description="Run relearn's fine-tune on the Compromised and Clean references over an (lr, steps) grid and "
                    "choose the budget by the fixed rule of docs/attacks.md (\"Choosing the constants\"); writes "
                    "the record for salmubench attack --constants.")
    p.add_argument("--compromised", required=True, help="the Compromised reference (model folder, hf-hub:, file)")
    p.add_argument("--clean", required=True, help="the Clean reference")
    p.add_argument("--data", required=True, help="dataset directory (its holdout splits are never read)")
    p.add_argument("--out", required=True, help="the constants file to write (e.g. constants.json)")
    p.add_argument("--lrs", default=",".join(f"{x:g}" for x in DEFAULT_LRS), help="comma-separated lr grid")
    p.add_argument("--steps", default=",".join(str(x) for x in DEFAULT_STEPS), help="comma-separated steps grid")
    p.add_argument("--seed", type=int, default=0, help="attack seed (default 0; use the attacks' seed)")
    p.add_argument("--arch", default=None, help="open_clip architecture for bare checkpoints (e.g. ViT-B-16)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_calibrate)


def run(args: argparse.Namespace) -> int:
    """Run the attacks with a progress bar and print one row per attack."""
    from salmubench.attacks.api import attack
    from salmubench.cli.display import progress_display
    from salmubench.errors import ConfigError

    if args.batch_size < 1:
        raise ConfigError("--batch-size must be >= 1")
    if args.threads is not None and args.threads < 1:
        raise ConfigError("--threads must be >= 1")
    from salmubench.attacks.calibration import ConstantsMismatch
    from salmubench.execution import ExecContext

    kwargs = dict(references=args.references, attacks=args.attacks, seed=args.seed, arch=args.arch, role=args.role,
                  name=args.name, batch_size=args.batch_size, constants=args.constants)
    try:
        with progress_display(not args.quiet) as on_progress:
            context = ExecContext(device=args.device, threads=args.threads, on_progress=on_progress,
                                  precision=args.precision)
            result = attack(args.model, args.data, args.out, context=context, **kwargs)
    except ConstantsMismatch as exc:
        raise ConfigError(f"{exc.problem}; choose constants on these references: salmubench attack-calibrate "
                          f"--compromised M --clean M --data {args.data} --out constants.json, then rerun with "
                          f"--constants constants.json") from None
    if not args.quiet:
        _print_summary(result, args.out)
    return 0


def _grid(text: str, kind: type, flag: str) -> list:
    from salmubench.errors import ConfigError

    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag}: expected comma-separated numbers, got {text!r}") from None


def run_calibrate(args: argparse.Namespace) -> int:
    """Choose the fine-tuning constants on two references and write them; print the choice."""
    from salmubench.attacks.calibration import calibrate
    from salmubench.cli.display import progress_display
    from salmubench.errors import ConfigError
    from salmubench.execution import ExecContext

    if args.threads is not None and args.threads < 1:
        raise ConfigError("--threads must be >= 1")
    lrs, steps = _grid(args.lrs, float, "--lrs"), _grid(args.steps, int, "--steps")
    with progress_display(not args.quiet) as on_progress:
        context = ExecContext(device=args.device, threads=args.threads, on_progress=on_progress)
        record = calibrate(args.compromised, args.clean, args.data, args.out, lrs=lrs, steps=steps, seed=args.seed,
                           context=context, arch=args.arch)
    choice = record["choice"]
    met = "the rule is met" if record["satisfied"] else "no grid point meets the rule: fallback (docs/attacks.md)"
    print(f"lr {choice['lr']:g}, {choice['steps']} steps ({met}; Clean RetFail on R after {choice['clean_R_after']:.3f} "
          f"vs {0.5 * choice['comp_R_before']:.3f} needed; P gap {choice['gap_P_after']:.3f} of "
          f"{choice['gap_P_before']:.3f}); wrote {args.out}")
    return 0


def _fmt(x: float | None, nd: int = 4) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _print_summary(result, out: str) -> None:
    from salmubench.cli.display import print_table

    rows = []
    for name, entry in result.attacks.items():
        if not entry.available:
            rows.append([name, "not available", entry.reason or "", "", "", "", f"{entry.seconds:.1f}"])
            continue
        for key, v in entry.values.items():
            head = entry.headline is not None and entry.headline.key == key
            rec = (entry.headline.leak if entry.kind == "measure" else entry.headline.recovery) if head else None
            rows.append([name, key, _fmt(v.before), _fmt(v.after), _fmt(v.position_after, 3), _fmt(rec, 3),
                         f"{entry.seconds:.1f}"])
            name = ""
    print_table(["attack", "value", "before", "after", "pos.", "rec./leak", "s"], rows,
                title=f"recovery attacks · {result.model.name or result.model.source}")
    s = result.summary
    rob = f"robustness {_fmt(s.robustness, 3)}, worst: {s.worst_attack} at {_fmt(s.worst_position, 3)}; " if s else \
        "no references: raw values only; "
    print(f"{rob}{result.cost['seconds']:.1f} s; wrote {out}/attack.json")
