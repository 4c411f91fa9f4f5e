"""Choose the fine-tuning attacks' budget on the two references only (docs/attacks.md, "Choosing the constants").

Runs the ``relearn`` procedure (and ``benign_finetune`` at the chosen point) on the Compromised and
Clean models for a small grid of (lr, steps) at batch 32, with the attack seed 0, and reports per
setting: RetFail on P (the measured associations) and on R (the relearned ones) after the attack,
for both references. No unlearned model is read.

Rule (fixed before the grid ran): the attacker's budget is the **smallest number of steps** (then
the smallest lr) at which relearning teaches the Clean model the associations it is shown
(Clean's RetFail on R after the attack >= half the Compromised model's RetFail on R before it),
**while the references still separate clearly on P** (the Compromised-Clean RetFail gap on P after
the attack >= 50% of the gap before it). Steps and lr are grid values.

The rule, the grid and the record live in the library (``salmubench.attacks.calibration``: ``choose``,
``choose_finetune_constants``, ``calibrate``; CLI ``salmubench attack-calibrate``); this script runs it on a
run dir's references and writes the same record (plus ``"choice"``, as the committed grids have it).

    python benchmarks/choose_attack_constants.py --run RUN_DIR --data DATA_WITH_UNSEEN --out OUT.json
"""

from __future__ import annotations

import argparse

import salmubench  # noqa: F401 - pins CPU numerics first


def main() -> None:
    from salmubench.attacks.calibration import DEFAULT_LRS, DEFAULT_STEPS, calibrate
    from salmubench.execution import ExecContext

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run dir with models/{compromised,clean}")
    ap.add_argument("--data", required=True, help="dataset dir")
    ap.add_argument("--out", required=True, help="JSON file for the grid")
    ap.add_argument("--lrs", default=",".join(f"{x:g}" for x in DEFAULT_LRS))
    ap.add_argument("--steps", default=",".join(str(x) for x in DEFAULT_STEPS))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    record = calibrate(f"{args.run}/models/compromised", f"{args.run}/models/clean", args.data, args.out,
                       lrs=[float(x) for x in args.lrs.split(",")], steps=[int(x) for x in args.steps.split(",")],
                       seed=0, context=ExecContext(device="cpu", threads=args.threads))
    for row in record["grid"]:
        print(row)
    print("choice:", record["choice"])


if __name__ == "__main__":
    main()
