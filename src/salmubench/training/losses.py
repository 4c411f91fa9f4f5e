"""Contrastive building blocks shared by reference training and unlearning.

CLIP loss with identity-aware masking (METHODS.md "CLIP-specific cautions"): several captions of
one identity can share a batch; those off-diagonal pairs are not negatives, so their logits are
set to -inf before the softmax (they drop out of the denominator).

    S_ij = s * <f(x_i), g(t_j)>,   L_clip = 1/2 [ CE_rows(S) + CE_cols(S) ]   (Radford et al., 2021)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def same_identity_mask(identity_ids: Sequence[str | None], device: torch.device | str = "cpu") -> torch.Tensor:
    """Bool [B, B]: True where i != j and both rows show the same (non-null) identity."""
    codes = {}
    ids = torch.tensor([codes.setdefault(i, len(codes)) if i else -1 - k for k, i in enumerate(identity_ids)],
                       device=device)
    mask = ids[:, None] == ids[None, :]
    mask.fill_diagonal_(False)
    return mask


def similarity_logits(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float,
                      false_negatives: torch.Tensor | None = None) -> torch.Tensor:
    """S = s * image_emb @ text_emb.T (inputs L2-normalised), false negatives set to -inf."""
    logits = logit_scale * image_emb @ text_emb.T
    if false_negatives is not None:
        logits = logits.masked_fill(false_negatives, float("-inf"))
    return logits


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float,
              identity_ids: Sequence[str | None] | None = None) -> torch.Tensor:
    """Symmetric InfoNCE over the batch with same-identity off-diagonal pairs masked out."""
    mask = same_identity_mask(identity_ids, image_emb.device) if identity_ids is not None else None
    logits = similarity_logits(image_emb, text_emb, logit_scale, mask)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def false_negative_mask(codes: torch.Tensor) -> torch.Tensor:
    """Bool [B, B] from integer identity codes (-1 = no identity): True where i != j, same identity.

    Tensor form of :func:`same_identity_mask` for training loops (no Python loop per batch).
    """
    mask = (codes[:, None] == codes[None, :]) & (codes[:, None] >= 0)
    return mask.fill_diagonal_(False)


def clip_loss_masked(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float,
                     false_negatives: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`clip_loss` with a precomputed false-negative mask (see :func:`false_negative_mask`)."""
    logits = similarity_logits(image_emb, text_emb, logit_scale, false_negatives)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
