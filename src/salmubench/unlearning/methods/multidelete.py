"""VLUnlearn / MultiDelete (Cheng & Amiri, ECCV 2024), MSE version as in the SALMUBench harness.

    L = λ_md · d(C_θ(x_f, t_f), C_θ0(x_f, t_π(f)))                       modality decoupling
      + λ_mm · d(h_θ(D_r), h_θ0(D_r)),   h = normalize((f + g) / 2)        multimodal retention
      + λ_um · [d(f_θ(D_r), f_θ0(D_r)) + d(g_θ(D_r), g_θ0(D_r))]          unimodal retention

C is the in-batch cosine matrix (C_ij = ⟨f(x_i), g(t_j)⟩), d = MSE, θ the model being unlearned and
θ0 the frozen original (Compromised) model. The decoupling target is the *original* model's
similarity matrix of the forget images against the batch's captions permuted by π, a random
derangement of the batch drawn each step from the run seed: the true forget pairs are pulled to
the score the original model gives unrelated pairs.

* Data: D_f, D_r, frozen θ0.
* Source: Cheng & Amiri, "MultiDelete: Multimodal Machine Unlearning", ECCV 2024; the SALMUBench
  authors' harness (SALMUBENCH.md §5: MSE everywhere, in-batch cosine matrices).
* Defaults (``MultiDeleteConfig``): the harness's equal weights; lr tuned (docs/tuning.md).
* Our choice: π permutes within the batch (it may pair two captions of one identity in the rare
  batches where that identity has several rows); embeddings in the retention terms are the
  L2-normalised ones.
"""

from __future__ import annotations

from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.losses import cosine_matrix, derangement, encode, encode_frozen, fused, mse


class MultiDeleteConfig(MethodConfig):
    lr: float = Field(1e-4, gt=0)  # tuned on the validation slice, docs/tuning.md
    decouple_weight: float = Field(1.0, ge=0)  # λ_md: modality decoupling on D_f
    multimodal_weight: float = Field(1.0, ge=0)  # λ_mm: fused-embedding retention on D_r
    unimodal_weight: float = Field(1.0, ge=0)  # λ_um: image + text embedding retention on D_r


@register_method("multidelete")
class MultiDelete(GradientMethod):
    """VLUnlearn/MultiDelete: decouple forget pairs to θ0's unrelated-pair scores, retain θ0's embeddings."""

    config_cls = MultiDeleteConfig
    search_space = {"lr": [1e-5, 3e-5, 1e-4, 2e-4, 3e-4, 4.5e-4]}  # salmubench tune (docs/tuning.md)
    streams = ("forget", "retain")
    needs_teacher = True

    def prepare(self, model, data):
        self._perm_gen = self.generator("permutation")

    def loss(self, model, batch: Batch, step: int):
        cfg = self.cfg
        img_f, txt_f = encode(model, batch.forget)
        img_f0, txt_f0 = encode_frozen(self.teacher, batch.forget)
        perm = derangement(len(txt_f0), self._perm_gen).to(txt_f0.device)
        decouple = mse(cosine_matrix(img_f, txt_f), cosine_matrix(img_f0, txt_f0[perm]))
        img_r, txt_r = encode(model, batch.retain)
        img_r0, txt_r0 = encode_frozen(self.teacher, batch.retain)
        return {
            "forget_loss": cfg.decouple_weight * decouple,
            "multimodal_loss": cfg.multimodal_weight * mse(fused(img_r, txt_r), fused(img_r0, txt_r0)),
            "unimodal_loss": cfg.unimodal_weight * (mse(img_r, img_r0) + mse(txt_r, txt_r0)),
        }
