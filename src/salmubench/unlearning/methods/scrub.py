"""SCRUB: a student (from θ0) moves away from the frozen teacher θ0 on forget pairs and stays close on retain.

    p_T(·|x), p_S(·|x) = identity-masked in-batch softmaxes of the teacher θ0 / student θ
    KL_B = ½ [ mean_rows KL(p_T ‖ p_S) + mean_cols KL(p_T ‖ p_S) ]        (image→text and text→image)
    max-step on a forget batch:  minimise  −KL_{D_f}                      (= maximise the divergence)
    min-step on a retain batch:  minimise  α · KL_{D_r} + γ · L_clip(D_r)

Each runner step during the first ``max_fraction`` of the run performs one max-step and then one
min-step (two optimiser updates on the same AdamW state and learning rate, as in SCRUB's alternation);
afterwards only min-steps run. The number of runner steps is the budget's; the extra max-step passes
are counted in the cost like any other pass. KL uses log_softmax on both sides (no log of a softmax).

* Data: D_f (max-steps), D_r (min-steps), frozen teacher θ0.
* Source: Kurmanji, Triantafillou, Hayes, Triantafillou, "Towards unbounded machine unlearning",
  NeurIPS 2023 (SCRUB, Alg. 1: max-steps on D_f for the first msteps epochs, min-steps throughout).
  In-batch CLIP softmax as the "logits": METHODS.md.
* Defaults (``SCRUBConfig``): max_fraction (msteps as a share of the run) and the weights our choice; lr
  tuned (docs/tuning.md).
"""

from __future__ import annotations

import torch
from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.losses import clip_loss_of, in_batch_logits, kl_both


class SCRUBConfig(MethodConfig):
    lr: float = Field(5e-5, gt=0)  # tuned on the validation slice, docs/tuning.md
    max_fraction: float = Field(0.5, ge=0, le=1)  # share of the runner's steps that also do a max-step
    forget_weight: float = Field(1.0, ge=0)  # weight of −KL on forget batches (max-steps)
    alpha: float = Field(1.0, ge=0)  # α: weight of KL(p_T‖p_S) on retain batches (min-steps)
    gamma: float = Field(1.0, ge=0)  # γ: weight of the retain CLIP loss (min-steps)


@register_method("scrub")
class SCRUB(GradientMethod):
    """SCRUB: alternate max-steps (diverge from θ0 on D_f) and min-steps (match θ0 + CLIP on D_r)."""

    config_cls = SCRUBConfig
    search_space = {"lr": [2e-5, 3.5e-5, 5e-5, 7e-5, 1e-4]}  # salmubench tune (docs/tuning.md)
    streams = ("forget", "retain")
    needs_teacher = True

    def max_steps(self, total_steps: int) -> int:
        """Runner steps (from the start) that include a max-step, of a run of ``total_steps``."""
        return int(round(self.cfg.max_fraction * total_steps))

    def kl_to_teacher(self, model, pairs) -> torch.Tensor:
        student = in_batch_logits(model, pairs)
        with torch.no_grad():
            teacher = in_batch_logits(self.teacher, pairs)
        return kl_both(teacher, student)

    def max_terms(self, model, batch: Batch) -> dict[str, torch.Tensor]:
        return {"forget_loss": -self.cfg.forget_weight * self.kl_to_teacher(model, batch.forget)}

    def min_terms(self, model, batch: Batch) -> dict[str, torch.Tensor]:
        return {"retain_kl_loss": self.cfg.alpha * self.kl_to_teacher(model, batch.retain),
                "retain_loss": self.cfg.gamma * clip_loss_of(model, batch.retain)}

    def loss(self, model, batch: Batch, step: int):
        """Every term at the current weights (for inspection; training alternates them in ``train_step``)."""
        return {**self.min_terms(model, batch), **self.max_terms(model, batch)}

    def train_step(self, model, batch, step, ctx):
        logged: dict[str, torch.Tensor] = {}
        if step < self.max_steps(ctx.total_steps):
            terms = self.max_terms(model, batch)
            ctx.backward_and_step(terms)
            logged.update({k: v.detach() for k, v in terms.items()})
        terms = self.min_terms(model, batch)
        ctx.backward_and_step(terms)
        logged.update({k: v.detach() for k, v in terms.items()})
        return logged
