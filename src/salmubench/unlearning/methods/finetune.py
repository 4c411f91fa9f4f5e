"""Finetuning (FT): keep training on retain pairs only; forgetting comes from interference.

    L = L_clip(D_r)

* Data: D_r only (the runner still runs ``budget · ceil(|D_f| / forget_batch_size)`` steps, so FT gets
  the same number of steps as every other method at the same budget).
* Source: the standard "fine-tune on the remaining data" baseline (Golatkar et al., CVPR 2020;
  SALMUBench §5 "Finetuning").
* Defaults: lr 1e-3 (tuned), AdamW, retain batch 32, 10% warm-up + cosine, logit scale frozen.
* Tuned defaults (validation slice, docs/tuning.md): lr = 1e-3.
"""

from __future__ import annotations

from pydantic import Field

from salmubench.unlearning.base import Batch, GradientMethod, MethodConfig
from salmubench.unlearning.losses import clip_loss_of
from salmubench.unlearning.registry import register_method


class FinetuneConfig(MethodConfig):
    """FT has no parameters beyond the shared ones."""
    lr: float = Field(1e-3, gt=0)  # tuned on the validation slice, docs/tuning.md


@register_method("finetune")
class Finetune(GradientMethod):
    """Finetuning (FT): minimise the CLIP loss on retain pairs only."""

    config_cls = FinetuneConfig
    streams = ("retain",)

    def loss(self, model, batch: Batch, step: int):
        return {"retain_loss": clip_loss_of(model, batch.retain)}
