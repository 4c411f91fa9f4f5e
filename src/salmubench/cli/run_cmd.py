"""``salmubench run``: the whole benchmark in one command, cached and resumable (docs/run.md)."""

from __future__ import annotations

import argparse
import sys

from salmubench.errors import ConfigError
from salmubench.runtime import MAX_DEFAULT_JOBS, STAGE_THREADS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="generate data, train references, unlearn, evaluate, attack, leaderboard + report",
                       description=__doc__)
    p.add_argument("--preset", default="mini", help="data + training preset: tiny, mini (default), paper")
    p.add_argument("--out", default=None,
                   help="run dir (default: runs/<preset>, or runs/<preset>_<recipe> with a non-default --recipe; "
                        "with --data: runs/given-<first 8 characters of the data fingerprint>)")
    add_given_arguments(p)
    p.add_argument("--methods", default="all",
                   help="'all' or a comma-separated list of method names and external specs "
                        "(path/to/file.py:Class, package.module:Class)")
    p.add_argument("--budgets", default=None,
                   help="comma-separated budgets in forget-set passes (default 1, or the budget --recipe names)")
    p.add_argument("--recipe", default="default", metavar="NAME",
                   help="method hyperparameters: default (the default protocol's recipe at each budget), a protocol "
                        "(structured, forget-retain), a recipe (forget-retain@5x, harness@vitb16) or file (path.json), "
                        "or none (code defaults); salmubench ls recipes")
    p.add_argument("--seeds", default="0", help="comma-separated unlearning seeds (default 0)")
    p.add_argument("--data-seed", type=int, default=0, help="dataset generator seed")
    p.add_argument("--train-seed", type=int, default=0, help="seed of both reference models")
    p.add_argument("--set", dest="overrides", action="append", metavar="METHOD.KEY=VALUE",
                   help="method config override, repeatable (e.g. --set finetune.lr=1e-5)")
    p.add_argument("--no-attacks", action="store_true",
                   help="skip the recovery attacks (relearn, quantize, mia, ...; docs/attacks.md)")
    p.add_argument("--attack-seed", type=int, default=0, help="seed of the recovery attacks (default 0)")
    add_sequential_arguments(p)
    p.add_argument("--redo", action="append", default=[], metavar="STAGE_GLOB",
                   help="redo matching stages from scratch, repeatable (e.g. 'unlearn-finetune*'; "
                        "stage ids are listed in RUN_DIR/.stages)")
    add_execution_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="plain log lines instead of progress bars")
    p.set_defaults(func=run)


def add_given_arguments(p: argparse.ArgumentParser) -> None:
    """The real tier's inputs (docs/run.md, "The released benchmark") and ImageNet for GenKnow."""
    given = p.add_argument_group("the released benchmark (real tier): given data and references, no generation "
                                 "or training (docs/run.md, 'The released benchmark')")
    given.add_argument("--data", default=None, metavar="DIR_OR_HF_ID",
                       help="a dataset in the released SALMUBench layout (folder or Hugging Face dataset id)")
    given.add_argument("--compromised", default=None, metavar="MODEL",
                       help="the Compromised model: anything `salmubench eval` takes (folder, local-dir:, hf-hub:, "
                            "checkpoint file with --arch)")
    given.add_argument("--clean", default=None, metavar="MODEL", help="the Clean model (as --compromised)")
    given.add_argument("--arch", default=None, help="open_clip architecture of bare checkpoint files (ViT-B-16)")
    p.add_argument("--imagenet", default=None, metavar="DIR",
                   help="ImageNet-1K val (ImageFolder or parquet shards) for GenKnow in every evaluation "
                        "(default: the data's zeroshot split, if any)")


def add_sequential_arguments(p: argparse.ArgumentParser) -> None:
    """Sequential deletion requests (docs/sequential.md)."""
    p.add_argument("--requests", type=int, default=None, metavar="K",
                   help="also run sequential unlearning for every method x budget x seed: K deletion requests, one "
                        "after the other (off by default; docs/sequential.md)")
    p.add_argument("--request-unit", choices=("identity", "association"), default="identity",
                   help="a request = one person's forget rows (default) or one (person, attribute type) association")
    p.add_argument("--request-seed", type=int, default=0, help="seed of the request split (default 0)")
    p.add_argument("--theta0", choices=("previous", "original"), default="previous",
                   help="theta0 of teacher / task-vector methods in sequential runs: previous output (default) or "
                        "the Compromised model")


def add_execution_arguments(p: argparse.ArgumentParser) -> None:
    """Devices, workers and threads (not part of any cache key; docs/run.md)."""
    p.add_argument("--device", default=None, help="torch device (default: cpu; cuda when available for unlearning)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="stages run at once, each in a worker process (default: one per --devices entry, else "
                        f"as many {STAGE_THREADS}-thread stages as the cores hold, at least 2 on 2+ cores, at most "
                        f"{MAX_DEFAULT_JOBS}; 1: one process, no workers)")
    p.add_argument("--threads", type=int, default=None, metavar="T",
                   help="torch CPU threads of every stage, whatever --jobs is (default "
                        f"{STAGE_THREADS}, fixed: CPU numbers depend on it, so results do not depend on the machine)")
    p.add_argument("--devices", default=None, metavar="D1,D2,...",
                   help="one device per concurrent stage, round-robin over the free ones (e.g. cuda:0,cuda:1; "
                        "cpu,cpu); default --jobs: their number")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="forward-pass precision of eval, unlearn and attack stages: fp32 (default) or bf16 "
                        "(autocast, fp32 weights; CUDA only; enters those stages' cache keys)")


def _split(text: str, cast, what: str) -> tuple:
    try:
        return tuple(cast(x.strip()) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--{what} {text!r}: expected comma-separated {cast.__name__} values") from None


def method_overrides(pairs: list[str] | None) -> dict[str, dict]:
    """``["finetune.lr=1e-5"]`` -> ``{"finetune": {"lr": 1e-5}}``."""
    from salmubench.config import parse_overrides

    out: dict[str, dict] = {}
    for key, value in parse_overrides(pairs).items():
        method, dot, field = key.partition(".")
        if not dot or not field:
            raise ConfigError(f"--set {key}=...: expected METHOD.KEY=VALUE")
        out.setdefault(method, {})[field] = value
    return out


def build_run_config(args: argparse.Namespace):
    """The RunConfig of the command line (one-line ConfigError on bad values)."""
    from pydantic import ValidationError

    from salmubench.pipeline import RunConfig
    from salmubench.presets import get_preset
    from salmubench.runtime import default_jobs

    get_preset(args.preset)  # an unknown name: one line with suggestions, before anything is written
    recipe = args.recipe
    budgets = args.budgets
    if budgets is None:  # a full recipe name or a recipe file fixes the budget
        from salmubench.recipes import budget_of

        fixed = budget_of(recipe)
        budgets = "1" if fixed is None else f"{fixed:g}"
    given = {"--data": args.data, "--compromised": args.compromised, "--clean": args.clean}
    if any(given.values()) and not all(given.values()):
        missing = " ".join(k for k, v in given.items() if not v)
        raise ConfigError(f"--data, --compromised and --clean go together (missing {missing})")
    if args.arch and not args.data:
        raise ConfigError("--arch is for given reference checkpoints (with --data, --compromised, --clean)")
    out = args.out
    if out is None and not args.data:  # with --data the library names it after the data's fingerprint
        tag = recipe.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".json")  # a recipe file: its file name
        out = f"runs/{args.preset}" if recipe == "default" else f"runs/{args.preset}_{tag}"
    devices = _split(args.devices, str, "devices") if args.devices is not None else None
    if args.devices is not None and not devices:
        raise ConfigError(f"--devices {args.devices!r}: expected comma-separated devices (cuda:0,cuda:1 or cpu,cpu)")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: expected 1 or more")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: expected 1 or more")
    if args.device and devices:
        raise ConfigError("--device and --devices: give one (--devices assigns one device per concurrent stage)")
    _check_precision(args, devices)
    jobs = args.jobs if args.jobs is not None else default_jobs(devices, args.threads or STAGE_THREADS)
    try:
        return RunConfig(preset=args.preset, out=out, recipe=None if recipe == "none" else recipe,
                         methods=_split(args.methods, str, "methods"), budgets=_split(budgets, float, "budgets"),
                         seeds=_split(args.seeds, int, "seeds"), data_seed=args.data_seed,
                         train_seed=args.train_seed, overrides=method_overrides(args.overrides),
                         attacks=not args.no_attacks, attack_seed=args.attack_seed, requests=args.requests,
                         request_unit=args.request_unit, request_seed=args.request_seed, theta0=args.theta0,
                         redo=tuple(args.redo), device=args.device, jobs=jobs, threads=args.threads or STAGE_THREADS,
                         devices=devices, data=args.data, compromised=args.compromised, clean=args.clean,
                         arch=args.arch, imagenet=args.imagenet, precision=args.precision)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"invalid --{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _check_precision(args: argparse.Namespace, devices: tuple | None) -> None:
    """bf16 needs CUDA devices and one-shot unlearning (RunConfig checks it too, without the flags)."""
    if getattr(args, "precision", "fp32") == "fp32":
        return
    if not all(d.startswith("cuda") for d in (devices or ((args.device,) if args.device else ("cpu",)))):
        raise ConfigError(f"--precision {args.precision} needs a CUDA --device or --devices")
    if args.requests is not None:
        raise ConfigError(f"--precision {args.precision}: sequential unlearning (--requests) runs in fp32 only")


def run(args: argparse.Namespace) -> int:
    """Run or resume with the live view; print a summary; 0 only if everything ran."""
    from salmubench.cli.display import RunView
    from salmubench.pipeline import run_benchmark

    cfg = build_run_config(args)
    report = run_benchmark(cfg, view=RunView(enabled=not args.no_progress, preset=cfg.preset, jobs=cfg.jobs))
    print_summary(report)
    return 0 if report.ok else 1


def print_summary(report) -> None:
    """Counts per state, failures and where the outputs are."""
    from salmubench.cli.display import fmt_seconds

    counts = ", ".join(f"{report.count(s)} {s}" for s in ("done", "cached", "failed", "skipped") if report.count(s))
    print(f"run {report.run_dir}: {len(report.statuses)} stages ({counts}) in {fmt_seconds(report.seconds)}")
    for s in report.statuses:
        if s.state == "failed":
            print(f"failed: {s.label}: {s.message}", file=sys.stderr)
    lb = report.run_dir / "leaderboard.md"
    if lb.is_file() and any(s.id == "leaderboard" and s.state in ("done", "cached") for s in report.statuses):
        print(f"leaderboard: {lb}\nreport: {report.run_dir / 'report.html'}")
