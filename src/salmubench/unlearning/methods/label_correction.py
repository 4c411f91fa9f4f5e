"""First-order label correction: one closed-form step from "trained on Z" towards "trained on Z̃".

    Z  = {(x_i, t_i)}   the forget pairs,    Z̃ = {(x_i, t̃(x_i))}   the same images, generic captions
    θ_u = θ0 − τ · (∇_θ L(Z̃; θ0) − ∇_θ L(Z; θ0))

L is the in-batch CLIP loss averaged over batches of ``forget_batch_size`` (the same batches for Z and
Z̃): on Z it is identity-masked; on Z̃ identical generic captions are also masked as false negatives
(they repeat across images). The update descends the loss of the corrected pairs and ascends the loss
of the original pairs — the first-order influence-function approximation of replacing Z by Z̃ in the
training set. Closest prior art to "remove the association, keep the sample".

* Data: D_f and its generic captions (no retain data, no frozen model).
* Source: Warnecke, Pirch, Wressnegger, Rieck, "Machine unlearning of features and labels", NDSS 2023
  (§4.1, first-order update θ ← θ − τ(∇L(Z̃, θ) − ∇L(Z, θ))).
* Budget: ignored (training-free: one gradient pass over Z and one over Z̃; the cost is recorded).
* Defaults (``LabelCorrectionConfig``): τ tuned (docs/tuning.md; the paper also picks τ per model on
  held-out data). τ depends on the model's gradient scale: on a memorising salmu-test model the default
  τ already collapsed every similarity (docs/methods.md, tuning notes); lower it for larger models.
"""

from __future__ import annotations

import torch
from pydantic import Field

from salmubench.data.torch_data import PairTensors
from salmubench.unlearning import MethodConfig, UnlearningMethod, register_method
from salmubench.unlearning.gradients import accumulate_grads, named_trainable
from salmubench.unlearning.losses import (
    clip_loss_masked,
    clip_loss_of,
    codes_of,
    encode,
    false_negative_mask,
    logit_scale,
)


class LabelCorrectionConfig(MethodConfig):
    # tuned on the validation slice, docs/tuning.md
    tau: float = Field(0.1, gt=0)  # τ: unlearning rate of the single first-order step


def generic_clip_loss(model, pairs: PairTensors) -> torch.Tensor:
    """CLIP loss of images with generic captions; same identity or identical caption = false negative."""
    img, txt = encode(model, pairs)
    mask = false_negative_mask(codes_of(pairs.identity_ids, img.device), codes_of(pairs.texts, img.device))
    return clip_loss_masked(img, txt, logit_scale(model), mask)


@register_method("label_correction")
class LabelCorrection(UnlearningMethod):
    """First-order feature/label correction: θ0 − τ(∇L(generic captions) − ∇L(own captions))."""

    config_cls = LabelCorrectionConfig
    search_space = {"tau": [0.02, 0.05, 0.1, 0.2, 0.5, 1.0]}  # salmubench tune (docs/tuning.md)
    streams = ("forget", "forget_generic")

    def apply(self, model, data, budget):
        params = named_trainable(model)
        bs = self.cfg.forget_batch_size
        with torch.enable_grad():
            g_orig = accumulate_grads(model, params, data.forget, clip_loss_of, bs)
            g_new = accumulate_grads(model, params, data.forget_generic, generic_clip_loss, bs)
        with torch.no_grad():
            for name, p in params.items():
                p.sub_(self.cfg.tau * (g_new[name] - g_orig[name]))
        return model
