"""Decode once per machine: the preprocessed image tensors of a split, cached on disk by content.

Every stage of a run used to decode and preprocess the same images again (an unlearning stage spent
~4 s of its ~7 s decoding the forget and retain splits; an evaluation ~1.5 s of ~3.5 s). The first
stage that needs a split's images now writes them to ``CACHE_DIR/<key>.safetensors`` and every later
stage, in any process, reads them back:

    key = sha256(FORMAT, content digest of the split's encoded images (row order),
                 description of the preprocess transform)

The key depends only on the bytes of the images and the transform (each transform's class and
attributes: size, interpolation, crop, mean/std; :func:`preprocess_description`), never on a split's
name, so a derived subset and the released data are keyed the same way, the training corpus and the
unlearning stages share entries, and a changed image or transform is a different entry.
The stored tensor is the float32 output of ``preprocess(decode_image_bytes(...))`` itself, so a
cached read is bit-identical to decoding again (``tests/data/test_tensor_cache.py``).

* Format: safetensors (never pickle), one tensor ``images`` [N, 3, H, W] float32, metadata
  ``format``, ``rows``, ``content`` and ``preprocess``; an entry whose metadata or shape does not match
  its key is ignored and rewritten (a corrupt or foreign file is never trusted).
* Writes are atomic (temp file + rename), so concurrent stages (``run --jobs``) can race safely.
* Location: ``$SALMUBENCH_TENSOR_CACHE`` when set to a folder, else
  ``$XDG_CACHE_HOME/salmubench/tensors`` (``~/.cache/...``); ``SALMUBENCH_TENSOR_CACHE=off`` disables it.
  The embedded default writes ~0.3 GB (mostly general_retain); delete the folder to reclaim it.
* Transforms without a stable description (a lambda, an object shown by its address) are never
  cached: they are decoded every time, as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from salmubench.data.tables import SplitTable
from salmubench.io_utils import atomic_path, cache_root

FORMAT = "salmubench.tensors/1"
ENV = "SALMUBENCH_TENSOR_CACHE"
# Splits whose preprocessed images would exceed this are never cached (one ViT-B/16 image is 0.6 MB):
# callers that hold a whole split in memory anyway (unlearning data, an in-memory training corpus)
# decode it as before. The evaluator streams images and uses the cache only up to EVAL_MAX_CACHED_BYTES,
# so its memory does not grow with the dataset (a cached split is read whole).
MAX_CACHED_BYTES = 512 << 20
EVAL_MAX_CACHED_BYTES = 64 << 20
_UNSTABLE_REPR = re.compile(r"<[^>]* at 0x[0-9a-fA-F]+>|<lambda>|<function ")


def default_tensor_cache_dir() -> Path | None:
    """The cache folder (module docstring), or None when ``SALMUBENCH_TENSOR_CACHE=off``."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in ("off", "0", "false", "no"):
        return None
    return Path(value) if value else cache_root() / "tensors"


def _canonical(value: Any) -> Any:
    """A JSON-able, process-independent form of a transform attribute (tuples and lists alike)."""
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "tolist"):
        return _canonical(value.tolist())
    return repr(value)


def preprocess_description(preprocess: Callable) -> str | None:
    """A process-independent description of ``preprocess``, or None when it has none.

    A torchvision ``Compose`` is described by each transform's class and public attributes (so
    ``mean=(0.48, ...)`` and ``mean=[0.48, ...]``, the same transform built by ``create_model`` and read
    back by ``load_model``, share a key); anything else by its repr. A function or an object shown by
    its address (a lambda) has no stable description: such transforms are never cached.
    """
    transforms = getattr(preprocess, "transforms", None)
    if isinstance(transforms, (list, tuple)):
        parts = []
        for t in transforms:
            try:
                attrs = {k: _canonical(v) for k, v in sorted(vars(t).items()) if not k.startswith("_") and k != "training"}
            except TypeError:  # no __dict__
                attrs = {"repr": repr(t)}
            parts.append({"type": f"{type(t).__module__}.{type(t).__qualname__}", **attrs})
        text = json.dumps(parts, sort_keys=True)
    else:
        text = repr(preprocess)
    return None if _UNSTABLE_REPR.search(text) else text


def preprocessed_bytes(split: SplitTable, preprocess: Callable) -> int:
    """Bytes of ``split``'s images once preprocessed (from its first row's output; 0 when empty)."""
    if not len(split):
        return 0
    first = preprocess(split.decode_image(0))
    return int(first.numel() * first.element_size() * len(split))


def _cache_plan(split: SplitTable, preprocess: Callable, cache_dir: str | os.PathLike | None | bool,
                max_bytes: int | None) -> tuple[Path, str] | None:
    """``(cache folder, transform description)`` when ``split`` is cached: the cache enabled, a stable
    transform, at most ``max_bytes`` (default ``MAX_CACHED_BYTES``) once preprocessed; else None."""
    folder = default_tensor_cache_dir() if cache_dir is None else (Path(cache_dir) if cache_dir else None)
    if folder is None or not len(split):
        return None
    description = preprocess_description(preprocess)
    limit = MAX_CACHED_BYTES if max_bytes is None else max_bytes
    if description is None or preprocessed_bytes(split, preprocess) > limit:
        return None
    return folder, description


def cacheable(split: SplitTable, preprocess: Callable, cache_dir: str | os.PathLike | None | bool = None,
              max_bytes: int | None = None) -> bool:
    """Whether :func:`split_images` uses the cache for ``split`` (see :func:`_cache_plan`)."""
    return _cache_plan(split, preprocess, cache_dir, max_bytes) is not None


def content_sha256(split: SplitTable) -> str:
    """sha256 over the rows' image digests in row order: ``sha256(d_0 || d_1 || ...)`` with
    ``d_i = sha256(bytes of row i)`` (32 zero bytes for a row without bytes). The same for a split
    held in memory and one loaded lazily (read in shard order, hashed in row order)."""
    digests = [b"\0" * 32] * len(split)
    for row, blob in split.iter_image_bytes():
        if blob is not None:
            digests[row] = hashlib.sha256(blob).digest()
    return hashlib.sha256(b"".join(digests)).hexdigest()


def decode_split_images(split: SplitTable, preprocess: Callable, progress: Callable[[int], None] | None = None,
                        chunk: int = 512) -> torch.Tensor:
    """Decode + preprocess every image of ``split`` (no cache): [len(split), 3, H, W]."""
    out = []
    n = len(split)
    for start in range(0, n, chunk):
        rows = range(start, min(n, start + chunk))
        out.append(torch.stack([preprocess(split.decode_image(i)) for i in rows]))
        if progress:
            progress(len(rows))
    return torch.cat(out) if out else torch.zeros((0, 3, 1, 1))


def split_images(split: SplitTable, preprocess: Callable, progress: Callable[[int], None] | None = None,
                 cache_dir: str | os.PathLike | None | bool = None) -> torch.Tensor:
    """Every image of ``split`` decoded and preprocessed: [len(split), 3, H, W] float, read from the
    tensor cache when there (module docstring), else decoded and written there.

    Args:
        split: the rows (any SplitTable: a split, a ``take`` of one, a derived subset).
        preprocess: the model's open_clip image transform.
        progress: called with a number of rows done (once with all of them on a cache hit).
        cache_dir: the cache folder; None: :func:`default_tensor_cache_dir`; False: no cache.
    """
    images = cached_split_images(split, preprocess, progress, cache_dir)
    return images if images is not None else decode_split_images(split, preprocess, progress)


def cached_split_images(split: SplitTable, preprocess: Callable, progress: Callable[[int], None] | None = None,
                        cache_dir: str | os.PathLike | None | bool = None, max_bytes: int | None = None
                        ) -> torch.Tensor | None:
    """:func:`split_images` through the cache (read, or decoded and written), or None without decoding
    anything when ``split`` is not cached (:func:`_cache_plan`; ``max_bytes``: a caller's own limit),
    so that a caller can stream it instead."""
    plan = _cache_plan(split, preprocess, cache_dir, max_bytes)
    if plan is None:
        return None
    folder, description = plan
    content = content_sha256(split)
    key = hashlib.sha256(f"{FORMAT}\n{content}\n{description}".encode()).hexdigest()[:32]
    path = folder / f"{key}.safetensors"
    images = _read(path, content, description, len(split))
    if images is not None:
        if progress:
            progress(len(split))
        return images
    images = decode_split_images(split, preprocess, progress)
    _write(path, images, content, description)
    return images


def image_batches(split: SplitTable, preprocess: Callable, batch_size: int) -> Iterator[torch.Tensor]:
    """``split``'s preprocessed images in row order, ``batch_size`` rows at a time: sliced from the
    cache when :func:`cacheable`, else decoded batch by batch (memory bounded by one batch)."""
    images = cached_split_images(split, preprocess)
    if images is not None:
        for start in range(0, len(split), batch_size):
            yield images[start:start + batch_size]
        return
    for start in range(0, len(split), batch_size):
        yield decode_split_images(split.take(range(start, min(len(split), start + batch_size))), preprocess)


def _read(path: Path, content: str, description: str, rows: int) -> torch.Tensor | None:
    """The cached tensor, or None when absent, unreadable or not the entry of this key."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            if (meta.get("format"), meta.get("content"), meta.get("preprocess"), meta.get("rows")) != (
                    FORMAT, content, description, str(rows)):
                return None
            images = fh.get_tensor("images")
    except (OSError, SafetensorError, ValueError, KeyError, RuntimeError):
        return None
    if images.dtype != torch.float32 or images.ndim != 4 or images.shape[0] != rows:
        return None
    return images


def _write(path: Path, images: torch.Tensor, content: str, description: str) -> None:
    """Store ``images`` atomically; a full disk or read-only folder only costs the next stage a decode."""
    from safetensors.torch import save_file

    meta = {"format": FORMAT, "content": content, "preprocess": description, "rows": str(images.shape[0])}
    try:
        with atomic_path(path) as tmp:
            save_file({"images": images.contiguous()}, str(tmp), metadata=meta)
    except OSError:
        pass
