"""Encode once, score many: the EmbeddingBank embeds each unique image and caption once per model.

Images are keyed by ``{source split}/{file_name}`` (derived subsets such as ``retain_joint`` map to
their source split, so a row shared by two subsets is decoded and embedded once), external files
(ImageNet) by ``file:{path}:{size}:{mtime}``, ImageNet parquet rows by
``parquet:{shard}:{size}:{mtime}:{row}``, captions by their string. Embeddings are
L2-normalised float32 numpy arrays from the model's own open_clip preprocess and tokenizer.

On-disk cache (never pickled): ``CACHE_DIR/<key>/{images,texts}.npy`` + ``*.keys.json`` +
``meta.json``, where ``key`` hashes the checkpoint sha256, architecture, preprocess config, dataset
fingerprint and protocol hash. ``CACHE_DIR`` defaults to ``$XDG_CACHE_HOME/salmubench/embeddings``
(``~/.cache/salmubench/embeddings``). A model without a checkpoint sha256 (never saved) is not cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from salmubench.data import schema as S
from salmubench.data.tables import SplitTable, decode_image_bytes
from salmubench.data.tensor_cache import EVAL_MAX_CACHED_BYTES, cached_split_images
from salmubench.data.torch_data import tokenize
from salmubench.execution import autocast, check_precision
from salmubench.io_utils import atomic_path, atomic_write_json, cache_root, read_json
from salmubench.progress import OnProgress, Task

EMBED_FORMAT = "salmubench.embeddings/1"
SOURCE_SPLIT = {S.RETAIN_JOINT: S.RETAIN_SYNTH, S.RETAIN_DISJOINT: S.RETAIN_SYNTH,
                S.FRAGILE_SET: S.RETAIN_SYNTH, S.FORGET_IDENTITY: S.FORGET}


class Embeddings(Protocol):
    """What metrics read: row-aligned, L2-normalised float32 embeddings."""

    def images(self, split: SplitTable) -> np.ndarray:
        """[len(split), d] image embeddings of a split's rows."""

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), d] embeddings of caption strings."""

    def files(self, paths: Sequence[Path]) -> np.ndarray:
        """[len(paths), d] embeddings of image files (ImageNet as an ImageFolder)."""

    def encoded(self, keys: Sequence[str], loaders: Sequence[Callable]) -> np.ndarray:
        """[len(keys), d] embeddings of keyed images given by loaders (ImageNet parquet rows)."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/salmubench/embeddings`` (``~/.cache/...`` when XDG_CACHE_HOME is unset)."""
    return cache_root() / "embeddings"


def cache_key(checkpoint_sha256: str, arch: str, preprocess_cfg: dict, data_fingerprint: str,
              protocol_hash: str) -> str:
    """The cache folder name: sha256 (24 hex) of everything the embeddings depend on."""
    blob = json.dumps([EMBED_FORMAT, checkpoint_sha256, arch, preprocess_cfg, data_fingerprint, protocol_hash],
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class KeyedArrays:
    """An append-only ``key -> row`` table of float32 vectors (one per images / texts)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        self._chunks: list[np.ndarray] = []
        self._array: np.ndarray | None = None
        self.dirty = False

    def __len__(self) -> int:
        return len(self.keys)

    def missing(self, keys: Sequence[str]) -> list[str]:
        """Unique keys not yet stored, in order of first appearance."""
        return [k for k in dict.fromkeys(keys) if k not in self.index]

    def add(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        for key in keys:
            self.index[key] = len(self.keys)
            self.keys.append(key)
        self._chunks.append(np.asarray(vectors, dtype=np.float32))
        self._array = None
        self.dirty = True

    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.concatenate(self._chunks) if self._chunks else np.zeros((0, 0), np.float32)
            self._chunks = [self._array]
        return self._array

    def lookup(self, keys: Sequence[str]) -> np.ndarray:
        return self.array()[np.fromiter((self.index[k] for k in keys), dtype=np.int64, count=len(keys))]

    def save(self, folder: Path, name: str) -> None:
        with atomic_path(folder / f"{name}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, self.array(), allow_pickle=False)
        atomic_write_json(folder / f"{name}.keys.json", self.keys, indent=None)
        self.dirty = False

    @classmethod
    def load(cls, folder: Path, name: str) -> KeyedArrays:
        """Read a saved table; an unreadable or inconsistent one loads as empty."""
        out = cls()
        try:
            keys = read_json(folder / f"{name}.keys.json")
            array = np.load(folder / f"{name}.npy", allow_pickle=False)
        except (OSError, ValueError):
            return out
        if isinstance(keys, list) and array.ndim == 2 and len(keys) == array.shape[0]:
            out.add(keys, array)
            out.dirty = False
        return out


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class EmbeddingBank:
    """Embeds images and captions with one model, each unique item once, cached on disk.

    Args:
        bundle: a :class:`~salmubench.models.ClipBundle` (model, preprocess, tokenizer).
        batch_size: items per forward pass.
        device: torch device of the forward passes.
        cache_dir: folder holding this model+data's cache (``None``: memory only).
        on_progress: progress callback, one task per embedding pass (``salmubench.progress``).
        workers: threads decoding + preprocessing images (default: 1 on CPU, where the model
            needs the cores, up to 8 on an accelerator).
        precision: ``"fp32"`` (no autocast: the default) or ``"bf16"`` (forward passes under
            ``execution.autocast``, CUDA only; features cast back to float32 before normalising).
    """

    def __init__(self, bundle: Any, batch_size: int = 256, device: str = "cpu",
                 cache_dir: str | os.PathLike | None = None, on_progress: OnProgress | None = None,
                 workers: int | None = None, precision: str = "fp32") -> None:
        self.bundle = bundle
        check_precision(precision, device)  # bf16 off CUDA is refused before any work
        self.precision = precision
        self.workers = workers or (1 if str(device) == "cpu" else min(8, os.cpu_count() or 1))
        self.batch_size = max(1, int(batch_size))
        self.device = device
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.on_progress = on_progress
        self.embed_seconds = 0.0
        self.counts = {"images_embedded": 0, "texts_embedded": 0}
        self._images = KeyedArrays.load(self.cache_dir, "images") if self.cache_dir else KeyedArrays()
        self._texts = KeyedArrays.load(self.cache_dir, "texts") if self.cache_dir else KeyedArrays()
        self.counts["images_cached"], self.counts["texts_cached"] = len(self._images), len(self._texts)

    # ---- public lookups (the Embeddings protocol) ----
    def images(self, split: SplitTable) -> np.ndarray:
        """[len(split), d] embeddings of a split's images (decoded only when not yet embedded)."""
        source = SOURCE_SPLIT.get(split.name, split.name)
        keys = [f"{source}/{f}" for f in split.file_names]
        todo = self._images.missing(keys)
        if todo:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            rows = [first[k] for k in todo]
            # decoded once per machine when small enough (data/tensor_cache.py; bit-identical to decoding here)
            images = (cached_split_images(split, self.bundle.preprocess, max_bytes=EVAL_MAX_CACHED_BYTES)
                      if 2 * len(todo) > len(split) else None)
            if images is not None:
                self._embed_prepared(todo, images, rows, f"{split.name}: {len(todo)}")
            else:
                # each image's bytes are read when decoded (a lazily loaded split: a shard at a time)
                loaders = [lambda r=r, k=k: decode_image_bytes(split.image_bytes(r), f"{split.name} row {r} ({k})")
                           for r, k in zip(rows, todo, strict=True)]
                self._embed_images(todo, loaders, f"{split.name}: {len(todo)}")
        return self._images.lookup(keys)

    def files(self, paths: Sequence[Path]) -> np.ndarray:
        """[len(paths), d] embeddings of image files, keyed by path, size and mtime."""
        keys = [_file_key(Path(p)) for p in paths]
        todo = self._images.missing(keys)
        if todo:
            by_key = dict(zip(keys, paths, strict=True))
            self._embed_images(todo, [lambda p=by_key[k]: _open_image(Path(p)) for k in todo], f"files: {len(todo)}")
        return self._images.lookup(keys)

    def encoded(self, keys: Sequence[str], loaders: Sequence[Callable]) -> np.ndarray:
        """[len(keys), d] embeddings of images named by unique ``keys`` (e.g. ImageNet parquet rows),
        each loaded by its loader (a callable returning an RGB PIL image) only when not yet embedded."""
        todo = self._images.missing(keys)
        if todo:
            by_key = dict(zip(keys, loaders, strict=True))
            self._embed_images(todo, [by_key[k] for k in todo], f"images: {len(todo)}")
        return self._images.lookup(keys)

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), d] embeddings of caption strings."""
        texts = list(texts)
        todo = self._texts.missing(texts)
        if todo:
            self._embed_texts(todo)
        if not texts:
            return np.zeros((0, self._dim()), dtype=np.float32)
        return self._texts.lookup(texts)

    def prefetch(self, splits: Sequence[SplitTable], extra_texts: Sequence[str] = ()) -> None:
        """Embed the images of ``splits`` and all their captions (+ ``extra_texts``) up front.

        One text pass over everything, sorted by token length, instead of one pass per metric
        request: fewer partial batches, less padding. Later lookups are served from memory.
        """
        texts: list[str] = list(extra_texts)
        for split in splits:
            self.images(split)
            texts += split.texts
        self.texts(texts)

    def save(self) -> None:
        """Write new embeddings to the cache folder (no-op without one or without new items)."""
        if self.cache_dir is None or not (self._images.dirty or self._texts.dirty):
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        for name, table in (("images", self._images), ("texts", self._texts)):
            if table.dirty:
                table.save(self.cache_dir, name)
        atomic_write_json(self.cache_dir / "meta.json", {"format": EMBED_FORMAT, "arch": self.bundle.arch,
                                                          "checkpoint_sha256": self.bundle.checkpoint_sha256,
                                                          "images": len(self._images), "texts": len(self._texts)})

    # ---- embedding ----
    def _dim(self) -> int:
        return int(self.bundle.model_cfg.get("embed_dim", 0))

    def _embed_images(self, keys: list[str], loaders: list[Callable], what: str) -> None:
        preprocess = self.bundle.preprocess

        decode_pool = ThreadPoolExecutor(max_workers=self.workers) if self.workers > 1 else None

        def prepare(batch: Sequence[Callable]):
            import torch

            if decode_pool is None:
                return torch.stack([preprocess(load()) for load in batch])
            return torch.stack(list(decode_pool.map(lambda load: preprocess(load()), batch)))

        try:
            out = self._run(loaders, prepare, lambda m, x: m.encode_image(x), f"embed images ({what})")
        finally:
            if decode_pool is not None:
                decode_pool.shutdown()
        self._images.add(keys, out)
        self.counts["images_embedded"] += len(keys)

    def _embed_prepared(self, keys: list[str], images: Any, rows: list[int], what: str) -> None:
        """Embed already preprocessed ``images[rows]`` (from the tensor cache) under ``keys``."""
        out = self._run(rows, lambda batch: images[list(batch)], lambda m, x: m.encode_image(x),
                        f"embed images ({what})")
        self._images.add(keys, out)
        self.counts["images_embedded"] += len(keys)

    def _embed_texts(self, texts: list[str]) -> None:
        """Tokenise all, then embed in batches of similar token length (see ``encode_text_trimmed``)."""
        tokens = tokenize(texts, self.bundle.tokenizer)
        order = np.argsort((tokens != 0).sum(axis=1).numpy(), kind="stable")
        out = self._run(tokens[order], lambda batch: batch, encode_text_trimmed, f"embed texts ({len(texts)})")
        vectors = np.empty_like(out)
        vectors[order] = out
        self._texts.add(texts, vectors)
        self.counts["texts_embedded"] += len(texts)

    def _run(self, items: Sequence, prepare: Callable, forward: Callable, what: str) -> np.ndarray:
        """Batched forward passes; the next batch is prepared in a thread while the model runs."""
        import torch

        start = time.perf_counter()
        model = self.bundle.model.eval()
        chunks = []
        batches = list(_batches(items, self.batch_size))
        task = Task(self.on_progress, what, len(items)).start()
        with torch.inference_mode(), autocast(self.precision, self.device), ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(prepare, batches[0])
            for k in range(len(batches)):
                x = pending.result()
                if k + 1 < len(batches):
                    pending = pool.submit(prepare, batches[k + 1])
                feats = forward(model, x.to(self.device)).float()
                feats = torch.nn.functional.normalize(feats, dim=-1)
                chunks.append(feats.cpu().numpy().astype(np.float32, copy=False))
                task.advance(len(batches[k]))
        self.embed_seconds += time.perf_counter() - start
        return np.concatenate(chunks)


def encode_text_trimmed(model: Any, tokens: Any) -> Any:
    """``model.encode_text(tokens)``, skipping the batch's all-padding tail positions when exact.

    For open_clip's ``CLIP`` with a causal mask and EOT (argmax) pooling, positions after the
    batch's longest caption cannot influence the pooled EOT features, so the sequence is cut to
    that length (the same computation on fewer tokens; ~2-3x faster for short captions with a
    long context). Any other model (custom text towers, no causal mask, other pooling) runs the
    unmodified ``model.encode_text``.
    """
    import torch
    from open_clip.model import CLIP, text_global_pool

    mask = getattr(model, "attn_mask", None)
    if type(model) is not CLIP or mask is None or getattr(model, "text_pool_type", None) != "argmax":
        return model.encode_text(tokens)
    length = int((tokens != 0).sum(dim=1).max())  # SimpleTokenizer pads with id 0 after EOT
    tokens = tokens[:, :max(length, 1)]
    n = tokens.shape[1]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:n].to(cast)
    x = model.ln_final(model.transformer(x, attn_mask=mask[:n, :n]))
    x = text_global_pool(x, tokens, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
    proj = model.text_projection
    if proj is None:
        return x
    return proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj


def _file_key(path: Path) -> str:
    stat = path.stat()
    return f"file:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _open_image(path: Path):
    """An image file (an ImageNet ImageFolder's) as RGB; a one-line DataError naming the file if it does
    not decode or is over ``data.tables.MAX_IMAGE_PIXELS``."""
    from salmubench.data.tables import open_image

    return open_image(path, str(path))
