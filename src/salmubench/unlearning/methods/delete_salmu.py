"""DELETE, SALMUBench harness variant: zero the forget similarities, keep θ0's on retain.

    L = λ_f · MSE(C_θ(D_f), 0) + λ_r · MSE(C_θ(D_r), C_θ0(D_r))

C is the in-batch cosine matrix (C_ij = ⟨f(x_i), g(t_j)⟩) of a forget or retain batch, θ the model
being unlearned, θ0 the frozen original model.

* Data: D_f, D_r, frozen θ0.
* Source: the SALMUBench authors' early harness (SALMUBENCH.md §5), which names it "DELETE". It is
  **not** the published DELETE (Zhou et al., CVPR 2025, mask distillation), which ships separately
  as ``delete``.
* Defaults (``DeleteSalmuConfig``): the harness's equal weights; lr tuned (docs/tuning.md).
"""

from __future__ import annotations

from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.losses import harness_delete_terms


class DeleteSalmuConfig(MethodConfig):
    lr: float = Field(1e-4, gt=0)  # tuned on the validation slice, docs/tuning.md
    forget_weight: float = Field(1.0, ge=0)  # λ_f: push every forget-batch cosine to 0
    retain_weight: float = Field(1.0, ge=0)  # λ_r: match θ0's retain-batch cosine matrix


@register_method("delete_salmu")
class DeleteSalmu(GradientMethod):
    """DELETE (SALMUBench harness variant): MSE(C(D_f), 0) + MSE(C(D_r), C_θ0(D_r))."""

    config_cls = DeleteSalmuConfig
    search_space = {"lr": [2.5e-5, 5e-5, 1e-4, 1.5e-4, 2e-4, 3e-4, 4.5e-4]}  # salmubench tune (docs/tuning.md)
    streams = ("forget", "retain")
    needs_teacher = True

    def loss(self, model, batch: Batch, step: int):
        terms, _, _ = harness_delete_terms(model, self.teacher, batch, self.cfg.forget_weight,
                                           self.cfg.retain_weight)
        return terms
