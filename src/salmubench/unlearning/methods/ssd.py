"""SSD (Selective Synaptic Dampening): shrink the weights far more important to D_f than to the data D.

    I_S = E_batches[(∇_θ L_clip(S))²]                  diagonal (empirical) Fisher importance on set S
    I_D = (1 − w) · I_{D_r} + w · I_{D_f}               importance on the proxy D = D_r ∪ D_f (w = D_f's share)
    selected:  I_{D_f,i} > α · I_{D,i}
    θ_i ← θ_i · min(λ · I_{D,i} / I_{D_f,i}, 1)        for selected i (others unchanged)

No gradient steps: one backward pass per batch to get the importances, then one multiplicative edit.

* Data: D_f (all of it), D_r (a seeded sample of ``retain_samples`` rows).
* D_f's share w of the training data D (our choice): a fixed ``forget_share`` by default, because the
  proxy's own share N_f / (N_f + N_r) depends on how much retain data ships (≈ 0.13 on the generated
  presets, ≈ 0.65 on the released data without a retain corpus) while in the paper D_f ≪ D. Nothing
  can be selected when α·w ≥ 1 (I_f > α·I_D ≥ α·w·I_f is impossible): that is refused with an error.
  ``forget_share=None`` uses the proxy's N_f / (N_f + N_r).
* Source: Foster, Schoepf, Brintrup, "Fast machine unlearning without retraining through selective
  synaptic dampening", AAAI 2024 (eq. 3-4; α selection, λ dampening).
* Budget: ignored (training-free). Cost = the forward/backward sample passes of the importance
  estimates (≈ 2× one forget pass + the same for the retain sample), recorded like every method's.
* Defaults (``SSDConfig``): α and λ tuned (docs/tuning.md; α must stay below 1/w, the paper's α = 10
  assumes D_f ≪ D; the paper's λ is 1); w and retain_samples = |D_f| our choice; importance batches of
  ``forget_batch_size``.
"""

from __future__ import annotations

import torch
from pydantic import Field

from salmubench.unlearning import MethodConfig, UnlearningError, UnlearningMethod, register_method
from salmubench.unlearning.gradients import forget_retain_fishers, named_trainable


class SSDConfig(MethodConfig):
    # tuned on the validation slice, docs/tuning.md
    alpha: float = Field(9.9, gt=0)  # α: select weights with I_f > α·I_D (must be < 1/forget_share)
    # tuned on the validation slice, docs/tuning.md
    dampening: float = Field(0.8, gt=0)  # λ: dampening factor min(λ·I_D/I_f, 1)
    retain_samples: int | None = Field(None, ge=1)  # retain rows for I_{D_r}; None = as many as |D_f|
    forget_share: float | None = Field(0.1, gt=0, lt=1)  # w: D_f's share of D in I_D; None = N_f/(N_f+N_r)


def dampening_factors(i_f: torch.Tensor, i_d: torch.Tensor, alpha: float, lam: float) -> torch.Tensor:
    """Per-weight multiplier: min(λ·I_D/I_f, 1) where I_f > α·I_D, else exactly 1."""
    selected = i_f > alpha * i_d
    ratio = torch.where(selected, lam * i_d / torch.where(selected, i_f, torch.ones_like(i_f)), torch.ones_like(i_f))
    return torch.clamp(ratio, max=1.0)


@register_method("ssd")
class SSD(UnlearningMethod):
    """SSD: dampen weights whose Fisher importance on D_f exceeds α× their importance on D (no training)."""

    config_cls = SSDConfig
    search_space = {"alpha": [9.5, 9.9], "dampening": [0.4, 0.6, 0.8, 1.0]}  # salmubench tune (docs/tuning.md)
    streams = ("forget", "retain")

    def importances(self, model, data) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(I_{D_f}, I_D) per trainable parameter at the current weights."""
        params = named_trainable(model)
        i_f, i_r = forget_retain_fishers(model, params, data, self.cfg.forget_batch_size, self.cfg.retain_batch_size,
                                         self.cfg.retain_samples, self.generator("retain"))
        if i_r is None:
            return i_f, i_f
        w = self.forget_share(len(data.forget), len(data.retain))
        i_d = {n: (1 - w) * i_r[n] + w * i_f[n] for n in params}
        return i_f, i_d

    def forget_share(self, n_f: int, n_r: int) -> float:
        """w, D_f's weight in I_D; UnlearningError when α·w ≥ 1 (no weight could ever be selected)."""
        w = self.cfg.forget_share if self.cfg.forget_share is not None else n_f / (n_f + n_r)
        if self.cfg.alpha * w >= 1:
            raise UnlearningError(f"ssd: alpha={self.cfg.alpha} x forget share {w:.3f} >= 1 selects no weight; "
                                  f"lower alpha below {1 / w:.2f} or set forget_share")
        return w

    @torch.no_grad()
    def apply(self, model, data, budget):
        with torch.enable_grad():
            i_f, i_d = self.importances(model, data)
        self.selected_count = 0
        for name, p in named_trainable(model).items():
            factor = dampening_factors(i_f[name], i_d[name], self.cfg.alpha, self.cfg.dampening)
            self.selected_count += int((factor < 1).sum())
            p.mul_(factor)
        return model
