"""Train both reference models on a dataset and report time + the memorisation probe (issue 3 targets).

    python benchmarks/bench_references.py --data DIR --out DIR [--preset mini] [--set key=value ...]

Prints one JSON object: seconds and samples/s of each model, the probe numbers of each
(salmubench.training.probe: forget MRR, mean cos on forget / holdouts / retain_disjoint, zero-shot
accuracy) and the target checks (MRR ratio >= 20, cos gap >= 0.10, zero-shot within 3 points).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--preset", default="mini")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--progress", action="store_true")
    p.add_argument("--no-probe", action="store_true", help="only train (e.g. to run salmubench eval after)")
    args = p.parse_args(argv)

    from salmubench.config import parse_overrides
    from salmubench.data.io import load_dataset
    from salmubench.models import load_model
    from salmubench.training.probe import memorisation_probe
    from salmubench.training.reference import read_train_record, train_reference

    overrides = parse_overrides(args.overrides)
    report: dict = {"overrides": overrides, "loadavg_start": os.getloadavg()}
    t0 = time.perf_counter()
    for kind in ("compromised", "clean"):
        out = train_reference(kind, args.data, os.path.join(args.out, kind), preset=args.preset, seed=args.seed,
                              progress=args.progress, overrides=overrides)
        rec = read_train_record(out)
        report[kind] = {"seconds": rec["seconds"], "prep_seconds": rec["prep_seconds"], "steps": rec["steps"],
                        "samples_per_second": rec["samples_per_second"], "loss_last": rec["loss"]["last"]}
    report["train_wall_seconds"] = round(time.perf_counter() - t0, 1)
    if args.no_probe:
        print(json.dumps(report, indent=1))
        return 0
    ds = load_dataset(args.data)
    for kind in ("compromised", "clean"):
        report[kind]["probe"] = memorisation_probe(load_model(os.path.join(args.out, kind)), ds)
    c, k = report["compromised"]["probe"], report["clean"]["probe"]
    report["targets"] = {
        "mrr_ratio": c["mrr"] / max(k["mrr"], 1e-12),
        "cos_gap_forget": c["cos_forget"] - k["cos_forget"],
        "zeroshot_gap_points": None if c["zeroshot"] is None else 100 * abs(c["zeroshot"] - k["zeroshot"]),
    }
    report["loadavg_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
