"""Train both reference models on a dataset and report time + how much each memorised.

    python benchmarks/bench_references.py --data DIR --out DIR [--preset mini] [--set key=value ...]

Prints one JSON object: seconds and samples/s of each model, the evaluator's RetFail, AssocStr,
InterIdSim, IntraIdSim and GenKnow of each (``salmubench.evaluation.evaluator.metric_values``: the
protocol's own code, no files written) and the target checks (RetFail ratio >= 20, AssocStr gap >= 0.10,
GenKnow within 3 points).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

PROBE_KEYS = ("ret_fail", "assoc_str", "inter_id_sim", "intra_id_sim", "gen_know")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--preset", default="mini")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--no-probe", action="store_true", help="only train (e.g. to run salmubench eval after)")
    args = p.parse_args(argv)

    from salmubench.config import parse_overrides
    from salmubench.data.io import load_dataset
    from salmubench.evaluation.evaluator import metric_values
    from salmubench.training.reference import read_train_record, train_reference

    overrides = parse_overrides(args.overrides)
    report: dict = {"overrides": overrides, "loadavg_start": os.getloadavg()}
    t0 = time.perf_counter()
    for kind in ("compromised", "clean"):
        out = train_reference(kind, args.data, os.path.join(args.out, kind), preset=args.preset, seed=args.seed,
                              overrides=overrides)
        rec = read_train_record(out)
        report[kind] = {"seconds": rec["seconds"], "prep_seconds": rec["prep_seconds"], "steps": rec["steps"],
                        "samples_per_second": rec["samples_per_second"], "loss_last": rec["loss"]["last"]}
    report["train_wall_seconds"] = round(time.perf_counter() - t0, 1)
    if args.no_probe:
        print(json.dumps(report, indent=1))
        return 0
    ds = load_dataset(args.data)
    for kind in ("compromised", "clean"):
        report[kind]["metrics"] = metric_values(os.path.join(args.out, kind), ds, keys=PROBE_KEYS)
    c, k = report["compromised"]["metrics"], report["clean"]["metrics"]
    report["targets"] = {
        "ret_fail_ratio": c["ret_fail"] / max(k["ret_fail"], 1e-12),
        "assoc_str_gap": c["assoc_str"] - k["assoc_str"],
        "gen_know_gap_points": None if c["gen_know"] < 0 else 100 * abs(c["gen_know"] - k["gen_know"]),
    }
    report["loadavg_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
