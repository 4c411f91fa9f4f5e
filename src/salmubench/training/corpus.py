"""Training corpora of the two reference models, and the batch order (a pure function of the step).

    Compromised = general_retain + retain_synth + k x (forget + holdout_association + holdout_identity)
    Clean       = general_retain + retain_synth

``k`` is ``TrainConfig.sensitive_oversample`` (our choice for the small tier: the sensitive pairs are a
small share of a small corpus, so each is shown k times per epoch). ``general_retain`` exists only in
datasets we generate (it stands in for the 400M DataComp pairs); on the released data it is skipped.

Both models take the same number of optimizer steps, ``ceil(epochs * N_compromised / batch)``
(the paper's "same config"; ENVIRONMENT.md: equal epochs make their utility diverge at small scale).

Clean's schedule (``TrainConfig.clean_schedule``) [our choice]:

* ``matched`` (default): Clean follows the *Compromised* batch order, with every sensitive pair left
  out. Its corpus holds the Compromised positions, but the sensitive ones are **blanks** (index -1):
  no sensitive image or caption is ever read. Step ``s`` of Clean trains on exactly the non-sensitive
  pairs of step ``s`` of Compromised (a smaller batch). Both models see the same general data the
  same number of times, so their general knowledge matches, as in the paper where the sensitive
  pairs are a negligible share of 400M. (With ``resample``, the Clean model at mini scale saw the
  general corpus 1.5x as often and its GenKnow was 17 points higher: 0.59 vs 0.42.)
* ``resample``: Clean shuffles its own (smaller) corpus and fills every batch with it.

Batch order: epoch ``e`` is ``randperm(N)`` from a generator seeded with ``(seed, "train-order", e)``,
cut into ``N // batch`` full batches (the last partial batch is dropped so every step has the same
global batch). Step ``s`` is batch ``s % per_epoch`` of epoch ``s // per_epoch``: resuming needs no
sampler state, and DDP rank ``r`` of ``W`` takes the ``r``-th contiguous chunk of the global batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from salmubench.data import schema as S
from salmubench.data.dataset import SalmuDataset
from salmubench.data.tables import SplitTable
from salmubench.data.tensor_cache import split_images
from salmubench.data.torch_data import tokenize
from salmubench.errors import DataError
from salmubench.seeding import torch_generator_for
from salmubench.training.config import TrainConfig
from salmubench.training.losses import codes_of


def corpus_parts(ds: SalmuDataset, kind: str, oversample: int) -> list[tuple[SplitTable, int]]:
    """``[(split, repeats), ...]`` making up the ``kind`` corpus (see module docstring)."""
    parts = [(ds.split(S.GENERAL_RETAIN), 1)] if ds.has_split(S.GENERAL_RETAIN) else []
    parts.append((ds.retain_synth, 1))
    if kind == "compromised":
        parts += [(ds.split(name), oversample) for name in S.SENSITIVE_SPLITS]
    return [(t, k) for t, k in parts if len(t)]


def corpus_size(ds: SalmuDataset, kind: str, oversample: int) -> int:
    """Pairs per epoch of the ``kind`` corpus, repeats included."""
    return sum(len(t) * k for t, k in corpus_parts(ds, kind, oversample))


def total_steps(ds: SalmuDataset, cfg: TrainConfig) -> int:
    """Optimizer steps of *both* references: ``cfg.steps`` or epochs over the Compromised corpus."""
    if cfg.steps is not None:
        return cfg.steps
    n = corpus_size(ds, "compromised", cfg.sensitive_oversample)
    if n < cfg.batch_size:
        raise DataError(f"the Compromised corpus has {n} pairs, fewer than one batch ({cfg.batch_size})")
    return max(1, math.ceil(cfg.epochs * n / cfg.batch_size))


@dataclass
class Corpus:
    """The rows of a training corpus: ``index`` maps corpus positions to stored rows (repeats).

    ``images`` is a float tensor [R,3,H,W] when preprocessed in memory, else None and rows are
    decoded on demand by :class:`StreamedImages`.
    """

    kind: str
    tokens: torch.Tensor  # [R, ctx]
    codes: torch.Tensor  # [R] identity codes (-1: none)
    index: torch.Tensor  # [N] stored row of each corpus position (-1: a blank, see ``matched``)
    parts: dict[str, int]  # split name -> pairs per epoch (repeats included)
    images: torch.Tensor | None = None
    streamed: StreamedImages | None = None
    truncated: int = 0  # captions longer than the context length (cut by the tokenizer)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def real_pairs(self) -> int:
        """Corpus positions holding a pair (blanks excluded)."""
        return int((self.index >= 0).sum())


class StreamedImages(torch.utils.data.Dataset):
    """Decode + preprocess stored row ``i`` on demand (for large images: the ``paper`` preset)."""

    def __init__(self, tables: list[SplitTable], preprocess) -> None:
        self.tables = tables
        self.preprocess = preprocess
        self.offsets = torch.tensor([0] + [len(t) for t in tables]).cumsum(0)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, row: int) -> torch.Tensor:
        part = int(torch.searchsorted(self.offsets, row, right=True)) - 1
        table = self.tables[part]
        return self.preprocess(table.decode_image(row - int(self.offsets[part])))


def _preprocess_all(tables: list[SplitTable], preprocess, progress=None) -> torch.Tensor:
    """Every image of ``tables`` decoded and preprocessed once (per machine: the tensor cache,
    ``data/tensor_cache.py``): [R, 3, H, W] float."""
    return torch.cat([split_images(table, preprocess, progress) for table in tables])


def count_truncated(texts: list[str], tokenizer) -> int:
    """How many captions need more tokens (with start/end markers) than the context length."""
    ctx = int(getattr(tokenizer, "context_length", 77))
    encode = getattr(tokenizer, "encode", None)
    if encode is None:
        return 0
    return sum(len(encode(t)) + 2 > ctx for t in texts)


def matched_schedule(kind: str, cfg: TrainConfig) -> bool:
    """True when ``kind`` trains on the Compromised batch order with blanks (Clean, ``matched``)."""
    return kind == "clean" and cfg.clean_schedule == "matched"


def corpus_index(sizes: list[int], repeats: list[int], real: list[bool]) -> torch.Tensor:
    """Corpus position -> stored row: parts in order, each ``repeats`` times; a part that is not
    ``real`` is a run of blanks (-1) of its length, taking no stored rows."""
    index, start = [], 0
    for n, k, is_real in zip(sizes, repeats, real, strict=True):
        index.append(torch.arange(start, start + n).repeat(k) if is_real else torch.full((n * k,), -1))
        start += n if is_real else 0
    return torch.cat(index)


def build_corpus(ds: SalmuDataset, kind: str, bundle, cfg: TrainConfig, progress=None) -> Corpus:
    """Tokenise (and, in memory, preprocess) every row of the ``kind`` corpus once.

    Under the ``matched`` Clean schedule the positions are the Compromised corpus's and the sensitive
    parts are blanks: only their lengths are read, never their images or captions.
    """
    matched = matched_schedule(kind, cfg)
    layout = corpus_parts(ds, "compromised" if matched else kind, cfg.sensitive_oversample)
    real = [t.name not in S.SENSITIVE_SPLITS or kind == "compromised" for t, _ in layout]
    tables = [t for (t, _), r in zip(layout, real, strict=True) if r]
    texts = [s for t in tables for s in t.texts]
    ids = [i for t in tables for i in t.identity_ids]
    index = corpus_index([len(t) for t, _ in layout], [k for _, k in layout], real)
    corpus = Corpus(kind=kind, tokens=tokenize(texts, bundle.tokenizer), codes=codes_of(ids), index=index,
                    parts={t.name: len(t) * k for (t, k), r in zip(layout, real, strict=True) if r},
                    truncated=count_truncated(texts, bundle.tokenizer))
    if cfg.in_memory:
        corpus.images = _preprocess_all(tables, bundle.preprocess, progress)
    else:
        corpus.streamed = StreamedImages(tables, bundle.preprocess)
    return corpus


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The corpus positions of epoch ``epoch`` in training order (seeded, independent per epoch)."""
    return torch.randperm(n, generator=torch_generator_for(seed, "train-order", epoch))


def batch_positions(seed: int, n: int, batch_size: int, start: int, stop: int) -> Iterator[torch.Tensor]:
    """Corpus positions of the global batches of steps ``start .. stop-1``."""
    per_epoch = n // batch_size
    if per_epoch < 1:
        raise DataError(f"the corpus has {n} pairs, fewer than one batch ({batch_size})")
    epoch, order = -1, None
    for step in range(start, stop):
        if step // per_epoch != epoch:
            epoch = step // per_epoch
            order = epoch_order(seed, epoch, n)
        b = step % per_epoch
        yield order[b * batch_size:(b + 1) * batch_size]
