"""Shuffled Captions (random labels): re-pair forget images with captions of *other* identities.

    L = L_clip({(x_i, t_π(i)) : i ∈ D_f}) + α · L_clip(D_r)

π(i) is a forget row of a different identity than row i, drawn once per run from the run seed
(our choice: fixed for the run, as in "random labels"; drawn among forget captions so that the new
captions keep the sensitive caption style but state someone else's association).

* Data: D_f (images + captions of other forget identities), D_r.
* Source: random-label unlearning (Graves et al., AAAI 2021; used by SalUn, Fan et al., ICLR 2024);
  SALMUBench §5 "Shuffled Captions".
* Defaults (``ShuffledCaptionsConfig``): lr and retain batch size tuned (docs/tuning.md: a larger retain
  batch protects general knowledge).
* False negatives (our choice): off-diagonal pairs whose image identity *and* caption identity both
  match the row's are masked out of the softmax.
"""

from __future__ import annotations

from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, UnlearningError, register_method
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


class ShuffledCaptionsConfig(MethodConfig):
    lr: float = Field(1e-3, gt=0)  # tuned on the validation slice, docs/tuning.md
    alpha: float = Field(1.0, ge=0)  # weight of the retain CLIP loss
    retain_batch_size: int = Field(128, ge=1)  # tuned on the validation slice, docs/tuning.md


@register_method("shuffled_captions")
class ShuffledCaptions(GradientMethod):
    """Shuffled Captions: train forget images on captions of other identities, plus retain CLIP loss."""

    config_cls = ShuffledCaptionsConfig
    search_space = {"lr": [1e-4, 3e-4, 1e-3, 3e-3], "retain_batch_size": [32, 128, 512]}  # salmubench tune (docs/tuning.md)
    streams = ("forget", "retain")

    def prepare(self, model, data):
        try:
            self.sources = other_identity_rows(data.forget.identity_ids, self.generator("shuffle"))
        except ValueError as exc:
            raise UnlearningError(f"shuffled_captions: {exc}") from None
        self.tokens = data.forget.tokens[self.sources]  # row i: the caption of row sources[i]
        self.caption_ids = [data.forget.identity_ids[j] for j in self.sources.tolist()]
        self.texts = [data.forget.texts[j] for j in self.sources.tolist()]

    def loss(self, model, batch: Batch, step: int):
        pairs, keys = repaired_pairs(batch.forget, batch.forget_index, self.tokens, self.caption_ids,
                                     self.texts)
        img, txt = encode(model, pairs)
        forget = clip_loss_masked(img, txt, logit_scale(model), false_negative_mask(codes_of(keys, img.device)))
        return {"forget_loss": forget, "retain_loss": self.cfg.alpha * clip_loss_of(model, batch.retain)}
