"""Negative Gradient (GA): gradient ascent on the CLIP loss of the forget pairs.

    form = "clip"   (default):  L = −L_clip(D_f)
    form = "cosine":            L = −(1 − cos(f(x), g(t)))   averaged over forget pairs,
                                i.e. ascend the cosine distance of each forget pair

* Data: D_f only.
* Source: the standard gradient-ascent baseline (Golatkar et al., CVPR 2020; Thudi et al., 2022);
  SALMUBench §5 "Neg. Gradient"; METHODS.md (cosine variant).
* Defaults (``NegGradConfig``): the CLIP form, lr tuned (docs/tuning.md); unbounded by design (the runner
  clips the gradient norm and stops with a clear error if the loss diverges).
* L_clip masks same-identity off-diagonal pairs (several captions of one person in a batch).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.losses import clip_loss_of, encode, pair_cosine


class NegGradConfig(MethodConfig):
    lr: float = Field(6e-5, gt=0)  # tuned on the validation slice, docs/tuning.md
    form: Literal["clip", "cosine"] = "clip"  # ascend L_clip, or ascend 1 − cos of each forget pair


@register_method("neg_grad")
class NegGrad(GradientMethod):
    """Negative Gradient: maximise the CLIP loss (or cosine distance) of forget pairs."""

    config_cls = NegGradConfig
    search_space = {"lr": [1.5e-5, 3e-5, 6e-5, 1e-4, 2e-4]}  # salmubench tune (docs/tuning.md)
    streams = ("forget",)

    def loss(self, model, batch: Batch, step: int):
        if self.cfg.form == "cosine":
            img, txt = encode(model, batch.forget)
            return {"forget_loss": -(1 - pair_cosine(img, txt)).mean()}
        return {"forget_loss": -clip_loss_of(model, batch.forget)}
