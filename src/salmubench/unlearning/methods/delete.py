"""DELETE (paper version): decoupled mask distillation from θ0 over a candidate caption set, on D_f only.

For a forget image x_i and the batch's candidate captions c_1..c_M:

    z_T = s·⟨f_θ0(x_i), g_θ0(c_m)⟩ / T,     z_S = s·⟨f_θ(x_i), g_θ(c_m)⟩ / T
    p_T = softmax(Mask_i(z_T))              Mask_i sets the entries of identity(x_i)'s *forgotten*
                                             associations to −∞ (the "target class" of DELETE)
    L = mean_i KL(p_T ‖ softmax(z_S))

The masked entries get zero target probability (forgetting term); every other candidate keeps the
teacher's relative probability ("dark knowledge", retention term), so the identity's *other*
attributes, its generic description and other people's captions keep θ0's ranking.

Candidate set of a batch (our CLIP adaptation of DELETE's class logits; built only from the forget
split and the forget-identity metadata in ``UnlearnData`` — no holdout split is read):
  1. the batch's own forget captions;
  2. the batch's generic captions (PII-free description of each image);
  3. for every identity in the batch, one core caption "{name} {value}" per attribute type with a
     value in its metadata (the CoreAssoc form, no paraphrase), i.e. also the attributes that are
     *not* being forgotten (their values are in the identity record the framework exposes);
  4. distractors: items 1-3 of the *other* identities in the batch.
Masked for row i: candidates that state an association of identity(x_i) whose attribute type appears
among that identity's forget rows (its own captions and the core captions of those attributes).
Without identity metadata (hand-made data) the set reduces to items 1, 2 and 4.
Rows whose candidates are all masked are skipped (their target is undefined).

* Data: D_f (images, captions, generic captions, attribute types), forget-identity metadata, frozen θ0.
  No retain data: DELETE distils on the forget data only.
* Source: Zhou, Zheng, Mo, Lu, Lin, Zheng, "Decoupled distillation to erase: a general unlearning
  method for any class-centric tasks", CVPR 2025 (arXiv 2503.23751), the masked-distillation loss
  KL(Softmax(Mask(z_T)) ‖ Softmax(z_S)). Not the SALMUBench harness loss (that is ``delete_salmu``).
* Defaults (``DeleteConfig``): temperature T our choice; lr tuned (docs/tuning.md).
"""

from __future__ import annotations

import torch
from pydantic import Field

from salmubench.data import schema as S
from salmubench.unlearning import Batch, GradientMethod, MethodConfig, register_method
from salmubench.unlearning.losses import kl_rows, logit_scale


class DeleteConfig(MethodConfig):
    lr: float = Field(1e-3, gt=0)  # tuned on the validation slice, docs/tuning.md
    temperature: float = Field(1.0, gt=0)  # T: softmax temperature of teacher and student
    use_metadata: bool = True  # add "{name} {value}" core captions of every attribute of batch identities


class CandidateTable:
    """Every candidate text once (id → text, owner identity, forgotten flag) and the per-row / per-identity ids."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.owner: list[str | None] = []
        self.forgotten: list[bool] = []
        self._ids: dict[str, int] = {}

    def add(self, text: str, owner: str | None, forgotten: bool) -> int:
        """Id of ``text``; a text stating a forgotten association of some owner stays forgotten."""
        k = self._ids.get(text)
        if k is None:
            k = self._ids[text] = len(self.texts)
            self.texts.append(text)
            self.owner.append(owner)
            self.forgotten.append(forgotten)
        elif forgotten and not self.forgotten[k]:
            self.owner[k], self.forgotten[k] = owner, True
        return k


def identity_values(record: dict, attribute: str) -> str | None:
    """The identity's value of an attribute type (first element of a list field), or None."""
    value = record.get(S.IDENTITY_FIELD.get(attribute, attribute))
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value in (None, "") else str(value)


def build_candidates(data, use_metadata: bool):
    """(table, own ids [N], generic ids [N], {identity: core caption ids}) for ``data``'s forget rows."""
    table = CandidateTable()
    ids = [i if i else f"__row{k}" for k, i in enumerate(data.forget.identity_ids)]
    forgotten_attrs: dict[str, set[str]] = {}
    for iid, attr in zip(ids, data.forget_attributes, strict=True):
        forgotten_attrs.setdefault(iid, set())
        if attr:
            forgotten_attrs[iid].add(attr)
    own = [table.add(t, iid, True) for t, iid in zip(data.forget.texts, ids, strict=True)]
    core: dict[str, list[int]] = {iid: [] for iid in forgotten_attrs}
    if use_metadata:
        for iid in core:
            record = data.identities.get(iid) or {}
            name = record.get("name")
            if not name:
                continue
            for attr in S.ATTRIBUTE_TYPES:
                value = identity_values(record, attr)
                if value is not None:
                    core[iid].append(table.add(f"{name} {value}", iid, attr in forgotten_attrs[iid]))
    generic = [table.add(t, None, False) for t in data.forget_generic_texts]
    return table, torch.tensor(own), torch.tensor(generic), core, ids


@register_method("delete")
class Delete(GradientMethod):
    """DELETE (CVPR 2025): distil θ0's caption distribution with the forgotten associations masked out."""

    config_cls = DeleteConfig
    search_space = {"lr": [3e-4, 1e-3, 3e-3, 1e-2]}  # salmubench tune (docs/tuning.md)
    streams = ("forget",)
    encodes_through_losses = False  # loss() encodes batch.forget.images itself (dense batches under torchrun)
    needs_teacher = True

    def prepare(self, model, data):
        table, self.own, self.generic, self.core, self.row_ids = build_candidates(data, self.cfg.use_metadata)
        self.table = table
        self.tokens = data.tokenize(table.texts)
        self.owner_of = table.owner
        self.forgotten = torch.tensor(table.forgotten)

    def candidates(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(candidate text ids [M], mask [B, M] True where row i's target association is) of a batch."""
        rows = index.tolist()
        chosen = set(self.own[index].tolist()) | set(self.generic[index].tolist())
        for iid in {self.row_ids[r] for r in rows}:
            chosen.update(self.core.get(iid, []))
        cand = torch.tensor(sorted(chosen))
        owners = [self.owner_of[c] for c in cand.tolist()]
        mask = torch.tensor([[o == self.row_ids[r] for o in owners] for r in rows]) & self.forgotten[cand][None, :]
        return cand, mask

    def loss(self, model, batch: Batch, step: int):
        cand, mask = self.candidates(batch.forget_index)
        device = batch.forget.images.device
        tokens, mask = self.tokens[cand].to(device), mask.to(device)
        scale = logit_scale(model) / self.cfg.temperature
        img = model.encode_image(batch.forget.images, normalize=True)
        txt = model.encode_text(tokens, normalize=True)
        with torch.no_grad():
            img0 = self.teacher.encode_image(batch.forget.images, normalize=True)
            txt0 = self.teacher.encode_text(tokens, normalize=True)
            teacher = (logit_scale(self.teacher) / self.cfg.temperature) * img0 @ txt0.T
        student = scale * img @ txt.T
        keep = ~mask.all(dim=1)
        if not keep.any():
            return {"forget_loss": 0.0 * student.sum(), "candidates": torch.tensor(float(len(cand)))}
        target = teacher.masked_fill(mask, float("-inf"))
        with torch.no_grad():
            masked_mass = torch.softmax(student, dim=1)[mask].sum() / mask.shape[0]
        return {"forget_loss": kl_rows(target[keep], student[keep]),
                "candidates": torch.tensor(float(len(cand))), "masked_mass": masked_mass}

