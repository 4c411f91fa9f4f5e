"""The attacker's fine-tuning (``relearn`` and ``benign_finetune``): CLIP loss, Adam, all weights.

``finetune(model, pairs, steps, lr, batch_size, seed)`` trains ``model`` in place for exactly
``steps`` optimizer steps:

* loss: the symmetric CLIP loss of the reference training, same-identity in-batch pairs masked
  (``training.losses.clip_loss``), at the model's own temperature; text features as the evaluator
  computes them (``encode_text_trimmed``: the batch's all-padding tail cut, exact for open_clip's CLIP);
* optimizer: ``torch.optim.Adam(lr)`` (fused where available), constant learning rate, no weight decay,
  no clipping, over
  every parameter except ``logit_scale`` / ``logit_bias`` (kept fixed, as the unlearning runner does:
  a small-batch contrastive fine-tune moves the temperature first);
* batches: seeded shuffled epochs over ``pairs`` (``torch_generator_for(seed, ...)``), the last
  partial batch dropped when ``pairs`` holds at least one batch.

The batch order depends only on the seed and the number of pairs, never on the model, so every
model (the references included) is fine-tuned on the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from salmubench.data.tables import SplitTable
from salmubench.data.torch_data import PairTensors, iter_batches, tensorize
from salmubench.evaluation.embed import encode_text_trimmed
from salmubench.execution import autocast
from salmubench.seeding import torch_generator_for
from salmubench.training.losses import clip_loss

FROZEN = ("logit_scale", "logit_bias")


def batch_plan(n: int, steps: int, batch_size: int, seed: int) -> list[torch.Tensor]:
    """The index batch of every step: seeded shuffled epochs of ``range(n)`` (partial batches dropped
    when ``n >= batch_size``)."""
    if n <= 0:
        raise ValueError("batch_plan: no rows to fine-tune on")
    gen = torch_generator_for(seed, "batches")
    drop = n >= batch_size
    out: list[torch.Tensor] = []
    while len(out) < steps:
        out += list(iter_batches(n, batch_size, generator=gen, shuffle=True, drop_last=drop))
    return out[:steps]


def compact_plan(plan: Sequence[torch.Tensor]) -> tuple[list[int], list[torch.Tensor]]:
    """(the rows a plan reads, sorted; the plan over their positions in that list): fine-tuning on
    ``pairs.subset(rows)`` with the second plan reads the same pairs in the same order, so only the
    rows of the plan need decoding (relearn: 640 of ~3,000 R rows)."""
    rows = sorted({int(r) for index in plan for r in index.tolist()})
    where = torch.full((rows[-1] + 1 if rows else 0,), -1, dtype=torch.long)
    where[torch.tensor(rows, dtype=torch.long)] = torch.arange(len(rows))
    return rows, [where[index] for index in plan]


def gather(tables: Sequence[SplitTable], rows: Sequence[int], preprocess: Callable, tokenizer: Callable
           ) -> PairTensors:
    """Pairs of the given global rows of the concatenated ``tables`` (tables in order), only those rows
    decoded (so sampling a few hundred of 13k general pairs decodes a few hundred images)."""
    parts, offset, wanted = [], 0, sorted(set(int(r) for r in rows))
    for table in tables:
        local = [r - offset for r in wanted if offset <= r < offset + len(table)]
        if local:
            parts.append(tensorize(table.take(local), preprocess, tokenizer))
        offset += len(table)
    if len(parts) == 1:
        return parts[0]
    return PairTensors(images=torch.cat([p.images for p in parts]), tokens=torch.cat([p.tokens for p in parts]),
                       identity_ids=[i for p in parts for i in p.identity_ids], texts=[t for p in parts for t in p.texts],
                       file_names=[f for p in parts for f in p.file_names])


def make_adam(params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """Adam (no weight decay), fused when torch supports it for these tensors (same update, ~6x faster
    step on CPU than the per-tensor loop)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.Adam(params, lr=lr)


def finetune(model: nn.Module, pairs: PairTensors, plan: Sequence[torch.Tensor], lr: float,
             on_step: Callable[[int, int], None] | None = None, precision: str = "fp32") -> list[float]:
    """Train ``model`` in place on ``pairs`` with one Adam step per index batch of ``plan``; returns losses.

    ``precision="bf16"`` (CUDA only) computes the loss under autocast; backward and the Adam step (fp32
    weights and states) run outside it. fp32: no autocast context at all."""
    frozen = {n: p.requires_grad for n, p in model.named_parameters() if n in FROZEN}
    params = [p for n, p in model.named_parameters() if n not in FROZEN]
    for name, p in model.named_parameters():
        p.requires_grad_(name not in FROZEN)
    optimizer = make_adam(params, lr)
    device = next(model.parameters()).device
    scale = model.logit_scale.detach().exp()
    losses = []
    model.train()
    try:
        for step, index in enumerate(plan):
            rows = index.tolist()
            with autocast(precision, device):
                img = model.encode_image(pairs.images[index].to(device), normalize=True)
                # the batch's all-padding tail cut (exact for open_clip's CLIP: causal mask, EOT pooling)
                txt = F.normalize(encode_text_trimmed(model, pairs.tokens[index].to(device)), dim=-1)
                loss = clip_loss(img, txt, scale, [pairs.identity_ids[r] for r in rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if on_step is not None:
                on_step(step + 1, len(plan))
    finally:
        model.eval()
        for name, p in model.named_parameters():
            p.requires_grad_(frozen.get(name, True))
    return losses
