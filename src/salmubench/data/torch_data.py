"""Torch views of SALMUBench splits: decoded, preprocessed and tokenised once, then batched.

Images in the embedded default are tiny, so a split is turned into dense tensors once
(``tensorize``; decoded once per machine, ``data/tensor_cache.py``) and batches are index slices: no
per-step JPEG decoding, fully deterministic.
Reference training at the real tier (ViT-B/16, 512 px sources) streams images instead
(``salmubench.training.corpus.StreamedImages``); unlearning holds a large split's images encoded
(``tensorize(..., lazy=True)``: :class:`~salmubench.data.lazy_images.LazyImages`, decoded per batch,
bit-identical batches; ``unlearning/data.py`` chooses by size).
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from salmubench.data.lazy_images import LazyImages
from salmubench.data.tables import SplitTable
from salmubench.data.tensor_cache import split_images


@dataclass
class PairTensors:
    """Image-text pairs as tensors: ``images`` [N,3,H,W] float, ``tokens`` [N,ctx] long.

    ``images`` may be a :class:`~salmubench.data.lazy_images.LazyImages` (encoded, decoded when
    indexed): :meth:`subset` (a batch) then holds a dense tensor, bit-identical to the dense path's.
    """

    images: torch.Tensor | LazyImages
    tokens: torch.Tensor
    identity_ids: list[str | None]
    texts: list[str]
    file_names: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: torch.Tensor | Sequence[int]) -> PairTensors:
        """Rows ``index`` (a LongTensor or list of ints) as a new PairTensors (images dense: a batch)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        rows = idx.tolist()
        return PairTensors(self.images[idx], self.tokens[idx], [self.identity_ids[i] for i in rows],
                           [self.texts[i] for i in rows], [self.file_names[i] for i in rows])

    def take(self, index: torch.Tensor | Sequence[int]) -> PairTensors:
        """Rows ``index`` as a new PairTensors whose images stay lazy when they are (else :meth:`subset`)."""
        if not isinstance(self.images, LazyImages):
            return self.subset(index)
        idx = torch.as_tensor(index, dtype=torch.long)
        rows = idx.tolist()
        return PairTensors(self.images.take(rows), self.tokens[idx], [self.identity_ids[i] for i in rows],
                           [self.texts[i] for i in rows], [self.file_names[i] for i in rows])

    def to(self, device: torch.device | str) -> PairTensors:
        """The same pairs with image and token tensors on ``device`` (row metadata shared)."""
        return PairTensors(self.images.to(device), self.tokens.to(device), self.identity_ids, self.texts,
                           self.file_names)

    def with_texts(self, texts: Sequence[str], tokenizer: Callable) -> PairTensors:
        """The same images re-paired with ``texts`` (e.g. generic or shuffled captions)."""
        return PairTensors(self.images, tokenize(texts, tokenizer), list(self.identity_ids), list(texts),
                           list(self.file_names))


def tokenize(texts: Sequence[str], tokenizer: Callable, chunk: int = 4096) -> torch.Tensor:
    """Tokenise ``texts`` with an open_clip tokenizer, in chunks; [N, ctx] long.

    Each caption is tokenised once per process and tokenizer (:func:`tokenizer_fingerprint`): an
    open_clip tokenizer encodes each caption on its own (a batch only pads every row to the context
    length), so a remembered row is the row this call would compute. A worker of ``salmubench run``
    runs many stages on the same captions (an unlearning stage tokenised its 16k retain captions in
    1.5 s); a tokenizer without a fingerprint is memoised per object only.
    """
    texts = list(texts)
    if not texts:
        return torch.zeros((0, getattr(tokenizer, "context_length", 77)), dtype=torch.long)
    memo = _token_memo(tokenizer)
    if memo is None:
        return torch.cat([tokenizer(texts[i:i + chunk]) for i in range(0, len(texts), chunk)])
    todo = [t for t in dict.fromkeys(texts) if t not in memo]
    for i in range(0, len(todo), chunk):
        part = todo[i:i + chunk]
        memo.update(zip(part, tokenizer(part).clone(), strict=True))
    return torch.stack([memo[t] for t in texts])


_MEMO_BY_FINGERPRINT: dict[str, dict[str, torch.Tensor]] = {}
_MEMO_BY_OBJECT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # tokenizer -> its memo (shared by fingerprint)


def tokenizer_fingerprint(tokenizer: Callable) -> str | None:
    """sha256 of everything an open_clip ``SimpleTokenizer`` encodes with (vocabulary, merges, context
    length, special ids, text cleaning and reduction functions); None for any other tokenizer."""
    from open_clip.tokenizer import SimpleTokenizer

    if type(tokenizer) is not SimpleTokenizer:
        return None
    digest = hashlib.sha256()
    parts = (tokenizer.context_length, tokenizer.sot_token_id, tokenizer.eot_token_id,
             getattr(tokenizer.clean_fn, "__qualname__", repr(tokenizer.clean_fn)),
             getattr(tokenizer.reduction_fn, "__qualname__", repr(tokenizer.reduction_fn)),
             tokenizer.pat.pattern)
    digest.update(repr(parts).encode())
    digest.update(json.dumps(sorted(tokenizer.encoder.items()), ensure_ascii=False).encode())
    digest.update(json.dumps(sorted(f"{a} {b}" for a, b in tokenizer.bpe_ranks), ensure_ascii=False).encode())
    return digest.hexdigest()


def _token_memo(tokenizer: Callable) -> dict[str, torch.Tensor] | None:
    """The memo of ``tokenizer``: shared by every tokenizer with its fingerprint, else its own; None
    when it cannot be weakly referenced."""
    try:
        known = _MEMO_BY_OBJECT.get(tokenizer)
    except TypeError:
        return None
    if known is None:
        fingerprint = tokenizer_fingerprint(tokenizer)
        known = _MEMO_BY_FINGERPRINT.setdefault(fingerprint, {}) if fingerprint else {}
        _MEMO_BY_OBJECT[tokenizer] = known
    return known


def tensorize(split: SplitTable, preprocess: Callable, tokenizer: Callable,
              texts: Sequence[str] | None = None, progress: Callable[[int], None] | None = None,
              lazy: bool = False) -> PairTensors:
    """Decode + preprocess every image and tokenise every caption of ``split`` once.

    The images come from the machine's tensor cache when a stage has decoded them before
    (``data/tensor_cache.py``: keyed by the image bytes and the transform; bit-identical to decoding).

    Args:
        split: the rows to convert.
        preprocess: open_clip eval transform of the model.
        tokenizer: open_clip tokenizer of the model.
        texts: captions to pair with the images instead of the split's own ``text`` column.
        progress: called with the number of rows done after each chunk (e.g. a rich progress task).
        lazy: keep the images encoded instead (:class:`LazyImages`, decoded per batch; nothing decoded
            here, ``progress`` called once with every row).
    """
    if lazy:
        images = LazyImages.from_split(split, preprocess)
        if progress:
            progress(len(split))
    else:
        images = split_images(split, preprocess, progress)
    captions = list(texts) if texts is not None else split.texts
    return PairTensors(images, tokenize(captions, tokenizer), split.identity_ids, captions, split.file_names)


def iter_batches(n: int, batch_size: int, generator: torch.Generator | None = None, shuffle: bool = True,
                 drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Index batches over ``range(n)``; shuffled with the explicit ``generator`` when asked."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - (n % batch_size) if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]
