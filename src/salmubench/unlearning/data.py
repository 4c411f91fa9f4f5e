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

Images are held densely (decoded once, through the tensor cache) or lazily (encoded bytes, decoded per
batch: :class:`~salmubench.data.lazy_images.LazyImages`), chosen for the forget set and for the retain
set apart: lazily when a split's preprocessed images would exceed :data:`LAZY_ABOVE_BYTES` (the
tensor cache's cap, 512 MiB: ~890 rows at 224 px; the embedded default stays dense), or as
``$SALMUBENCH_UNLEARN_IMAGES`` / ``images=`` says (``auto``, ``lazy``, ``memory``). Both give the same
batches bit for bit, so the same model (docs/performance.md, "Unlearning memory").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from salmubench.data import schema as S
from salmubench.data.dataset import SalmuDataset
from salmubench.data.lazy_images import concat_images
from salmubench.data.tables import SplitTable
from salmubench.data.tensor_cache import MAX_CACHED_BYTES, preprocessed_bytes
from salmubench.data.torch_data import PairTensors, tensorize, tokenize
from salmubench.errors import ConfigError, DataError

IMAGES_ENV = "SALMUBENCH_UNLEARN_IMAGES"
IMAGE_MODES = ("auto", "lazy", "memory")
LAZY_ABOVE_BYTES = MAX_CACHED_BYTES  # auto: a split over this once preprocessed is held lazily


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
        images=concat_images([p.images for p in parts]),
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


def images_mode(images: str | None = None) -> str:
    """``images`` or ``$SALMUBENCH_UNLEARN_IMAGES`` (default ``auto``); ConfigError if not a mode."""
    mode = (images if images is not None else os.environ.get(IMAGES_ENV, "") or "auto").strip().lower()
    if mode not in IMAGE_MODES:
        raise ConfigError(f"unlearning images {mode!r}: expected one of {', '.join(IMAGE_MODES)} ({IMAGES_ENV})")
    return mode


def hold_lazily(tables: Sequence[SplitTable], preprocess: Callable, mode: str, lazy_above: int | None = None) -> bool:
    """Whether the images of ``tables`` (one side: forget, or the retain parts) are held lazily."""
    if mode != "auto":
        return mode == "lazy"
    limit = LAZY_ABOVE_BYTES if lazy_above is None else lazy_above
    return any(preprocessed_bytes(t, preprocess) > limit for t in tables)


def build_unlearn_data(ds: SalmuDataset, preprocess: Callable, tokenizer: Callable,
                       progress: Callable[[int], None] | None = None, images: str | None = None,
                       lazy_above: int | None = None) -> UnlearnData:
    """Build the data a method receives from a dataset, reading only forget and retain splits.

    Args:
        ds: the loaded dataset; only ``forget``, ``retain_synth``, ``general_retain`` and metadata
            of forget rows/identities are read.
        preprocess: the model's eval image transform.
        tokenizer: the model's tokenizer.
        progress: optional callback with the number of images decoded after each chunk.
        images: ``auto`` / ``lazy`` / ``memory`` (module docstring); None: ``$SALMUBENCH_UNLEARN_IMAGES``.
        lazy_above: ``auto``'s limit in preprocessed bytes (default :data:`LAZY_ABOVE_BYTES`).
    """
    mode = images_mode(images)
    forget_split, tables = ds.forget, retain_tables(ds)
    forget = tensorize(forget_split, preprocess, tokenizer, progress=progress,
                       lazy=hold_lazily([forget_split], preprocess, mode, lazy_above))
    lazy_retain = hold_lazily(tables, preprocess, mode, lazy_above)
    retain_parts = [tensorize(t, preprocess, tokenizer, progress=progress, lazy=lazy_retain) for t in tables]
    retain = retain_parts[0] if len(retain_parts) == 1 else concat_pairs(retain_parts)
    forget_ids = {i for i in forget.identity_ids if i}
    return UnlearnData(
        forget=forget,
        retain=retain,
        forget_generic_texts=[ds.generic_captions.get(f, t) for f, t in zip(forget.file_names, forget.texts, strict=True)],
        forget_attributes=[ds.attribute_of(f) for f in forget.file_names],
        identities={i: dict(rec) for i, rec in ds.identities.items() if i in forget_ids},
        tokenizer=tokenizer,
        retain_sources={t.name: len(t) for t in tables},
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
    forget = data.forget.take(rows)
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
