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
    p.add_argument("--model", required=True, help="starting model folder (the Compromised model), or a checkpoint "
                                                  "file (.bin / .pt state dict) with --arch")
    p.add_argument("--arch", default=None, help="open_clip architecture for a bare checkpoint (e.g. ViT-B-16)")
    p.add_argument("--data", required=True, help="SALMUBench dataset directory")
    p.add_argument("--out", required=True, help="output model folder (skipped if already complete)")
    p.add_argument("--budget", type=float, default=1.0, help="forget-set passes (default 1.0)")
    p.add_argument("--recipe", default="default", metavar="NAME",
                   help="hyperparameters before --set: default (the default protocol's recipe at this budget), a "
                        "protocol (structured, forget-retain), a recipe (forget-retain@5x, harness@vitb16), a recipe "
                        "file (path.json) or none (code defaults); a recipe tuned on another architecture than the "
                        "model's is refused (docs/tuning.md)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="method config override, repeatable (e.g. --set lr=1e-5)")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's; 1 is often fastest on a busy machine)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="forward-pass precision: fp32 (default) or bf16 (autocast, fp32 weights; CUDA only)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    seq = p.add_argument_group("deletion requests over time (docs/sequential.md)")
    seq.add_argument("--requests", type=int, default=None, metavar="K",
                     help="split the forget set into K deletion requests and unlearn them one after the other, "
                          "each from the previous output (budget per request); evaluates after each request")
    seq.add_argument("--request-unit", choices=("identity", "association"), default="identity",
                     help="a request = all of a person's forget rows (identity, default) or one (person, attribute "
                          "type) association")
    seq.add_argument("--request-seed", type=int, default=0, help="seed of the request split (default 0)")
    seq.add_argument("--theta0", choices=("previous", "original"), default="previous",
                     help="theta0 of methods that use one (teacher, task-vector origin): the previous request's "
                          "output (default) or the original (Compromised) model")
    seq.add_argument("--clean", default=None, metavar="MODEL",
                     help="the Clean model: target of the efficacy metrics after each request")
    seq.add_argument("--no-step-eval", action="store_true", help="do not evaluate after each request")
    seq.add_argument("--imagenet", default=None, metavar="DIR",
                     help="ImageNet-1K val set (ImageFolder or parquet shards) for GenKnow after each request "
                          "(default: the data's zeroshot split)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Call the library with plain keyword arguments and print where the model went."""
    from salmubench.cli.display import progress_display
    from salmubench.errors import ConfigError
    from salmubench.execution import ExecContext
    from salmubench.io_utils import read_json
    from salmubench.sequential.api import unlearn_sequential
    from salmubench.unlearning.api import UNLEARN_FILE, unlearn

    if args.imagenet is not None and (args.requests is None or args.no_step_eval):
        raise ConfigError("--imagenet is read by the evaluations after each request: give it with --requests K "
                          "(and without --no-step-eval); evaluate a one-shot model with salmubench eval --imagenet")
    common = {"budget": args.budget, "overrides": parse_overrides(args.overrides), "seed": args.seed,
              "recipe": None if args.recipe == "none" else args.recipe, "arch": args.arch}
    with progress_display(not args.no_progress) as on_progress:
        context = ExecContext(device=args.device, threads=args.threads, on_progress=on_progress,
                              precision=args.precision)
        if args.requests is not None:
            out = unlearn_sequential(args.method, args.model, args.data, args.out, args.requests,
                                     request_unit=args.request_unit, request_seed=args.request_seed,
                                     theta0=args.theta0, clean=args.clean, evaluate_steps=not args.no_step_eval,
                                     imagenet=args.imagenet, context=context, **common)
            print_sequential(out)
            return 0
        out = unlearn(args.method, args.model, args.data, args.out, context=context, **common)
    record = read_json(out / UNLEARN_FILE) if (out / UNLEARN_FILE).is_file() else {}
    cost = record.get("cost", {})
    recipe = (record.get("recipe") or {}).get("name") or "none"
    print(f"{record.get('method', args.method)}: {out} (recipe {recipe}, steps {record.get('steps')}, "
          f"{cost.get('unlearn_seconds')} s, fwd {cost.get('fwd_passes')}, bwd {cost.get('bwd_passes')} sample passes)")
    fit = record.get("recipe_fit") or {}
    if fit.get("fits") is False or (fit.get("note") and fit.get("recipe") != "none"):
        print(f"note: {fit.get('note')}")  # e.g. the code defaults were tuned on another architecture
    return 0


def print_sequential(out) -> None:
    """One row per request (its metrics, with each row group's target), then the cost against one shot."""
    from salmubench.cli.display import print_table
    from salmubench.sequential.results import SEQ_METRICS, read_summary

    summary = read_summary(out)
    keys = [m for m in SEQ_METRICS if m.key in ("ret_fail", "assoc_str", "pending_sim", "gen_know", "inter_id_sim",
                                                "intra_id_sim")]
    head = ["request", "rows/so far", *[f"{m.display} ({'→Clean' if m.target == 'clean' else '=Comp.'})" for m in keys], "s"]
    rows = []
    for step in summary.steps:
        metrics = step.metrics or {}
        cells = []
        for m in keys:
            v = metrics.get(m.key)
            cells.append("-" if v is None or v.value is None else
                         f"{v.value:.4f}" + (f" ({v.position:.2f})" if v.position is not None else ""))
        rows.append([f"{step.step}/{summary.requests.k}", f"{step.rows}/{step.requested_rows}", *cells,
                     f"{float(step.cost.get('unlearn_seconds', 0)):.2f}"])
    r, c = summary.requests, summary.cost
    print_table(head, rows, title=f"{summary.run.method} · {r.k} {r.unit} requests (seed {r.seed}) · "
                                  f"theta0 {summary.theta0.setting}")
    print(f"{summary.run.method}: {out} (final model; steps in {out}/steps, summary {out}/sequential.json)")
    print(f"position in brackets: 0 = Clean, 1 = Compromised on the same rows; cost: {c.optimizer_steps} optimiser "
          f"steps (one shot: {c.one_shot_steps}), {c.unlearn_seconds:.2f} s, fwd {c.fwd_passes}, bwd {c.bwd_passes} "
          f"sample passes; evaluation {c.eval_seconds:.1f} s")
