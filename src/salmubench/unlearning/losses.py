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


def false_negative_mask(identity_ids: Sequence[str | None], texts: Sequence[str] | None = None,
                        device: torch.device | str = "cpu") -> torch.Tensor:
    """Bool [B, B], True off the diagonal where rows share an identity or (if given) an identical text.

    Identical texts matter for generic captions ("a photo of a person"), which repeat across rows.
    """
    mask = same_identity_mask(identity_ids, device)
    if texts is not None:
        codes: dict[str, int] = {}
        ids = torch.tensor([codes.setdefault(t, len(codes)) for t in texts], device=device)
        same_text = ids[:, None] == ids[None, :]
        same_text.fill_diagonal_(False)
        mask = mask | same_text
    return mask


def clip_loss_masked(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor | float,
                     false_negatives: torch.Tensor | None) -> torch.Tensor:
    """Symmetric InfoNCE with an explicit false-negative mask (True entries leave the softmax)."""
    logits = similarity_logits(img, txt, scale, false_negatives)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def derangement(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random permutation of ``range(n)`` with no fixed point (identity when n == 1)."""
    perm = torch.randperm(n, generator=generator)
    out = torch.empty(n, dtype=torch.long)
    out[perm] = perm.roll(-1)  # each element maps to the next one of a random cycle
    return out


def other_identity_rows(identity_ids: Sequence[str | None], generator: torch.Generator,
                        max_rounds: int = 100) -> torch.Tensor:
    """For each row i, a random row j whose identity differs from row i's (LongTensor [N]).

    Rows without identity count as their own identity. Raises ValueError if all rows share one.
    """
    codes: dict[str, int] = {}
    ids = torch.tensor([codes.setdefault(i, len(codes)) if i else -1 - k for k, i in enumerate(identity_ids)])
    n = len(ids)
    if n == 0 or bool((ids == ids[0]).all()):
        raise ValueError("every row has the same identity: no caption of another identity exists")
    src = torch.randint(n, (n,), generator=generator)
    for _ in range(max_rounds):
        clash = ids[src] == ids
        if not clash.any():
            return src
        src[clash] = torch.randint(n, (int(clash.sum()),), generator=generator)
    for i in torch.nonzero(ids[src] == ids).flatten().tolist():  # pathological imbalance: scan
        others = torch.nonzero(ids != ids[i]).flatten()
        src[i] = others[torch.randint(len(others), (1,), generator=generator)]
    return src


def harness_delete_terms(model, teacher, batch, forget_weight: float, retain_weight: float):
    """The SALMUBench harness's DELETE terms on a batch, plus both models' retain embeddings.

    forget_loss = λ_f · MSE(C_θ(D_f), 0);  retain_loss = λ_r · MSE(C_θ(D_r), C_θ0(D_r)).
    Shared by ``delete_salmu`` and ``cliperase_salmu``. Returns (terms, (f_θ, g_θ), (f_θ0, g_θ0)).
    """
    c_f = cosine_matrix(*encode(model, batch.forget))
    img_r, txt_r = encode(model, batch.retain)
    img_r0, txt_r0 = encode_frozen(teacher, batch.retain)
    terms = {
        "forget_loss": forget_weight * mse(c_f, torch.zeros_like(c_f)),
        "retain_loss": retain_weight * mse(cosine_matrix(img_r, txt_r), cosine_matrix(img_r0, txt_r0)),
    }
    return terms, (img_r, txt_r), (img_r0, txt_r0)
