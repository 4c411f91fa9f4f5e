"""relearn: targeted relearning. Fine-tune on a few forget associations; do the others come back?

**Threat model.** An attacker holds a small part of the forgotten associations (e.g. leaked
records of some people) and the unlearned weights, and fine-tunes the model on those pairs. If the
method only hid the associations, the rest of them (which the attacker never shows) come back.
Hu et al., "Jogging the Memory of Unlearned LLMs Through Targeted Relearning Attacks"
(arXiv 2406.13356); the robustness meta-evaluation of OpenUnlearning.

**Procedure.**

1. Split the forget associations (identity x attribute type, as the tuning slice groups them:
   ``data.views.association_groups``) with the attack seed into a relearn part R
   (``R_SHARE`` of the associations, at least one) and the rest P. The split depends only on the
   data and the seed, so every model is attacked on the same R and measured on the same P.
2. Fine-tune a copy of the model on the R pairs with the CLIP loss (``attacks/finetune.py``: Adam,
   constant lr, all weights but the temperature) for exactly ``STEPS`` steps of ``BATCH`` pairs.
3. Measure RetFail MRR (``ret_fail``) and AssocStr (``assoc_str``) on P, before and after, with the
   evaluator's metric functions on the P rows (distractors: the other P captions and
   ``retain_disjoint``, as for the forget split).

The Clean model learns R too; whatever it then shows on P is generalisation from R, and the
normalisation ``(x - x_clean) / (x_comp - x_clean)`` removes it. Headline: RetFail on P.

**Constants.** ``R_SHARE = 0.10``, ``STEPS``, ``LR``, ``BATCH`` below (how and when they were
chosen: docs/attacks.md, "Choosing the constants"). ``lr`` and ``steps`` are tunable: a run on
references of another architecture takes them from its calibration (``attacks/calibration.py``;
``AttackContext.constants``), and ``info`` records the ones used.
"""

from __future__ import annotations

import numpy as np

from salmubench.attacks.base import AttackContext, AttackOutput, Measure, register_attack
from salmubench.attacks.finetune import batch_plan, compact_plan, finetune
from salmubench.data.torch_data import tensorize
from salmubench.data.views import association_groups, forget_attributes, with_forget

R_SHARE = 0.10  # share of the forget associations the attacker relearns
STEPS = 20  # optimizer steps (the attacker's budget; re-chosen on the v8 references, docs/attacks.md)
LR = 3e-4  # Adam learning rate (constant)
BATCH = 32  # pairs per step
CONSTANTS = {"r_share": R_SHARE, "steps": STEPS, "lr": LR, "batch": BATCH, "optimizer": "adam",
             "loss": "clip (same-identity pairs masked)", "frozen": ["logit_scale"], "measure_on": "P"}


def split_associations(identity_ids: list[str | None], attributes: list[str | None], share: float,
                       rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """(R rows, P rows): a seeded ``share`` of the associations (at least 1, at most all but 1) to R;
    ([], []) with fewer than 2 associations."""
    groups = list(association_groups(identity_ids, attributes).values())
    if len(groups) < 2:
        return [], []
    n_r = min(len(groups) - 1, max(1, round(share * len(groups))))
    order = rng.permutation(len(groups))
    r_rows = sorted(r for k in order[:n_r] for r in groups[k])
    p_rows = sorted(r for k in order[n_r:] for r in groups[k])
    return r_rows, p_rows


@register_attack("relearn", kind="recovery", headline=("ret_fail",), constants=CONSTANTS,
                 tunable=("lr", "steps"))
def relearn(ctx: AttackContext) -> AttackOutput:
    """Fine-tune on R (10% of the forget associations), measure RetFail / AssocStr on the rest P."""
    ds = ctx.data
    r_rows, p_rows = split_associations(ds.forget.identity_ids, forget_attributes(ds), R_SHARE, ctx.rng("split"))
    if not r_rows:
        return AttackOutput.unavailable("fewer than 2 forget associations (identity x attribute type)")
    view = with_forget(ds, p_rows, "attack-relearn-P")
    before = {k: ctx.metric(k, view).value for k in ("ret_fail", "assoc_str")}
    model = ctx.copy_model()
    steps, lr = ctx.constant("steps", STEPS), ctx.constant("lr", LR)
    # only the R rows the plan reads are decoded (same pairs, same order: compact_plan)
    used, plan = compact_plan(batch_plan(len(r_rows), steps, BATCH, ctx.seed_for("batches")))
    pairs = tensorize(ds.forget.take([r_rows[u] for u in used]), ctx.bundle.preprocess, ctx.bundle.tokenizer)
    losses = finetune(model, pairs, plan, lr, lambda s, n: ctx.progress("fine-tune on R", s, n),
                      precision=ctx.precision)
    emb = ctx.embeddings(model)
    after = {k: ctx.metric(k, view, emb).value for k in ("ret_fail", "assoc_str")}
    return AttackOutput(values={k: Measure(after=after[k], before=before[k]) for k in before},
                        info={"r_rows": len(r_rows), "p_rows": len(p_rows), "steps": len(losses), "lr": lr,
                              "loss_first": losses[0], "loss_last": losses[-1]})
