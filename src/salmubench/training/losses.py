"""The CLIP loss with false-negative masking, shared by reference training and unlearning.

CLIP loss with identity-aware masking (METHODS.md "CLIP-specific cautions"): several captions of
one identity can share a batch; those off-diagonal pairs are not negatives, so their logits are
set to -inf before the softmax (they drop out of the denominator).

    S_ij = s * <f(x_i), g(t_j)>,   L_clip = 1/2 [ CE_rows(S) + CE_cols(S) ]   (Radford et al., 2021)

One body each: :func:`false_negative_mask` (from integer codes), :func:`clip_loss_masked` (from a
mask). :func:`same_identity_mask` and :func:`clip_loss` are their forms for identity-id strings.
Unlearning imports these; its own building blocks live in ``salmubench.unlearning.losses``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch
import torch.nn.functional as F


def codes_of(values: Sequence[Hashable | None], device: torch.device | str = "cpu") -> torch.Tensor:
    """Integer code per row: equal values get equal codes >= 0; ``None`` and ``""`` get -1 (match nothing)."""
    table: dict[Hashable, int] = {}
    return torch.tensor([-1 if v is None or v == "" else table.setdefault(v, len(table)) for v in values],
                        dtype=torch.long, device=device)


def false_negative_mask(*codes: torch.Tensor) -> torch.Tensor:
    """Bool [B, B]: True where i != j and rows i, j share a code (>= 0) in any of ``codes``.

    ``false_negative_mask(identity_codes)`` masks same-identity pairs; adding caption codes also masks
    pairs with an identical caption (e.g. generic captions, which repeat across images).
    """
    mask = torch.zeros((codes[0].shape[0],) * 2, dtype=torch.bool, device=codes[0].device)
    for c in codes:
        mask |= (c[:, None] == c[None, :]) & (c[:, None] >= 0)
    return mask.fill_diagonal_(False)


def same_identity_mask(identity_ids: Sequence[str | None], device: torch.device | str = "cpu") -> torch.Tensor:
    """Bool [B, B]: True where i != j and both rows show the same (non-empty) identity."""
    return false_negative_mask(codes_of(identity_ids, device))


def similarity_logits(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float,
                      false_negatives: torch.Tensor | None = None) -> torch.Tensor:
    """S = s * image_emb @ text_emb.T (inputs L2-normalised), false negatives set to -inf."""
    logits = logit_scale * image_emb @ text_emb.T
    if false_negatives is not None:
        logits = logits.masked_fill(false_negatives, float("-inf"))
    return logits


def clip_loss_masked(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float,
                     false_negatives: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE over the batch; True entries of ``false_negatives`` leave the softmax."""
    logits = similarity_logits(image_emb, text_emb, logit_scale, false_negatives)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float,
              identity_ids: Sequence[str | None] | None = None) -> torch.Tensor:
    """:func:`clip_loss_masked` with same-identity off-diagonal pairs masked out (none if no ids)."""
    mask = same_identity_mask(identity_ids, image_emb.device) if identity_ids is not None else None
    return clip_loss_masked(image_emb, text_emb, logit_scale, mask)
