"""Gradient and Fisher helpers of the training-free and masked methods (SalUn, SSD, SLUG, ...).

Every pass goes through the model's towers, so the cost meter watching the model counts it.

* :func:`named_trainable`: the parameters a method may change (all but the frozen logit scale / bias);
* :func:`accumulate_grads`: the mean over batches of ∇loss, or of (∇loss)² (a diagonal empirical
  Fisher, as in SSD), at the current parameters;
* :func:`forget_retain_fishers`: the Fishers of the CLIP loss on D_f and on a seeded retain sample;
* :func:`retain_rows`: a seeded sample of row indices.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from salmubench.data.torch_data import PairTensors
from salmubench.unlearning.distributed import all_reduce_mean, process_group
from salmubench.unlearning.losses import clip_loss_of

FROZEN_PARAMETERS = ("logit_scale", "logit_bias")  # never trained by any method (the runner freezes them)
Grads = dict[str, torch.Tensor]


def named_trainable(model: nn.Module) -> dict[str, nn.Parameter]:
    """``{name: parameter}`` of every parameter a method may change (not the logit scale / bias)."""
    return {n: p for n, p in model.named_parameters() if n not in FROZEN_PARAMETERS}


def retain_rows(n_retain: int, n_wanted: int, generator: torch.Generator) -> torch.Tensor:
    """A seeded sample of ``min(n_retain, n_wanted)`` row indices (without replacement)."""
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

    Under torchrun (a joined process group of W > 1 ranks) rank r takes batches r, r+W, ... and the
    per-batch sums are added over ranks in one flat all-reduce: every rank returns the single-process
    mean (1/K)·Σ_k ∇L_k over all K batches (up to float summation order).
    """
    device = next(model.parameters()).device
    out = {n: torch.zeros_like(p) for n, p in params.items()}
    index = rows if rows is not None else torch.arange(len(pairs))
    names, tensors = list(params), list(params.values())
    batches = 0
    env = process_group()
    chunks = torch.split(index, batch_size)
    was_training = model.training
    model.eval()
    try:
        for chunk in chunks[env.rank::env.world_size]:
            sub = pairs.subset(chunk).to(device)
            grads = torch.autograd.grad(loss_fn(model, sub), tensors, allow_unused=True)
            for name, g in zip(names, grads, strict=True):
                if g is not None:
                    out[name] += g.square() if square else g
            batches += 1
    finally:
        model.train(was_training)
    if env.world_size > 1:
        all_reduce_mean(list(out.values()), env.world_size, mean=False)
        batches = len(chunks)
    return {n: g / max(1, batches) for n, g in out.items()}


def forget_retain_fishers(model: nn.Module, params: dict[str, nn.Parameter], data, forget_batch_size: int,
                          retain_batch_size: int, retain_samples: int | None,
                          generator: torch.Generator) -> tuple[Grads, Grads | None]:
    """Diagonal empirical Fishers of the CLIP loss: (I_{D_f} over all of D_f, I_{D_r} over a seeded sample).

    The retain sample is ``retain_samples`` rows (``None``: as many as |D_f|) drawn with ``generator``;
    I_{D_r} is None when there is no retain data. Used by SSD and ``salun_ssd``.
    """
    i_f = accumulate_grads(model, params, data.forget, clip_loss_of, forget_batch_size, square=True)
    if len(data.retain) == 0:
        return i_f, None
    rows = retain_rows(len(data.retain), retain_samples or len(data.forget), generator)
    i_r = accumulate_grads(model, params, data.retain, clip_loss_of, retain_batch_size, rows=rows, square=True)
    return i_f, i_r
