"""Loss building blocks shared by the unlearning methods (METHODS.md notation).

f image tower, g text tower, embeddings L2-normalised; s = exp(logit_scale) (frozen by the runner);
in-batch similarity S_ij = s·⟨f(x_i), g(t_j)⟩; cosine matrix C_ij = ⟨f(x_i), g(t_j)⟩.
Same-identity off-diagonal pairs are false negatives: contrastive losses and in-batch softmaxes
mask them (their logits are -inf, so they leave the softmax denominator).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from salmubench.data.torch_data import PairTensors
from salmubench.training.losses import clip_loss, same_identity_mask, similarity_logits


def encode(model: nn.Module, pairs: PairTensors) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised (image, text) embeddings of ``pairs`` under ``model``: ([B, D], [B, D])."""
    return model.encode_image(pairs.images, normalize=True), model.encode_text(pairs.tokens, normalize=True)


@torch.no_grad()
def encode_frozen(model: nn.Module, pairs: PairTensors) -> tuple[torch.Tensor, torch.Tensor]:
    """``encode`` without gradients (for the frozen teacher θ0)."""
    return encode(model, pairs)


def logit_scale(model: nn.Module) -> torch.Tensor:
    """s = exp(logit_scale), detached (the runner keeps it frozen)."""
    return model.logit_scale.detach().exp()


def clip_loss_of(model: nn.Module, pairs: PairTensors) -> torch.Tensor:
    """L_clip of ``pairs`` under ``model`` (symmetric InfoNCE, same-identity pairs masked)."""
    img, txt = encode(model, pairs)
    return clip_loss(img, txt, logit_scale(model), pairs.identity_ids)


def cosine_matrix(img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
    """C = img @ txt.T for L2-normalised embeddings: [B, B] in-batch cosine similarities."""
    return img @ txt.T


def pair_cosine(img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
    """cos(f(x_i), g(t_i)) per row: [B]."""
    return (img * txt).sum(dim=-1)


def masked_logits(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor | float,
                  identity_ids: Sequence[str | None] | None) -> torch.Tensor:
    """S with same-identity off-diagonal entries set to -inf (image→text rows)."""
    mask = same_identity_mask(identity_ids, img.device) if identity_ids is not None else None
    return similarity_logits(img, txt, scale, mask)


def kl_rows(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(softmax(teacher) ‖ softmax(student)); -inf entries (masked) are skipped.

    KL(p‖q) = Σ_j p_j (log p_j − log q_j), with log-softmax on both sides for stability.
    """
    log_p = F.log_softmax(teacher_logits, dim=-1)
    log_q = F.log_softmax(student_logits, dim=-1)
    terms = torch.where(torch.isinf(teacher_logits), torch.zeros_like(log_p), log_p.exp() * (log_p - log_q))
    return terms.sum(dim=-1).mean()


def fused(img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
    """Multimodal embedding h = normalize((f + g) / 2) (MultiDelete's retention target)."""
    return F.normalize((img + txt) / 2, dim=-1)


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error (the distance d of MultiDelete and the authors' harness)."""
    return F.mse_loss(a, b)
