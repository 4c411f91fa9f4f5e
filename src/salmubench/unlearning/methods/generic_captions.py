"""Generic Captions: re-pair each forget image with its PII-free generic caption t̃(x).

    L = L_clip({(x, t̃(x)) : x ∈ D_f}) + α · L_clip(D_r)

* Data: D_f images with their generic captions (``sensitive_set_generic_captions.json``), D_r.
* Source: SALMUBench §5 ("Generic Captions", the paper's example of *ineffective forgetting*).
* Defaults: α = 1, lr 3e-3 (tuned).
* Tuned defaults (validation slice, docs/tuning.md): lr = 3e-3.
* False negatives (our choice): generic captions repeat across images, so off-diagonal pairs with
  the same identity or the identical generic caption are masked out of the softmax.
"""

from __future__ import annotations

from pydantic import Field

from salmubench.unlearning.base import Batch, GradientMethod, MethodConfig
from salmubench.unlearning.losses import (
    clip_loss_masked,
    clip_loss_of,
    encode,
    false_negative_mask,
    logit_scale,
)
from salmubench.unlearning.registry import register_method


class GenericCaptionsConfig(MethodConfig):
    lr: float = Field(3e-3, gt=0)  # tuned on the validation slice, docs/tuning.md
    alpha: float = Field(1.0, ge=0)  # weight of the retain CLIP loss


@register_method("generic_captions")
class GenericCaptions(GradientMethod):
    """Generic Captions: train forget images on their generic captions, plus retain CLIP loss."""

    config_cls = GenericCaptionsConfig
    streams = ("forget_generic", "retain")

    def loss(self, model, batch: Batch, step: int):
        pairs = batch.forget_generic
        img, txt = encode(model, pairs)
        mask = false_negative_mask(pairs.identity_ids, pairs.texts, device=img.device)
        return {"forget_loss": clip_loss_masked(img, txt, logit_scale(model), mask),
                "retain_loss": self.cfg.alpha * clip_loss_of(model, batch.retain)}
