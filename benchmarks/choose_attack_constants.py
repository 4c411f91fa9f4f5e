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

    python benchmarks/choose_attack_constants.py --run RUN_DIR --data DATA_WITH_UNSEEN --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import time

import salmubench  # noqa: F401 - pins CPU numerics first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run dir with models/{compromised,clean}")
    ap.add_argument("--data", required=True, help="dataset dir")
    ap.add_argument("--out", required=True, help="JSON file for the grid")
    ap.add_argument("--lrs", default="3e-5,1e-4,3e-4,1e-3")
    ap.add_argument("--steps", default="5,10,20,40")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    from salmubench.attacks.api import load_attack_data
    from salmubench.attacks.base import AttackContext
    from salmubench.attacks.finetune import batch_plan, finetune
    from salmubench.attacks.suite import relearn as R
    from salmubench.data.torch_data import tensorize
    from salmubench.data.views import forget_attributes, with_forget
    from salmubench.evaluation.embed import EmbeddingBank
    from salmubench.models import load_model

    torch.set_num_threads(args.threads)
    data = load_attack_data(args.data)
    lrs = [float(x) for x in args.lrs.split(",")]
    steps_grid = sorted(int(x) for x in args.steps.split(","))
    rows = []
    for role in ("compromised", "clean"):
        bundle = load_model(f"{args.run}/models/{role}")
        ctx = AttackContext(bundle=bundle, data=data, emb=EmbeddingBank(bundle), seed=0, name="relearn")
        r_rows, p_rows = R.split_associations(data.forget.identity_ids, forget_attributes(data), R.R_SHARE,
                                              ctx.rng("split"))
        views = {"P": with_forget(data, p_rows, "attack-relearn-P"), "R": with_forget(data, r_rows, "attack-relearn-R")}
        base = {v: ctx.metric("ret_fail", views[v]).value for v in views}
        pairs = tensorize(data.forget.take(r_rows), bundle.preprocess, bundle.tokenizer)
        for lr in lrs:
            for steps in steps_grid:  # one fresh fine-tune per setting (as the attack runs it)
                t0 = time.perf_counter()
                model = ctx.copy_model()
                finetune(model, pairs, batch_plan(len(pairs), steps, R.BATCH, ctx.seed_for("batches")), lr)
                emb = ctx.embeddings(model)
                after = {v: ctx.metric("ret_fail", views[v], emb).value for v in views}
                rows.append({"role": role, "lr": lr, "steps": steps, "batch": R.BATCH,
                             "P_before": base["P"], "P_after": after["P"], "R_before": base["R"], "R_after": after["R"],
                             "seconds": round(time.perf_counter() - t0, 2)})
                print(json.dumps(rows[-1]), flush=True)
    choice = choose(rows, lrs, steps_grid)
    with open(args.out, "w") as fh:
        json.dump({"rule": __doc__.split("Rule")[1].split("python benchmarks")[0].strip(), "grid": rows,
                   "choice": choice, "r_rows": len(r_rows), "p_rows": len(p_rows)}, fh, indent=2)
    print("choice:", choice)


def choose(rows: list[dict], lrs: list[float], steps_grid: list[int]) -> dict | None:
    """The smallest steps, then lr, meeting the rule of the module docstring."""
    by = {(r["role"], r["lr"], r["steps"]): r for r in rows}
    for steps in steps_grid:
        for lr in sorted(lrs):
            comp, clean = by[("compromised", lr, steps)], by[("clean", lr, steps)]
            learned = clean["R_after"] >= 0.5 * comp["R_before"]
            gap_before = comp["P_before"] - clean["P_before"]
            gap_after = comp["P_after"] - clean["P_after"]
            if learned and gap_after >= 0.5 * gap_before:
                return {"lr": lr, "steps": steps, "clean_R_after": clean["R_after"], "comp_R_before": comp["R_before"],
                        "gap_P_before": gap_before, "gap_P_after": gap_after}
    return None


if __name__ == "__main__":
    main()
