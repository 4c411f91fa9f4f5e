"""Private helpers shared by the field's methods (not a method: the leading ``_`` keeps it unregistered).

* in-batch softmaxes with same-identity false negatives masked (NPO, SCRUB);
* gradient accumulation over the forget / retain sets at a fixed point (SalUn's saliency, SSD's Fisher
  diagonals, SLUG's single gradients, first-order label correction), with the cost meter counting the
  passes because they go through the watched model's towers;
* named trainable parameters (everything but the frozen logit scale / bias).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from salmubench.data.torch_data import PairTensors, iter_batches
from salmubench.unlearning.losses import encode, logit_scale, masked_logits
from salmubench.unlearning.runner import FROZEN_PARAMETERS

Grads = dict[str, torch.Tensor]


def named_trainable(model: nn.Module) -> dict[str, nn.Parameter]:
    """``{name: parameter}`` of every parameter a method may change (not the logit scale / bias)."""
    return {n: p for n, p in model.named_parameters() if n not in FROZEN_PARAMETERS}


def in_batch_logits(model: nn.Module, pairs: PairTensors) -> torch.Tensor:
    """S = s·⟨f(x_i), g(t_j)⟩ over the batch, same-identity off-diagonal entries at -inf: [B, B]."""
    img, txt = encode(model, pairs)
    return masked_logits(img, txt, logit_scale(model), pairs.identity_ids)


def diag_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """log π(t_i|x_i) and log π(x_i|t_i) of the matching pairs: [2, B] (rows, then columns)."""
    rows = F.log_softmax(logits, dim=1).diagonal()
    cols = F.log_softmax(logits, dim=0).diagonal()
    return torch.stack([rows, cols])


def kl_both(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """½[KL(p_T‖p_S) over rows + over columns] of two in-batch logit matrices (-inf entries skipped).

    KL(p‖q) = Σ_j p_j (log p_j − log q_j), computed with log_softmax on both sides.
    """
    return 0.5 * (kl_masked(teacher_logits, student_logits) + kl_masked(teacher_logits.T, student_logits.T))


def kl_masked(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(softmax(teacher) ‖ softmax(student)); entries with p = 0 contribute 0."""
    log_p = F.log_softmax(teacher_logits, dim=-1)
    log_q = F.log_softmax(student_logits, dim=-1)
    zero = torch.isinf(log_p)
    safe_q = torch.where(zero, torch.zeros_like(log_q), log_q)
    safe_p = torch.where(zero, torch.zeros_like(log_p), log_p)
    return (log_p.exp() * (safe_p - safe_q)).sum(dim=-1).mean()


def index_batches(n: int, batch_size: int, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
    """Batches over ``range(n)``: in order without a generator, seeded shuffled with one."""
    return iter_batches(n, batch_size, generator=generator, shuffle=generator is not None)


def retain_rows(n_retain: int, n_wanted: int, generator: torch.Generator) -> torch.Tensor:
    """A seeded sample of ``min(n_retain, n_wanted)`` retain row indices (without replacement)."""
    return torch.randperm(n_retain, generator=generator)[:min(n_retain, n_wanted)]


def accumulate_grads(model: nn.Module, params: dict[str, nn.Parameter], pairs: PairTensors,
                     loss_fn: Callable[[nn.Module, PairTensors], torch.Tensor], batch_size: int,
                     rows: torch.Tensor | None = None, square: bool = False) -> Grads:
    """Mean over batches of ∇loss (or of (∇loss)² when ``square``) at the current parameters.

    Args:
        model: the model (its towers are watched by the cost meter, so passes are counted).
        params: the parameters to differentiate (``named_trainable``).
        pairs: the data; ``rows`` restricts it to those row indices (in order).
        loss_fn: ``loss_fn(model, batch_pairs) -> scalar``.
        batch_size: rows per batch.
        square: accumulate squared batch gradients (a diagonal empirical Fisher, as in SSD).
    """
    device = next(model.parameters()).device
    out = {n: torch.zeros_like(p) for n, p in params.items()}
    index = rows if rows is not None else torch.arange(len(pairs))
    names, tensors = list(params), list(params.values())
    batches = 0
    was_training = model.training
    model.eval()
    try:
        for chunk in torch.split(index, batch_size):
            sub = pairs.subset(chunk)
            sub = PairTensors(sub.images.to(device), sub.tokens.to(device), sub.identity_ids, sub.texts,
                              sub.file_names)
            grads = torch.autograd.grad(loss_fn(model, sub), tensors, allow_unused=True)
            for name, g in zip(names, grads, strict=True):
                if g is not None:
                    out[name] += g.square() if square else g
            batches += 1
    finally:
        model.train(was_training)
    return {n: g / max(1, batches) for n, g in out.items()}


def forget_retain_fishers(model: nn.Module, params: dict[str, nn.Parameter], data, forget_batch_size: int,
                          retain_batch_size: int, retain_samples: int | None,
                          generator: torch.Generator) -> tuple[Grads, Grads | None]:
    """Diagonal empirical Fishers of the CLIP loss: (I_{D_f} over all of D_f, I_{D_r} over a seeded sample).

    The retain sample is ``retain_samples`` rows (``None``: as many as |D_f|) drawn with ``generator``;
    I_{D_r} is None when there is no retain data. Used by SSD and ``salun_ssd``.
    """
    from salmubench.unlearning.losses import clip_loss_of

    i_f = accumulate_grads(model, params, data.forget, clip_loss_of, forget_batch_size, square=True)
    if len(data.retain) == 0:
        return i_f, None
    rows = retain_rows(len(data.retain), retain_samples or len(data.forget), generator)
    i_r = accumulate_grads(model, params, data.retain, clip_loss_of, retain_batch_size, rows=rows, square=True)
    return i_f, i_r
