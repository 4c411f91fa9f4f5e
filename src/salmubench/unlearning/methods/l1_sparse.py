"""ℓ1-sparse unlearning: fine-tune on retain pairs with an ℓ1 penalty whose weight decays linearly to 0.

    L_t = L_clip(D_r) + γ_t · ‖θ‖₁,     γ_t = γ · (1 − t / T)      (t = 0 … T−1, T = the runner's steps)

‖θ‖₁ sums |θ_i| over every trainable parameter (all but the frozen logit scale). Sparsity pushes the
model towards a sparser solution in which the forget set's influence is easier to lose ("model
sparsity can simplify machine unlearning"); forgetting itself comes from fine-tuning on D_r.

* Data: D_r only (the runner still runs budget · ceil(|D_f| / forget_batch_size) steps).
* Source: Jia, Liu, Ram, Yao, Liu, Liu, Sharma, Liu, "Model sparsity can simplify machine unlearning",
  NeurIPS 2023 (§4, "ℓ1-sparse MU" with the linearly decaying schedule of its Appendix).
* Defaults (``L1SparseConfig``; our choice of γ, kept by tuning, docs/tuning.md): the ℓ1 gradient is
  γ·sign(θ), whose global norm is γ·√N for N parameters; with N ≈ 8·10⁶ (salmu-tiny) the default γ gives
  ≈ 0.03, well under the gradient clip, so the penalty regularises without swamping the retain loss.
  lr tuned.
"""

from __future__ import annotations

import torch
from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.gradients import named_trainable
from salmubench.unlearning.losses import clip_loss_of


class L1SparseConfig(MethodConfig):
    lr: float = Field(1e-3, gt=0)  # tuned on the validation slice, docs/tuning.md
    # tuned on the validation slice, docs/tuning.md
    gamma: float = Field(1e-5, ge=0)  # γ: initial weight of ‖θ‖₁ (decays linearly to 0 over the run)


def l1_weight(gamma: float, step: int, total: int) -> float:
    """γ_t = γ · (1 − t/T): γ at the first step, → 0 at the last."""
    return gamma * (1.0 - step / max(1, total))


@register_method("l1_sparse")
class L1Sparse(GradientMethod):
    """ℓ1-sparse MU: retain fine-tuning + linearly decaying ℓ1 penalty on the weights."""

    config_cls = L1SparseConfig
    search_space = {"lr": [1.5e-4, 3e-4, 6e-4, 1e-3, 2e-3], "gamma": [1e-5]}  # salmubench tune (docs/tuning.md)
    streams = ("retain",)

    def terms(self, model, batch: Batch, weight: float) -> dict[str, torch.Tensor]:
        """L_clip(D_r) and the ℓ1 penalty at weight γ_t (``l1_weight``) at the current weights."""
        norm = torch.stack([p.abs().sum() for p in named_trainable(model).values() if p.requires_grad]).sum()
        return {"retain_loss": clip_loss_of(model, batch.retain), "sparsity_loss": weight * norm,
                "l1_norm": norm.detach()}

    def train_step(self, model, batch, step, ctx):
        """One step with γ_t from the run's length (``ctx.total_steps``, the budget's step count)."""
        terms = self.terms(model, batch, l1_weight(self.cfg.gamma, step, ctx.total_steps))
        ctx.backward_and_step(terms)
        return terms
