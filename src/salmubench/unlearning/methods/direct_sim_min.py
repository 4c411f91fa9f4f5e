"""Direct Similarity Minimisation: push down the cosine similarity of every forget pair.

    L = mean_{(x,t) ∈ D_f} cos(f(x), g(t))  [+ λ_r · L_clip(D_r) when retain_weight λ_r > 0]

* Data: D_f (+ D_r when ``retain_weight`` > 0).
* Source: SALMUBench §5 ("Direct Sim. Min.", the paper's example of catastrophic damage and
  over-generalisation: it drives similarities below the Clean value); METHODS.md.
* Defaults (``DirectSimMinConfig``): lr and the retain term tuned (docs/tuning.md); ``retain_weight=0``
  is the paper's plain form. Unbounded below (cos → −1).
"""

from __future__ import annotations

from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.losses import clip_loss_of, encode, pair_cosine


class DirectSimMinConfig(MethodConfig):
    lr: float = Field(2e-4, gt=0)  # tuned on the validation slice, docs/tuning.md
    # tuned on the validation slice, docs/tuning.md
    retain_weight: float = Field(1.0, ge=0)  # λ_r: optional retain CLIP loss (0 = forget term only)


@register_method("direct_sim_min")
class DirectSimMin(GradientMethod):
    """Direct Similarity Minimisation: minimise cos(f(x), g(t)) of forget pairs."""

    config_cls = DirectSimMinConfig
    search_space = {"lr": [5e-5, 1e-4, 2e-4, 3e-4], "retain_weight": [0.0, 1.0]}  # salmubench tune (docs/tuning.md)

    def __init__(self, cfg=None, runtime=None) -> None:
        super().__init__(cfg, runtime)
        # the retain stream is only drawn when its term is on
        self.streams = ("forget", "retain") if self.cfg.retain_weight > 0 else ("forget",)

    def loss(self, model, batch: Batch, step: int):
        img, txt = encode(model, batch.forget)
        cos = pair_cosine(img, txt).mean()
        terms = {"forget_loss": cos, "forget_cos": cos.detach()}
        if batch.retain is not None:
            terms["retain_loss"] = self.cfg.retain_weight * clip_loss_of(model, batch.retain)
        return terms
