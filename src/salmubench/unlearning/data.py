"""What an unlearning method is allowed to see: ``UnlearnData`` (forget + retain, never a holdout).

The protocol (SALMUBENCH.md §1.3) gives a method the Compromised model, the ``forget`` split and a
retain subset. :func:`build_unlearn_data` is the only way the library builds an ``UnlearnData`` from
a dataset, and it reads exactly these parts of a :class:`~salmubench.data.io.SalmuDataset`:

* ``forget`` (images + captions + identity ids), with each row's generic caption and attribute type;
* retain = ``retain_synth`` + ``general_retain`` (our addition, stands in for the 400M-pair retain
  corpus; absent from the released data, where retain is ``retain_synth`` only);
* identity metadata and caption metadata **restricted to forget identities / forget rows** (some
  methods, e.g. DELETE's mask distillation, need an identity's name and attribute values).

The holdout splits (``holdout_association``, ``holdout_identity``) are never read, and the type a
method receives has no field that could hold them.

Sequential unlearning (docs/sequential.md) gives each request's run :func:`request_data`: a new
``UnlearnData`` built from that request's forget rows only (its identities' metadata only), with the
usual retain set; the rows of later requests are not in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from salmubench.data import schema as S
from salmubench.data.dataset import SalmuDataset
from salmubench.data.tables import SplitTable
from salmubench.data.torch_data import PairTensors, tensorize, tokenize
from salmubench.errors import DataError


@dataclass(frozen=True)
class UnlearnData:
    """The forget set and the retain set, as tensors, plus forget-only metadata.

    Attributes:
        forget: forget pairs (image, own caption, identity id).
        retain: retain pairs = retain_synth (+ general_retain when the dataset has it).
        forget_generic_texts: the PII-free generic caption of each forget image (row-aligned with
            ``forget``; the image's own caption when the dataset has no generic caption for it).
        forget_attributes: attribute type (``data_field``) of each forget row, or None if unknown.
        identities: identity records (name, city, ...) of the identities that appear in ``forget``.
        tokenizer: the model's tokenizer, to re-pair images with new captions (``tokenize``).
        retain_sources: ``{split name: row count}`` of what ``retain`` was built from.
    """

    forget: PairTensors
    retain: PairTensors
    forget_generic_texts: list[str]
    forget_attributes: list[str | None]
    identities: dict[str, dict[str, Any]]
    tokenizer: Callable[..., torch.Tensor]
    retain_sources: dict[str, int] = field(default_factory=dict)

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        """Token ids [N, ctx] of ``texts`` with the model's tokenizer."""
        return tokenize(texts, self.tokenizer)

    @property
    def forget_generic(self) -> PairTensors:
        """Forget images re-paired with their generic captions (images shared, not copied)."""
        cached = self.__dict__.get("_forget_generic")
        if cached is None:
            cached = self.forget.with_texts(self.forget_generic_texts, self.tokenizer)
            object.__setattr__(self, "_forget_generic", cached)
        return cached


def concat_pairs(parts: list[PairTensors]) -> PairTensors:
    """Row-wise concatenation of several PairTensors."""
    return PairTensors(
        images=torch.cat([p.images for p in parts]),
        tokens=torch.cat([p.tokens for p in parts]),
        identity_ids=[i for p in parts for i in p.identity_ids],
        texts=[t for p in parts for t in p.texts],
        file_names=[f for p in parts for f in p.file_names],
    )


def retain_tables(ds: SalmuDataset) -> list[SplitTable]:
    """The retain splits a method may use: retain_synth, then general_retain when present."""
    tables = [ds.retain_synth]
    if ds.has_split(S.GENERAL_RETAIN):
        tables.append(ds.split(S.GENERAL_RETAIN))
    return tables


def build_unlearn_data(ds: SalmuDataset, preprocess: Callable, tokenizer: Callable,
                       progress: Callable[[int], None] | None = None) -> UnlearnData:
    """Build the data a method receives from a dataset, reading only forget and retain splits.

    Args:
        ds: the loaded dataset; only ``forget``, ``retain_synth``, ``general_retain`` and metadata
            of forget rows/identities are read.
        preprocess: the model's eval image transform.
        tokenizer: the model's tokenizer.
        progress: optional callback with the number of images decoded after each chunk.
    """
    forget_split = ds.forget
    forget = tensorize(forget_split, preprocess, tokenizer, progress=progress)
    retain_parts = [tensorize(t, preprocess, tokenizer, progress=progress) for t in retain_tables(ds)]
    retain = retain_parts[0] if len(retain_parts) == 1 else concat_pairs(retain_parts)
    forget_ids = {i for i in forget.identity_ids if i}
    return UnlearnData(
        forget=forget,
        retain=retain,
        forget_generic_texts=[ds.generic_captions.get(f, t) for f, t in zip(forget.file_names, forget.texts, strict=True)],
        forget_attributes=[ds.attribute_of(f) for f in forget.file_names],
        identities={i: dict(rec) for i, rec in ds.identities.items() if i in forget_ids},
        tokenizer=tokenizer,
        retain_sources={t.name: len(t) for t in retain_tables(ds)},
    )


def request_data(data: UnlearnData, rows: Sequence[int]) -> UnlearnData:
    """The data of one deletion request: ``data`` restricted to the forget rows ``rows`` (in that order).

    Everything row-aligned (pairs, generic captions, attribute types) is subset; ``identities`` keeps
    only the identities of these rows; retain data and tokenizer are shared. A method given the result
    cannot reach any other forget row (sequential unlearning, docs/sequential.md).
    """
    rows = [int(r) for r in rows]
    if not rows:
        raise DataError("a deletion request must hold at least one forget row")
    if len(set(rows)) != len(rows) or min(rows) < 0 or max(rows) >= len(data.forget):
        raise DataError(f"request rows must be distinct indices into the {len(data.forget)} forget rows")
    forget = data.forget.subset(rows)
    ids = {i for i in forget.identity_ids if i}
    return UnlearnData(
        forget=forget,
        retain=data.retain,
        forget_generic_texts=[data.forget_generic_texts[r] for r in rows],
        forget_attributes=[data.forget_attributes[r] for r in rows],
        identities={i: dict(rec) for i, rec in data.identities.items() if i in ids},
        tokenizer=data.tokenizer,
        retain_sources=dict(data.retain_sources),
    )


def make_unlearn_data(forget: PairTensors, retain: PairTensors, tokenizer: Callable,
                      generic_texts: list[str] | None = None) -> UnlearnData:
    """An ``UnlearnData`` from hand-made tensors (tests, notebooks); no metadata."""
    return UnlearnData(
        forget=forget,
        retain=retain,
        forget_generic_texts=list(generic_texts) if generic_texts is not None else list(forget.texts),
        forget_attributes=[None] * len(forget),
        identities={},
        tokenizer=tokenizer,
        retain_sources={"retain": len(retain)},
    )
