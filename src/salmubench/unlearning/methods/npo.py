"""NPO (Negative Preference Optimization), adapted to CLIP: a bounded alternative to gradient ascent.

    π_θ(t_i | x_i) = softmax_j(S_θ)_ii  (identity-masked in-batch softmax, image→text; and text→image)
    L = −(2/β) · E_{D_f} log σ(−β · (log π_θ − log π_θ0)) + α · L_clip(D_r)

The expectation runs over the forget pairs of the batch and both retrieval directions (image→text
rows and text→image columns, averaged). π_θ0 is the frozen original model's in-batch softmax on the
*same* batch. As β → 0 the forget term tends to gradient ascent on log π_θ; for β > 0 its gradient
vanishes once log π_θ falls well below log π_θ0, so the model cannot run away.

* Data: D_f, D_r, frozen θ0 (the reference policy).
* Source: Zhang, Lin, Bai, Mei, "Negative Preference Optimization: from catastrophic collapse to
  effective unlearning", COLM 2024 (arXiv 2404.05868), eq. (3) with the retain term of NPO+RT;
  adaptation to in-batch CLIP softmaxes: METHODS.md.
* Defaults (``NPOConfig``): β is the paper's default; lr tuned (docs/tuning.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.losses import clip_loss_of, diag_log_probs, in_batch_logits


class NPOConfig(MethodConfig):
    lr: float = Field(1e-4, gt=0)  # tuned on the validation slice, docs/tuning.md
    beta: float = Field(0.1, gt=0)  # β: inverse temperature of the preference loss (paper: 0.1)
    alpha: float = Field(1.0, ge=0)  # α: weight of the retain CLIP loss (NPO+RT)


def npo_loss(log_pi: torch.Tensor, log_pi_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """−(2/β)·mean log σ(−β(log π_θ − log π_θ0)) = (2/β)·mean softplus(β(log π_θ − log π_θ0))."""
    return (2.0 / beta) * F.softplus(beta * (log_pi - log_pi_ref)).mean()


@register_method("npo")
class NPO(GradientMethod):
    """NPO for CLIP: bounded preference loss pushing forget-pair in-batch probabilities below θ0's."""

    config_cls = NPOConfig
    search_space = {"lr": [1e-5, 3e-5, 1e-4, 2e-4, 3e-4]}  # salmubench tune (docs/tuning.md)
    streams = ("forget", "retain")
    needs_teacher = True

    def loss(self, model, batch: Batch, step: int):
        log_pi = diag_log_probs(in_batch_logits(model, batch.forget))
        with torch.no_grad():
            log_ref = diag_log_probs(in_batch_logits(self.teacher, batch.forget))
        return {"forget_loss": npo_loss(log_pi, log_ref, self.cfg.beta),
                "retain_loss": self.cfg.alpha * clip_loss_of(model, batch.retain),
                "log_ratio": (log_pi - log_ref).mean().detach()}
