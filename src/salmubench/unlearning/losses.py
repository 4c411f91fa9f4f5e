"""Loss building blocks shared by the unlearning methods (METHODS.md notation): the one home of their maths.

f image tower, g text tower, embeddings L2-normalised; s = exp(logit_scale) (frozen by the runner);
in-batch similarity S_ij = s·⟨f(x_i), g(t_j)⟩; cosine matrix C_ij = ⟨f(x_i), g(t_j)⟩.
Same-identity off-diagonal pairs are false negatives: contrastive losses and in-batch softmaxes
mask them (their logits are -inf, so they leave the softmax denominator).

The CLIP loss itself and the false-negative mask are the training ones (``salmubench.training.losses``,
re-exported here: ``clip_loss``, ``clip_loss_masked``, ``false_negative_mask``, ``codes_of``).
Gradient and Fisher accumulation live in ``salmubench.unlearning.gradients``.

Multi-GPU (torchrun, ``unlearning.distributed``): in the runner's steps :func:`encode` gathers the
embeddings of every rank, so S, C and every contrastive loss here are over the *global* batch (B rows,
the negatives of all ranks), e.g. L_clip = ½[CE_rows(S) + CE_cols(S)] with S ∈ R^{B×B} on every rank.
Each rank's loss value equals the single-process L; its gradient is g_r = W·(∂L/∂z_r)(∂z_r/∂θ) (the
all-gather's backward sums over ranks), and the runner's all-reduce mean (1/W)·Σ_r g_r = ∂L/∂θ, the
single-process gradient of the global batch (up to float error).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from salmubench.data.torch_data import PairTensors
from salmubench.training.losses import (
    clip_loss,
    clip_loss_masked,
    codes_of,
    false_negative_mask,
    same_identity_mask,
    similarity_logits,
)
from salmubench.unlearning import distributed

__all__ = [
    "clip_loss", "clip_loss_masked", "clip_loss_of", "codes_of", "cosine_matrix", "derangement", "diag_log_probs",
    "encode", "encode_frozen", "false_negative_mask", "fused", "harness_delete_terms", "in_batch_logits", "kl_both",
    "kl_rows", "logit_scale", "masked_logits", "mse", "other_identity_rows", "pair_cosine", "repaired_pairs",
    "same_identity_mask",
]


def encode(model: nn.Module, pairs: PairTensors) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised (image, text) embeddings of ``pairs`` under ``model``: ([B, D], [B, D]).

    Inside the runner's steps under torchrun (``unlearning.distributed.sharded``) each rank embeds its
    share of the B rows and the embeddings are all-gathered with gradient, so every loss below sees the
    global batch: for every loss L built on these embeddings, each rank computes the single-process value
    L(z), its backward gives g_r = W·(∂L/∂z_r)(∂z_r/∂θ), and the runner's average (1/W)·Σ_r g_r = ∂L/∂θ
    (the derivation: ``unlearning.distributed``).
    """
    env = distributed.active()
    if env is not None:
        return (distributed.split_apply(lambda x: model.encode_image(x, normalize=True), pairs.images, env),
                distributed.split_apply(lambda t: model.encode_text(t, normalize=True), pairs.tokens, env))
    return model.encode_image(pairs.images, normalize=True), model.encode_text(pairs.tokens, normalize=True)


@torch.no_grad()
def encode_frozen(model: nn.Module, pairs: PairTensors) -> tuple[torch.Tensor, torch.Tensor]:
    """``encode`` without gradients (for the frozen teacher θ0)."""
    return encode(model, pairs)


def logit_scale(model: nn.Module) -> torch.Tensor:
    """s = exp(logit_scale), detached (the runner keeps it frozen)."""
    return model.logit_scale.detach().exp()


def clip_loss_of(model: nn.Module, pairs: PairTensors) -> torch.Tensor:
    """L_clip of ``pairs`` under ``model`` (symmetric InfoNCE, same-identity pairs masked).

    Under torchrun, in the runner's steps: L_clip of the global batch on every rank (negatives from all ranks),
    g_r = W·(∂L_clip/∂z_r)(∂z_r/∂θ), (1/W)·Σ_r g_r = ∂L_clip/∂θ (module docstring).
    """
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


def in_batch_logits(model: nn.Module, pairs: PairTensors) -> torch.Tensor:
    """S = s·⟨f(x_i), g(t_j)⟩ over the batch, same-identity off-diagonal entries at -inf: [B, B]."""
    img, txt = encode(model, pairs)
    return masked_logits(img, txt, logit_scale(model), pairs.identity_ids)


def diag_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """log π(t_i|x_i) and log π(x_i|t_i) of the matching pairs: [2, B] (rows, then columns)."""
    rows = F.log_softmax(logits, dim=1).diagonal()
    cols = F.log_softmax(logits, dim=0).diagonal()
    return torch.stack([rows, cols])


def kl_rows(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(softmax(teacher) ‖ softmax(student)); entries with p = 0 contribute 0.

    KL(p‖q) = Σ_j p_j (log p_j − log q_j), with log-softmax on both sides for stability. Masked
    teacher entries (-inf logits, p = 0) are zeroed on both sides, so neither -inf nor NaN enters.
    """
    log_p = F.log_softmax(teacher_logits, dim=-1)
    log_q = F.log_softmax(student_logits, dim=-1)
    zero = torch.isinf(log_p)
    safe_q = torch.where(zero, torch.zeros_like(log_q), log_q)
    safe_p = torch.where(zero, torch.zeros_like(log_p), log_p)
    return (log_p.exp() * (safe_p - safe_q)).sum(dim=-1).mean()


def kl_both(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """½[KL(p_T‖p_S) over rows + over columns] of two in-batch logit matrices (:func:`kl_rows` each way)."""
    return 0.5 * (kl_rows(teacher_logits, student_logits) + kl_rows(teacher_logits.T, student_logits.T))


def fused(img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
    """Multimodal embedding h = normalize((f + g) / 2) (MultiDelete's retention target)."""
    return F.normalize((img + txt) / 2, dim=-1)


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error (the distance d of MultiDelete and the authors' harness)."""
    return F.mse_loss(a, b)


def repaired_pairs(forget: PairTensors, index: torch.Tensor, tokens: torch.Tensor, caption_ids: list[str | None],
                   texts: list[str]) -> tuple[PairTensors, list[str]]:
    """A forget batch re-paired with precomputed captions (random labels), and its false-negative keys.

    Row ``r`` of the batch (forget row ``index[r]``) gets caption row ``index[r]`` of ``tokens`` /
    ``texts``, stated about identity ``caption_ids[index[r]]``. A key is "image identity|caption
    identity"; equal keys off the diagonal are false negatives (``false_negative_mask(codes_of(keys))``).
    """
    rows = index.tolist()
    keys = [f"{img_id}|{caption_ids[i]}" for img_id, i in zip(forget.identity_ids, rows, strict=True)]
    pairs = PairTensors(forget.images, tokens[index].to(forget.images.device), forget.identity_ids,
                        [texts[i] for i in rows], forget.file_names)
    return pairs, keys


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
