"""Finetuning (FT): keep training on retain pairs only; forgetting comes from interference.

    L = L_clip(D_r)

* Data: D_r only (the runner still runs ``budget · ceil(|D_f| / forget_batch_size)`` steps, so FT gets
  the same number of steps as every other method at the same budget).
* Source: the standard "fine-tune on the remaining data" baseline (Golatkar et al., CVPR 2020;
  SALMUBench §5 "Finetuning").
* Defaults (``FinetuneConfig``): lr tuned (docs/tuning.md); otherwise the runner's shared AdamW,
  warm-up + cosine schedule and frozen logit scale.
"""

from __future__ import annotations

from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.losses import clip_loss_of


class FinetuneConfig(MethodConfig):
    """FT has no parameters beyond the shared ones."""
    lr: float = Field(1e-3, gt=0)  # tuned on the validation slice, docs/tuning.md


@register_method("finetune")
class Finetune(GradientMethod):
    """Finetuning (FT): minimise the CLIP loss on retain pairs only."""

    config_cls = FinetuneConfig
    search_space = {"lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}  # salmubench tune (docs/tuning.md)
    streams = ("retain",)

    def loss(self, model, batch: Batch, step: int):
        return {"retain_loss": clip_loss_of(model, batch.retain)}
