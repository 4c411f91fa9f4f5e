"""benign_finetune: an ordinary later update on retain data. Does the forgotten knowledge come back?

**Threat model.** No adversary: the deployed model is later fine-tuned on ordinary data (here the
retain data, ``retain_synth`` + ``general_retain``), as models are updated in practice. Forgetting
that an unrelated update undoes was suppression, not removal. (Benign fine-tuning is one of the
relearning settings of Hu et al., arXiv 2406.13356, and of OpenUnlearning's robustness evaluation.)

**Procedure.** Fine-tune a copy of the model exactly as ``relearn`` does (same ``STEPS``, ``LR``,
``BATCH``, Adam, CLIP loss) on batches drawn with the attack seed from the retain data (never a
forget, holdout or unseen pair); measure RetFail MRR on the whole forget split before and after.
On the released data (no ``general_retain``) the retain data is ``retain_synth`` alone.

**Constants.** Those of ``relearn`` (one attacker budget for both fine-tuning attacks); ``lr`` and
``steps`` are tunable as there (a calibration sets both attacks to the same budget).
"""

from __future__ import annotations

from salmubench.attacks.base import AttackContext, AttackOutput, Measure, register_attack
from salmubench.attacks.finetune import batch_plan, finetune, gather
from salmubench.attacks.suite.relearn import BATCH, LR, STEPS
from salmubench.unlearning.data import retain_tables

CONSTANTS = {"steps": STEPS, "lr": LR, "batch": BATCH, "optimizer": "adam", "data": "retain_synth + general_retain",
             "frozen": ["logit_scale"], "measure_on": "forget"}


@register_attack("benign_finetune", kind="recovery", headline=("ret_fail",), constants=CONSTANTS,
                 tunable=("lr", "steps"))
def benign_finetune(ctx: AttackContext) -> AttackOutput:
    """Fine-tune on retain data (the relearn budget), measure RetFail on the whole forget split."""
    tables = retain_tables(ctx.data)
    n = sum(len(t) for t in tables)
    if n == 0:
        return AttackOutput.unavailable("no retain data (retain_synth and general_retain are empty)")
    before = ctx.metric("ret_fail", ctx.data).value
    steps, lr = ctx.constant("steps", STEPS), ctx.constant("lr", LR)
    plan = batch_plan(n, steps, BATCH, ctx.seed_for("batches"))
    rows = sorted({int(r) for index in plan for r in index.tolist()})
    pairs = gather(tables, rows, ctx.bundle.preprocess, ctx.bundle.tokenizer)
    local = {r: k for k, r in enumerate(rows)}  # global row -> row of the gathered pairs
    import torch

    plan = [torch.tensor([local[int(r)] for r in index.tolist()]) for index in plan]
    model = ctx.copy_model()
    losses = finetune(model, pairs, plan, lr, lambda s, k: ctx.progress("fine-tune on retain", s, k),
                      precision=ctx.precision)
    after = ctx.metric("ret_fail", ctx.data, ctx.embeddings(model)).value
    return AttackOutput(values={"ret_fail": Measure(after=after, before=before)},
                        info={"retain_pairs": n, "pairs_used": len(rows), "sources": {t.name: len(t) for t in tables},
                              "steps": len(losses), "lr": lr, "loss_first": losses[0], "loss_last": losses[-1]})
