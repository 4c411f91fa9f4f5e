"""CLIPErase, SALMUBench harness variant: the DELETE-harness terms plus retain embedding consistency.

    L = λ_f · MSE(C_θ(D_f), 0) + λ_r · MSE(C_θ(D_r), C_θ0(D_r))
      + λ_c · [MSE(f_θ(D_r), f_θ0(D_r)) + MSE(g_θ(D_r), g_θ0(D_r))]

C is the in-batch cosine matrix, f/g the L2-normalised image/text embeddings, θ0 the frozen original.

* Data: D_f, D_r, frozen θ0.
* Source: the SALMUBench authors' early harness (SALMUBENCH.md §5), which names it "CLIPErase". It is
  **not** the published CLIPErase (Yang et al., ACL 2025: forgetting + retention + consistency
  modules), which ships separately as ``cliperase``.
* Defaults (``CLIPEraseSalmuConfig``): the harness's equal weights; lr tuned (docs/tuning.md).
"""

from __future__ import annotations

from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.losses import harness_delete_terms, mse


class CLIPEraseSalmuConfig(MethodConfig):
    lr: float = Field(1e-4, gt=0)  # tuned on the validation slice, docs/tuning.md
    forget_weight: float = Field(1.0, ge=0)  # λ_f: push every forget-batch cosine to 0
    retain_weight: float = Field(1.0, ge=0)  # λ_r: match θ0's retain-batch cosine matrix
    consistency_weight: float = Field(1.0, ge=0)  # λ_c: keep retain image and text embeddings at θ0's


@register_method("cliperase_salmu")
class CLIPEraseSalmu(GradientMethod):
    """CLIPErase (SALMUBench harness variant): DELETE-harness terms + retain embedding consistency."""

    config_cls = CLIPEraseSalmuConfig
    search_space = {"lr": [2.5e-5, 5e-5, 1e-4, 1.5e-4, 2e-4, 3e-4, 4.5e-4]}  # salmubench tune (docs/tuning.md)
    streams = ("forget", "retain")
    needs_teacher = True

    def loss(self, model, batch: Batch, step: int):
        cfg = self.cfg
        terms, (img_r, txt_r), (img_r0, txt_r0) = harness_delete_terms(
            model, self.teacher, batch, cfg.forget_weight, cfg.retain_weight)
        terms["consistency_loss"] = cfg.consistency_weight * (mse(img_r, img_r0) + mse(txt_r, txt_r0))
        return terms
