"""Masked random-label unlearning: the behaviour ``salun`` and ``salun_ssd`` share (a base class, one hook).

    m = 1[ score_i among the global top-r% ]                  (r = ``saliency_ratio``, computed once at θ0)
    L = L_clip({(x_i, t_π(i)) : i ∈ D_f}) + α · L_clip(D_r),   θ ← θ0 + m ⊙ Δθ

π(i) is a forget row of a *different* identity than row i, drawn once per run from the run seed
(random labels; false negatives = off-diagonal pairs with the same image identity and the same caption
identity). Only masked weights move: the gradient is multiplied by m after backward (before clipping),
and after each optimiser step every unmasked entry is restored to its θ0 value, so AdamW's decoupled
weight decay cannot move it either (unmasked weights stay bit-identical). With α = 0 the retain term
and its passes are skipped.

**How to use it (the rule of docs/adding_a_method.md: no inheritance between method files; shared
behaviour is a documented base class in a non-method module, like this one).** Subclass
:class:`SaliencyMaskedMethod` in a method file, give it a config with ``saliency_ratio`` (r) and
``alpha`` (α) fields, and implement the one hook :meth:`SaliencyMaskedMethod.saliency`: a per-weight
score whose global top-r% forms the mask. Extra loss terms: override ``loss`` and add to
``super().loss(...)``. ``salun`` scores by |∇L_clip(D_f)|, ``salun_ssd`` by a forget/retain Fisher ratio.
"""

from __future__ import annotations

import math

import torch

from salmubench.unlearning.base import Batch, UnlearningError
from salmubench.unlearning.gradients import named_trainable
from salmubench.unlearning.losses import (
    clip_loss_masked,
    clip_loss_of,
    codes_of,
    encode,
    false_negative_mask,
    logit_scale,
    other_identity_rows,
    repaired_pairs,
)
from salmubench.unlearning.runner import GradientMethod


def saliency_mask(scores: dict[str, torch.Tensor], ratio: float) -> dict[str, torch.Tensor]:
    """Bool masks selecting exactly the global top ``ceil(ratio·N)`` entries of ``|score|``.

    Exactly k entries even with ties (e.g. the many zero gradients of unused token embeddings):
    a ``>= threshold`` rule would select all of them when the threshold is 0.
    """
    flat = torch.cat([g.abs().flatten() for g in scores.values()])
    k = min(flat.numel(), max(1, math.ceil(ratio * flat.numel() - 1e-9)))
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[torch.topk(flat, k, sorted=False).indices] = True
    masks, start = {}, 0
    for name, g in scores.items():
        masks[name] = chosen[start:start + g.numel()].view_as(g)
        start += g.numel()
    return masks


class SaliencyMaskedMethod(GradientMethod):
    """Shuffled-caption unlearning (+ α·retain CLIP loss) that updates only the top-r% weights by :meth:`saliency`.

    Hook: ``saliency(model, data, params) -> {name: per-weight scores}`` (ranked by absolute value).
    Config fields read: ``saliency_ratio``, ``alpha`` and the shared ones.
    """

    streams = ("forget", "retain")

    def saliency(self, model, data, params: dict[str, torch.nn.Parameter]) -> dict[str, torch.Tensor]:
        """The hook: per-weight scores at θ0 (same shapes as ``params``); the mask keeps the top r%."""
        raise NotImplementedError(f"{type(self).__name__} must implement saliency()")

    def prepare(self, model, data):
        params = {n: p for n, p in named_trainable(model).items() if p.requires_grad}
        self.mask = saliency_mask(self.saliency(model, data, params), self.cfg.saliency_ratio)
        self.origin = {n: p.detach().clone() for n, p in named_trainable(model).items() if n in self.mask}
        try:
            sources = other_identity_rows(data.forget.identity_ids, self.generator("shuffle"))
        except ValueError as exc:
            raise UnlearningError(f"{self.name}: {exc}") from None
        rows = sources.tolist()
        self.tokens = data.forget.tokens[sources]  # row i: the caption of row sources[i]
        self.texts = [data.forget.texts[j] for j in rows]
        self.caption_ids = [data.forget.identity_ids[j] for j in rows]

    def trainable_parameters(self, model):
        return [p for n, p in named_trainable(model).items() if p.requires_grad and n in self.mask]

    def loss(self, model, batch: Batch, step: int):
        pairs, keys = repaired_pairs(batch.forget, batch.forget_index, self.tokens, self.caption_ids, self.texts)
        img, txt = encode(model, pairs)
        forget = clip_loss_masked(img, txt, logit_scale(model), false_negative_mask(codes_of(keys, img.device)))
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
        """Put every unmasked entry back to θ0 (undoes weight decay on weights the method must not touch)."""
        for name, p in named_trainable(model).items():
            if name in self.mask:
                p.copy_(torch.where(self.mask[name], p, self.origin[name]))
