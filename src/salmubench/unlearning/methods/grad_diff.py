"""Gradient difference (GradDiff / NegGrad+): ascend the CLIP loss on forget pairs, descend it on retain pairs.

    L = −γ · L_clip(D_f) + α · L_clip(D_r)

L_clip is the symmetric in-batch InfoNCE with same-identity off-diagonal pairs masked (METHODS.md).

* Data: D_f, D_r (no frozen model).
* Source: Liu et al., "Continual learning and private unlearning", CoLLAs 2022 (gradient difference);
  Kurmanji et al., NeurIPS 2023 ("NegGrad+"); METHODS.md "GradDiff / NegGrad+".
* Defaults (``GradDiffConfig``): γ below α (our choice: the ascent term is unbounded, so it is weighted
  below the retain term); lr tuned (docs/tuning.md), with the runner's shared AdamW / warm-up + cosine
  schedule and frozen logit scale.
"""

from __future__ import annotations

from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.losses import clip_loss_of


class GradDiffConfig(MethodConfig):
    lr: float = Field(1e-4, gt=0)  # tuned on the validation slice, docs/tuning.md
    gamma: float = Field(0.5, ge=0)  # γ: weight of the forget ascent term −L_clip(D_f)
    alpha: float = Field(1.0, ge=0)  # α: weight of the retain descent term L_clip(D_r)


@register_method("grad_diff")
class GradDiff(GradientMethod):
    """GradDiff / NegGrad+: −γ·L_clip(D_f) + α·L_clip(D_r)."""

    config_cls = GradDiffConfig
    search_space = {"lr": [2.5e-5, 5e-5, 1e-4, 2e-4]}  # salmubench tune (docs/tuning.md)
    streams = ("forget", "retain")

    def loss(self, model, batch: Batch, step: int):
        forget = clip_loss_of(model, batch.forget)
        return {"forget_loss": -self.cfg.gamma * forget,
                "retain_loss": self.cfg.alpha * clip_loss_of(model, batch.retain),
                "forget_clip": forget.detach()}
