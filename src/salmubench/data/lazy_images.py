"""Images held encoded and decoded on demand: :class:`LazyImages`, a stand-in for an ``[N, 3, H, W]``
float tensor of preprocessed images whose memory is the encoded bytes only.

``PairTensors.images`` (``data/torch_data.py``) is either a dense tensor (a split decoded once, the
embedded default) or a ``LazyImages``. Indexing it with a batch of rows (``images[index]``: a
LongTensor, a list of ints, a range or a slice) decodes and preprocesses exactly those rows, on a
bounded pool of :data:`DECODE_THREADS` threads, and returns the float tensor that indexing the dense
tensor would return, bit for bit: each row is ``preprocess(decode_image_bytes(bytes))``, the same
call that builds the dense tensor (and the tensor cache, ``data/tensor_cache.py``), and
``torch.stack`` copies values exactly. The encoded bytes are read once (shard by shard) into a
:class:`BlobStore`, an anonymous temporary file read back by offset, so the forget and retain sets of
an unlearning run no longer cost 0.6 MB of memory a row at 224 px (27 GiB for the released forget +
retain_synth sets), nor their JPEG bytes (~2.5 GB held in memory would still grow with the data), but
28 bytes a row (the row's tokens, 8 bytes x context length, stay in ``PairTensors.tokens``); the
temporary file (the encoded bytes, on ``$TMPDIR``) is removed with its store.

* ``len(images)``, ``images.shape`` (row 0 decoded once for ``[3, H, W]``) and ``images.dtype`` as for
  a tensor; ``images.to(device)`` returns a view whose batches land on ``device``.
* ``images.take(rows)``: the same stores for the given rows (no decode, no copy of the bytes):
  a sequential request's forget rows (``unlearning.data.request_data``).
* :meth:`LazyImages.concat`: parts held one after another (retain_synth + general_retain).
* The last batch is remembered (one entry): two streams of a step over the same forget rows (own and
  generic captions share one ``LazyImages``) decode them once; the second gets a copy.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from salmubench.data.tables import SplitTable, decode_image_bytes
from salmubench.errors import DataError

DECODE_THREADS = max(1, min(8, os.cpu_count() or 1))  # JPEG decoding and PIL resizing release the GIL
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


class BlobStore:
    """Encoded images written once to an anonymous temporary file (``$TMPDIR``; removed when closed or
    collected) and read back by offset: the bytes live in the page cache, not in the process's memory
    (28 bytes a row of bookkeeping in :class:`LazyImages`). Thread-safe reads (``os.pread``, else a
    lock around seek + read)."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="salmubench-images-")  # noqa: SIM115 - lives with the store
        self._size = 0
        self._lock = threading.Lock()

    def append(self, blob: bytes) -> tuple[int, int]:
        """Write ``blob``; its (offset, length)."""
        offset = self._size
        self._file.write(blob)
        self._size += len(blob)
        return offset, len(blob)

    def seal(self) -> BlobStore:
        """Flush the writes (call once, before reading)."""
        self._file.flush()
        return self

    def read(self, offset: int, length: int) -> bytes:
        if hasattr(os, "pread"):
            return os.pread(self._file.fileno(), length, offset)
        with self._lock:
            self._file.seek(offset)
            return self._file.read(length)

    @property
    def nbytes(self) -> int:
        return self._size


def decode_pool() -> ThreadPoolExecutor:
    """The process's one bounded decode pool (:data:`DECODE_THREADS` threads, started on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="salmubench-decode")
        return _POOL


class LazyImages:
    """Preprocessed images of some rows, kept encoded and decoded when indexed (module docstring).

    Args:
        stores: the :class:`BlobStore` of each part; names: each part's split name (error messages).
        parts: index into ``stores`` / ``names`` of each row; origin: the row's index in its split.
        offsets, lengths: where each row's encoded bytes lie in its part's store.
        preprocess: the model's image transform (PIL image -> float tensor [3, H, W]).
        device: where the tensors of a batch are put (None: where ``preprocess`` leaves them).
    """

    def __init__(self, stores: Sequence[BlobStore], names: Sequence[str], parts: np.ndarray, origin: np.ndarray,
                 offsets: np.ndarray, lengths: np.ndarray, preprocess: Callable,
                 device: torch.device | str | None = None) -> None:
        self._stores, self._names = list(stores), list(names)
        self._parts = np.asarray(parts, dtype=np.int32)
        self._origin = np.asarray(origin, dtype=np.int64)
        self._offsets = np.asarray(offsets, dtype=np.int64)
        self._lengths = np.asarray(lengths, dtype=np.int64)
        self.preprocess = preprocess
        self.device = torch.device(device) if device is not None else None
        self._item: torch.Tensor | None = None  # row 0 preprocessed: its shape and dtype
        self._last: tuple[tuple[int, ...], torch.Tensor] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_split(cls, split: SplitTable, preprocess: Callable) -> LazyImages:
        """Every row of ``split``, its bytes read once (a lazily loaded split: shard by shard) into a store."""
        n = len(split)
        store = BlobStore()
        offsets, lengths = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        for row, blob in split.iter_image_bytes():
            if blob is None:
                raise DataError(f"{split.name}: row {row} has no image bytes")
            offsets[row], lengths[row] = store.append(blob)
        return cls([store.seal()], [split.name], np.zeros(n, dtype=np.int32), np.arange(n, dtype=np.int64),
                   offsets, lengths, preprocess)

    @classmethod
    def concat(cls, parts: Sequence[LazyImages]) -> LazyImages:
        """``parts`` one after another (the same transform and device as the first)."""
        stores: list[BlobStore] = []
        names: list[str] = []
        codes = []
        for part in parts:
            codes.append(part._parts + len(stores))
            stores += part._stores
            names += part._names
        origin, offsets, lengths = (np.concatenate([getattr(p, a) for p in parts])
                                    for a in ("_origin", "_offsets", "_lengths"))
        return cls(stores, names, np.concatenate(codes), origin, offsets, lengths, parts[0].preprocess,
                   parts[0].device)

    def _view(self, rows, device) -> LazyImages:
        rows = slice(None) if rows is None else rows
        return LazyImages(self._stores, self._names, self._parts[rows], self._origin[rows], self._offsets[rows],
                          self._lengths[rows], self.preprocess, device)

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def encoded_bytes(self) -> int:
        """Encoded bytes of these rows (in their stores, not in memory)."""
        return int(self._lengths.sum())

    def _first(self) -> torch.Tensor:
        if self._item is None:
            if not len(self):
                raise DataError("no images: the shape of an empty LazyImages is unknown")
            self._item = self._decode(0)
        return self._item

    @property
    def shape(self) -> torch.Size:
        return torch.Size([len(self), *self._first().shape])

    @property
    def dtype(self) -> torch.dtype:
        return self._first().dtype

    def _decode(self, row: int) -> torch.Tensor:
        part = int(self._parts[row])
        blob = self._stores[part].read(int(self._offsets[row]), int(self._lengths[row]))
        return self.preprocess(decode_image_bytes(blob, f"{self._names[part]} row {int(self._origin[row])}"))

    def _rows(self, index) -> list[int]:
        n = len(self)
        if isinstance(index, slice):
            rows = list(range(n)[index])
        else:
            if getattr(index, "dtype", None) in (torch.bool, np.bool_):
                raise TypeError("LazyImages: index with row numbers, not a boolean mask")
            rows = torch.as_tensor(index, dtype=torch.long).reshape(-1).tolist()
        out = []
        for r in rows:
            if not -n <= r < n:
                raise IndexError(f"index {r} is out of bounds for {n} images")
            out.append(r + n if r < 0 else r)
        return out

    def __getitem__(self, index) -> torch.Tensor:
        """The preprocessed images of rows ``index`` as one float tensor (an int: one image [3, H, W])."""
        if isinstance(index, (int, np.integer)):
            return self[[int(index)]][0]
        rows = tuple(self._rows(index))
        with self._lock:
            last = self._last
        if last is not None and last[0] == rows:
            return last[1].clone()
        if not rows:
            out = torch.zeros((0, *self._first().shape), dtype=self.dtype)
        elif len(rows) == 1:
            out = torch.stack([self._decode(rows[0])])
        else:
            out = torch.stack(list(decode_pool().map(self._decode, rows)))
        if self.device is not None:
            out = out.to(self.device)
        with self._lock:
            self._last = (rows, out)
        return out.clone()

    def take(self, index) -> LazyImages:
        """Rows ``index`` as a new LazyImages (the same stores; nothing decoded or copied)."""
        return self._view(np.asarray(self._rows(index), dtype=np.int64), self.device)

    def to(self, device: torch.device | str) -> LazyImages:
        """The same rows, their batches put on ``device``."""
        return self._view(None, device)

    def __repr__(self) -> str:
        return f"LazyImages({len(self)} rows of {', '.join(self._names)}, {self.encoded_bytes:,} encoded bytes)"


def concat_images(parts: Sequence[torch.Tensor | LazyImages]) -> torch.Tensor | LazyImages:
    """Row-wise concatenation: ``torch.cat`` of tensors, :meth:`LazyImages.concat` of lazy parts."""
    if all(isinstance(p, LazyImages) for p in parts):
        return LazyImages.concat(parts)
    if any(isinstance(p, LazyImages) for p in parts):
        raise TypeError("concat_images: cannot mix dense and lazy image parts")
    return torch.cat(list(parts))
