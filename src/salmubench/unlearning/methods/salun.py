"""SalUn (saliency unlearning): random-label (shuffled-caption) unlearning restricted to salient weights.

    m = 1[ |∇_θ L_clip(D_f; θ0)| ≥ top-r% threshold ]         (one global threshold, computed once)
    L = L_clip({(x_i, t_π(i)) : i ∈ D_f}) + α · L_clip(D_r),    θ ← θ0 + m ⊙ Δθ

π(i) is a forget row of a *different* identity than row i, drawn once per run from the run seed (the
random-label base loss of SalUn; false negatives = off-diagonal pairs with the same image identity and
the same caption identity). Only masked weights move: the gradient is multiplied by m after backward
(before clipping), and after each optimiser step every unmasked entry is restored to its θ0 value, so
AdamW's decoupled weight decay cannot move it either (unmasked weights stay bit-identical).

* Data: D_f (saliency pass + re-paired captions), D_r.
* Source: Fan, Liu, Zhang, Wei, Wong, Liu, "SalUn: Empowering machine unlearning via gradient-based
  weight saliency in both image classification and generation", ICLR 2024 (eq. 6-7: saliency mask from
  the forgetting loss gradient at θ0, hard threshold; random labelling as the base unlearning loss).
* Saliency loss (our adaptation): L_f = the CLIP loss of the forget pairs, averaged over forget batches of
  ``forget_batch_size`` (one pass over D_f at θ0; its passes are counted in the cost).
* Defaults: r = 25% (tuned; the paper's default is 50%), α = 1, lr 6e-4 (tuned). The threshold is global over all
  trainable parameters (the logit scale is frozen and never masked in).
* Tuned defaults (validation slice, docs/tuning.md): lr = 6e-4, saliency_ratio = 0.25.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field

from salmubench.data.torch_data import PairTensors
from salmubench.unlearning.base import Batch, GradientMethod, MethodConfig, UnlearningError
from salmubench.unlearning.losses import (
    clip_loss_masked,
    clip_loss_of,
    encode,
    false_negative_mask,
    logit_scale,
    other_identity_rows,
)
from salmubench.unlearning.methods._field_utils import accumulate_grads, named_trainable
from salmubench.unlearning.registry import register_method


class SalUnConfig(MethodConfig):
    lr: float = Field(6e-4, gt=0)  # tuned on the validation slice, docs/tuning.md
    # tuned on the validation slice, docs/tuning.md
    saliency_ratio: float = Field(0.25, gt=0, le=1)  # r: share of weights (global top-r of |∇L_f|) that may change
    alpha: float = Field(1.0, ge=0)  # α: weight of the retain CLIP loss


def saliency_mask(grads: dict[str, torch.Tensor], ratio: float) -> dict[str, torch.Tensor]:
    """Bool masks selecting exactly the global top ``ceil(ratio·N)`` entries of ``|g|``.

    Exactly k entries even with ties (e.g. the many zero gradients of unused token embeddings):
    a ``>= threshold`` rule would select all of them when the threshold is 0.
    """
    flat = torch.cat([g.abs().flatten() for g in grads.values()])
    k = min(flat.numel(), max(1, math.ceil(ratio * flat.numel() - 1e-9)))
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[torch.topk(flat, k, sorted=False).indices] = True
    masks, start = {}, 0
    for name, g in grads.items():
        masks[name] = chosen[start:start + g.numel()].view_as(g)
        start += g.numel()
    return masks


@register_method("salun")
class SalUn(GradientMethod):
    """SalUn: shuffled-caption unlearning + retain CLIP loss, updating only the top-r% salient weights."""

    config_cls = SalUnConfig
    streams = ("forget", "retain")

    def prepare(self, model, data):
        self.build_mask(model, data)
        self.origin = {n: p.detach().clone() for n, p in named_trainable(model).items() if n in self.mask}
        try:
            sources = other_identity_rows(data.forget.identity_ids, self.generator("shuffle"))
        except ValueError as exc:
            raise UnlearningError(f"salun: {exc}") from None
        rows = sources.tolist()
        self.tokens = data.forget.tokens[sources]
        self.texts = [data.forget.texts[j] for j in rows]
        self.caption_ids = [data.forget.identity_ids[j] for j in rows]

    def build_mask(self, model, data) -> None:
        """``self.mask``: the global top-r% of :meth:`saliency` over the trainable weights."""
        params = {n: p for n, p in named_trainable(model).items() if p.requires_grad}
        self.mask = saliency_mask(self.saliency(model, data, params), self.cfg.saliency_ratio)

    def saliency(self, model, data, params: dict[str, torch.nn.Parameter]) -> dict[str, torch.Tensor]:
        """Per-weight saliency (ranked by absolute value): ∇_θ L_clip(D_f; θ0), one pass over D_f."""
        return accumulate_grads(model, params, data.forget, clip_loss_of, self.cfg.forget_batch_size)

    def trainable_parameters(self, model):
        return [p for n, p in named_trainable(model).items() if p.requires_grad and n in self.mask]

    def shuffled(self, forget: PairTensors, index: torch.Tensor) -> tuple[PairTensors, list[str]]:
        rows = index.tolist()
        keys = [f"{img}|{self.caption_ids[i]}" for img, i in zip(forget.identity_ids, rows, strict=True)]
        pairs = PairTensors(forget.images, self.tokens[index].to(forget.images.device), forget.identity_ids,
                            [self.texts[i] for i in rows], forget.file_names)
        return pairs, keys

    def loss(self, model, batch: Batch, step: int):
        pairs, keys = self.shuffled(batch.forget, batch.forget_index)
        img, txt = encode(model, pairs)
        forget = clip_loss_masked(img, txt, logit_scale(model), false_negative_mask(keys, device=img.device))
        if self.cfg.alpha == 0:  # no retain term: skip its forward/backward passes
            return {"forget_loss": forget}
        return {"forget_loss": forget, "retain_loss": self.cfg.alpha * clip_loss_of(model, batch.retain)}

    def on_after_backward(self, model):
        for name, p in named_trainable(model).items():
            if p.grad is not None and name in self.mask:
                p.grad.mul_(self.mask[name])

    def train_step(self, model, batch, step, ctx):
        terms = self.loss(model, batch, step)
        ctx.backward_and_step(terms)
        self.restore_unmasked(model)
        return terms

    @torch.no_grad()
    def restore_unmasked(self, model) -> None:
        """Put every unmasked entry back to θ0 (undoes weight decay on weights SalUn must not touch)."""
        for name, p in named_trainable(model).items():
            if name in self.mask:
                p.copy_(torch.where(self.mask[name], p, self.origin[name]))
