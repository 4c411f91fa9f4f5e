"""SalUn (saliency unlearning): random-label (shuffled-caption) unlearning restricted to salient weights.

    m = 1[ |∇_θ L_clip(D_f; θ0)| ≥ top-r% threshold ]         (one global threshold, computed once)
    L = L_clip({(x_i, t_π(i)) : i ∈ D_f}) + α · L_clip(D_r),    θ ← θ0 + m ⊙ Δθ

π(i) is a forget row of a *different* identity than row i, drawn once per run from the run seed (the
random-label base loss of SalUn; false negatives = off-diagonal pairs with the same image identity and
the same caption identity). Only masked weights move: the gradient is multiplied by m after backward
(before clipping), and after each optimiser step every unmasked entry is restored to its θ0 value, so
AdamW's decoupled weight decay cannot move it either (unmasked weights stay bit-identical). This
behaviour is shared with ``salun_ssd`` through ``salmubench.unlearning.saliency.SaliencyMaskedMethod``;
this file supplies its one hook, the saliency score.

* Data: D_f (saliency pass + re-paired captions), D_r.
* Source: Fan, Liu, Zhang, Wei, Wong, Liu, "SalUn: Empowering machine unlearning via gradient-based
  weight saliency in both image classification and generation", ICLR 2024 (eq. 6-7: saliency mask from
  the forgetting loss gradient at θ0, hard threshold; random labelling as the base unlearning loss).
* Saliency loss (our adaptation): L_f = the CLIP loss of the forget pairs, averaged over forget batches of
  ``forget_batch_size`` (one pass over D_f at θ0; its passes are counted in the cost).
* Defaults (``SalUnConfig``): r and lr tuned (docs/tuning.md; the paper's default r is 50%). The
  threshold is global over all trainable parameters (the logit scale is frozen and never masked in).
"""

from __future__ import annotations

import torch
from pydantic import Field

from salmubench.unlearning import MethodConfig, register_method
from salmubench.unlearning.gradients import accumulate_grads
from salmubench.unlearning.losses import clip_loss_of
from salmubench.unlearning.saliency import SaliencyMaskedMethod


class SalUnConfig(MethodConfig):
    lr: float = Field(6e-4, gt=0)  # tuned on the validation slice, docs/tuning.md
    # tuned on the validation slice, docs/tuning.md
    saliency_ratio: float = Field(0.25, gt=0, le=1)  # r: share of weights (global top-r of |∇L_f|) that may change
    alpha: float = Field(1.0, ge=0)  # α: weight of the retain CLIP loss


@register_method("salun")
class SalUn(SaliencyMaskedMethod):
    """SalUn: shuffled-caption unlearning + retain CLIP loss, updating only the top-r% salient weights."""

    config_cls = SalUnConfig
    search_space = {"lr": [3e-4, 6e-4, 1e-3, 1.7e-3], "saliency_ratio": [0.04, 0.1, 0.25, 0.6]}  # salmubench tune (docs/tuning.md)

    def saliency(self, model, data, params: dict[str, torch.nn.Parameter]) -> dict[str, torch.Tensor]:
        """Per-weight saliency (ranked by absolute value): ∇_θ L_clip(D_f; θ0), one pass over D_f."""
        return accumulate_grads(model, params, data.forget, clip_loss_of, self.cfg.forget_batch_size)
