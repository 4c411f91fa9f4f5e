"""Reference-regime search: train the mini references under candidate data/training recipes, report
the statistics issue 12 compares with the paper's references (docs/training.md, "Reference regime").

    python benchmarks/bench_regime.py --out DIR --name NAME [--data-set key=value ...]
        [--train-set key=value ...] [--clean] [--threads 2]
    python benchmarks/bench_regime.py --out DIR --table     # Markdown table of every candidate in DIR

For one candidate: generates the ``mini`` data with the ``--data-set`` overrides (a PresetConfig field
each) into ``DIR/NAME/data``, trains the Compromised model with the ``mini`` training preset plus the
``--train-set`` overrides, writes the fragile set, evaluates it with ``salmubench.evaluation.evaluate``,
and with ``--clean`` also trains and evaluates the Clean model. Every step is cached (a re-run skips
what exists). Prints and writes ``DIR/NAME/regime.json``: the ranges of issue 12 item 3 and which hold.

The choice is made on the references alone, before any unlearning method is run on them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# issue 12 item 3: the paper's published Compromised statistics, as target ranges
RANGES = {"ret_fail": (0.15, 0.35), "r_at_1": (0.05, 0.2), "id_zsc": (0.0, 0.3), "acs": (0.85, 1.0)}
MIN_ASSOC_GAP = 0.10
MAX_GENKNOW_GAP = 0.03


def _values(result) -> dict[str, float]:
    out = {k: m.value for k, m in result.metrics.items()}
    out["r_at_1"] = result.metrics["ret_fail"].extra["r_at_1"]
    out["gen_know_n"] = result.metrics["gen_know"].extra.get("n")
    return out


def _train_eval(kind: str, root: Path, data: Path, train_overrides: dict, threads: int) -> dict:
    from salmubench.evaluation.evaluator import evaluate
    from salmubench.evaluation.results import read_result
    from salmubench.training.fragile import write_fragile_set
    from salmubench.training.reference import read_train_record, train_reference

    model = root / kind
    if not (model / "train.json").is_file():
        train_reference(kind, data, model, preset="mini", seed=0, resume=True,
                        overrides={**train_overrides, "threads": threads})
    record = read_train_record(model)
    if kind == "compromised":
        write_fragile_set(model, data, fraction=record["config"]["fragile_fraction"])
    res_dir = root / "results" / kind
    result = read_result(res_dir) if (res_dir / "result.json").is_file() else \
        evaluate(str(model), data, res_dir, role=kind, name=kind, cache_dir=False)
    return {"steps": record["steps"], "seconds": record["seconds"], "values": _values(result),
            "eval_seconds": result.cost.eval_seconds}


def checks(comp: dict[str, float], clean: dict[str, float] | None) -> dict[str, bool]:
    """Which of issue 12's reference ranges hold."""
    out = {k: lo <= comp[k] <= hi for k, (lo, hi) in RANGES.items()}
    if clean is not None:
        out["assoc_gap"] = comp["assoc_str"] - clean["assoc_str"] >= MIN_ASSOC_GAP
        out["gen_know_gap"] = abs(comp["gen_know"] - clean["gen_know"]) <= MAX_GENKNOW_GAP + 1e-9
        out["clean_at_chance"] = clean["ret_fail"] < 0.05 * comp["ret_fail"] + 0.01
    return out


def _pair(comp: dict, clean: dict | None, key: str) -> str:
    return f"{comp[key]:.3f} / {clean[key]:.3f}" if clean else f"{comp[key]:.3f} / -"


def table(out: Path) -> str:
    """One Markdown row per candidate (regime.json files under ``out``, by modification time)."""
    rows = ["| candidate | data overrides | training overrides | steps | RetFail MRR | R@1 | IdZSC | ACS | "
            "AssocStr C / K | GenKnow C / K | train s (C + K) | ranges met |",
            "|---|---|---|---:|---:|---:|---:|---:|---|---|---:|---|"]
    for path in sorted(out.glob("*/regime.json"), key=lambda p: p.stat().st_mtime):
        r = json.loads(path.read_text())
        c, k = r["compromised"]["values"], (r.get("clean") or {}).get("values")
        data = ", ".join(f"{a}={b}" for a, b in r["data_overrides"].items() if a != "zeroshot_per_class")
        train = ", ".join(f"{a}={b}" for a, b in r["train_overrides"].items())
        secs = r["compromised"]["seconds"] + ((r.get("clean") or {}).get("seconds") or 0)
        met = [name for name, ok in r["checks"].items() if ok]
        missed = [name for name, ok in r["checks"].items() if not ok]
        rows.append(f"| {r['name']} | {data or '-'} | {train or '-'} | {r['compromised']['steps']} | "
                    f"{c['ret_fail']:.3f} | {c['r_at_1']:.3f} | {c['id_zsc']:.3f} | {c['acs']:.3f} | "
                    f"{_pair(c, k, 'assoc_str')} | {_pair(c, k, 'gen_know')} | {secs:.0f} | "
                    f"{len(met)}/{len(met) + len(missed)}" + (f" (missed: {', '.join(missed)})" if missed else "") + " |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--name", default=None)
    p.add_argument("--table", action="store_true", help="print a Markdown table of every regime.json under --out")
    p.add_argument("--data-set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--clean", action="store_true", help="also train and evaluate the Clean model")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    from salmubench.config import parse_overrides
    from salmubench.data.generate import generate_dataset

    if args.table:
        print(table(Path(args.out)))
        return 0
    if not args.name:
        p.error("--name is required (or --table)")
    root = Path(args.out) / args.name
    data_over, train_over = parse_overrides(args.data_set), parse_overrides(args.train_set)
    t0 = time.perf_counter()
    generate_dataset(root / "data", preset="mini", seed=0, workers=2, **data_over)
    report = {"name": args.name, "data_overrides": data_over, "train_overrides": train_over,
              "loadavg_start": os.getloadavg()}
    report["compromised"] = _train_eval("compromised", root, root / "data", train_over, args.threads)
    report["checks"] = checks(report["compromised"]["values"], None)
    (root / "regime.json").write_text(json.dumps(report, indent=1) + "\n")  # a partial report first
    if args.clean:
        report["clean"] = _train_eval("clean", root, root / "data", train_over, args.threads)
    clean_values = report["clean"]["values"] if args.clean else None
    report["checks"] = checks(report["compromised"]["values"], clean_values)
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    report["loadavg_end"] = os.getloadavg()
    (root / "regime.json").write_text(json.dumps(report, indent=1) + "\n")
    keys = ("ret_fail", "r_at_1", "id_zsc", "acs", "assoc_str", "gen_know", "inter_id_sim")
    for kind in ("compromised", "clean"):
        if kind in report:
            v = report[kind]["values"]
            print(f"{args.name} {kind:11s} steps {report[kind]['steps']} " +
                  " ".join(f"{k}={v[k]:.3f}" for k in keys))
    print(f"{args.name} checks: " + " ".join(f"{k}={'ok' if ok else 'NO'}" for k, ok in report["checks"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
