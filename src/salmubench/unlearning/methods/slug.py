"""SLUG (single layer unlearning gradient): one gradient, one layer, one step size.

    L_f = −L_clip(D_f)  (forget objective, minimised to forget),   L_r = L_clip(D_r)
    g_f = ∇_θ L_f(θ0),  g_r = ∇_θ L_r(θ0)                          (one gradient each, at θ0)
    importance_l = ‖g_f,l‖ / ‖θ_l‖,   alignment_l = |cos(g_f,l, g_r,l)|
    l* = a Pareto-optimal layer (high importance, low alignment)
    θ_l* ← θ_l* − λ · g_f,l*                                        (all other layers untouched)

λ = ρ·‖θ_l*‖/‖g_f,l*‖ (ρ the relative update size) is found by binary search on ρ ∈ (0, ρ_max] with a
criterion computed from the forget split and the retain set only (never a holdout):
  * forget criterion: the mean forget-pair cosine on a seeded slice of D_f drops to
    cos0 − drop·|cos0| (cos0 = its value at θ0) — the smallest such ρ is searched;
  * retain bound: L_clip on a seeded retain slice stays ≤ (1 + retain_tolerance)·its θ0 value —
    if the forget-optimal ρ breaks it, the largest ρ that keeps it is used instead.

* Layers (our choice): every trainable tensor with ≥ 2 dimensions that is not an embedding table
  (attention / MLP / projection weights, patch conv); 1-D biases / norms and the token / positional /
  class embeddings are not candidates (lookups, not layers; their small norms inflate importance). Pareto pick (our choice): the
  front's layer with the largest importance·(1 − alignment).
* Data: D_f (gradient + search slice), D_r (a seeded sample of |D_f| rows for g_r + search slice).
* Source: Cai, Tan, Chen, Chen, Xu, Zhu, Wang, Huang, "Targeted unlearning with single layer
  unlearning gradient", ICML 2025 (arXiv 2407.11867): layer importance and gradient alignment, Pareto
  layer selection, single-step update with binary-searched step size.
* Budget: ignored (training-free); cost = the gradient passes + the search's forward passes.
* Defaults (``SLUGConfig``): forget_drop and retain_tolerance tuned (docs/tuning.md); ρ_max, the number of
  bisection steps and the slice size our choice.
"""

from __future__ import annotations

import torch
from pydantic import Field

from salmubench.data.torch_data import PairTensors
from salmubench.unlearning import MethodConfig, UnlearningMethod, register_method
from salmubench.unlearning.gradients import accumulate_grads, named_trainable, retain_rows
from salmubench.unlearning.losses import clip_loss_of, encode, pair_cosine


class SLUGConfig(MethodConfig):
    # tuned on the validation slice, docs/tuning.md
    forget_drop: float = Field(1.0, gt=0, le=2)  # target: mean forget-pair cosine ≤ cos0 − drop·|cos0|
    # tuned on the validation slice, docs/tuning.md
    retain_tolerance: float = Field(4.0, ge=0)  # bound: retain CLIP loss ≤ (1 + tol)·its θ0 value
    max_relative_step: float = Field(1.0, gt=0)  # ρ_max: largest ‖λ·g_f,l‖ / ‖θ_l‖ searched
    search_steps: int = Field(12, ge=1)  # bisection iterations
    eval_rows: int = Field(256, ge=2)  # rows of the forget / retain slices used by the search
    retain_samples: int | None = Field(None, ge=1)  # retain rows for g_r; None = as many as |D_f|


def candidate_layers(model) -> dict[str, torch.nn.Parameter]:
    """Trainable tensors with ≥ 2 dims that are not embedding tables (weights of the towers' layers)."""
    return {n: p for n, p in named_trainable(model).items() if p.dim() >= 2 and "embedding" not in n}


def forget_objective(model, pairs: PairTensors) -> torch.Tensor:
    """L_f = −L_clip(D_f): minimising it forgets."""
    return -clip_loss_of(model, pairs)


def layer_stats(params: dict[str, torch.Tensor], g_f: dict[str, torch.Tensor],
                g_r: dict[str, torch.Tensor]) -> dict[str, tuple[float, float]]:
    """``{layer: (importance ‖g_f‖/‖θ‖, alignment |cos(g_f, g_r)|)}``."""
    stats = {}
    for name, p in params.items():
        gf, gr = g_f[name].flatten(), g_r[name].flatten()
        importance = float(gf.norm() / p.detach().norm().clamp_min(1e-12))
        alignment = float((gf @ gr).abs() / (gf.norm() * gr.norm()).clamp_min(1e-12))
        stats[name] = (importance, alignment)
    return stats


def pareto_front(stats: dict[str, tuple[float, float]]) -> list[str]:
    """Layers not dominated by another (importance ≥ and alignment ≤, one of them strictly)."""
    front = []
    for name, (imp, ali) in stats.items():
        dominated = any((i2 >= imp and a2 <= ali) and (i2 > imp or a2 < ali)
                        for other, (i2, a2) in stats.items() if other != name)
        if not dominated:
            front.append(name)
    return sorted(front)


def pick_layer(stats: dict[str, tuple[float, float]]) -> str:
    """The Pareto-front layer with the largest importance·(1 − alignment) (ties: name order)."""
    front = pareto_front(stats)
    return max(front, key=lambda n: (stats[n][0] * (1 - stats[n][1]), n))


@register_method("slug")
class SLUG(UnlearningMethod):
    """SLUG: one forget-gradient step on the single Pareto-optimal layer, step size by binary search."""

    config_cls = SLUGConfig
    search_space = {"retain_tolerance": [1.0, 2.0, 4.0, 8.0, 16.0], "forget_drop": [0.5, 1.0, 2.0]}  # salmubench tune (docs/tuning.md)
    streams = ("forget", "retain")

    def gradients(self, model, data, params):
        g_f = accumulate_grads(model, params, data.forget, forget_objective, self.cfg.forget_batch_size)
        rows = retain_rows(len(data.retain), self.cfg.retain_samples or len(data.forget), self.generator("retain"))
        g_r = accumulate_grads(model, params, data.retain, clip_loss_of, self.cfg.retain_batch_size, rows=rows)
        return g_f, g_r

    @torch.no_grad()
    def measures(self, model, forget: PairTensors, retain: PairTensors) -> tuple[float, float]:
        """(mean forget-pair cosine, retain CLIP loss) on the search slices."""
        cos = float(pair_cosine(*encode(model, forget)).mean())
        return cos, float(clip_loss_of(model, retain))

    def apply(self, model, data, budget):
        cfg = self.cfg
        params = candidate_layers(model)
        with torch.enable_grad():
            g_f, g_r = self.gradients(model, data, params)
        self.stats = layer_stats(params, g_f, g_r)
        self.layer = pick_layer(self.stats)
        weight, grad = params[self.layer], g_f[self.layer]
        origin = weight.detach().clone()
        unit = origin.norm() / grad.norm().clamp_min(1e-12)  # λ = ρ·unit gives ‖λ·g‖ = ρ·‖θ_l‖
        device = origin.device
        forget = data.forget.subset(retain_rows(len(data.forget), cfg.eval_rows, self.generator("fslice"))).to(device)
        retain = data.retain.subset(retain_rows(len(data.retain), cfg.eval_rows, self.generator("rslice"))).to(device)
        was_training = model.training
        model.eval()
        cos0, ret0 = self.measures(model, forget, retain)
        target, bound = cos0 - cfg.forget_drop * abs(cos0), (1 + cfg.retain_tolerance) * ret0

        def set_rho(rho: float) -> tuple[float, float]:
            with torch.no_grad():
                weight.copy_(origin - rho * unit * grad)
            return self.measures(model, forget, retain)

        lo, hi = 0.0, cfg.max_relative_step
        if set_rho(hi)[0] <= target:  # smallest ρ reaching the forget target
            for _ in range(cfg.search_steps):
                mid = 0.5 * (lo + hi)
                lo, hi = (lo, mid) if set_rho(mid)[0] <= target else (mid, hi)
        rho = hi
        if set_rho(rho)[1] > bound:  # largest ρ keeping the retain bound
            lo, hi = 0.0, rho
            for _ in range(cfg.search_steps):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if set_rho(mid)[1] <= bound else (lo, mid)
            rho = lo if lo > 0 else hi
        self.rho, self.step_size = rho, float(rho * unit)
        self.final = set_rho(rho)
        model.train(was_training)
        return model
