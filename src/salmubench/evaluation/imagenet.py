"""The ImageNet-1K images GenKnow reads with ``imagenet=DIR``: an ImageFolder or parquet shards.

Two layouts of the same validation set are accepted (docs/metrics.md, "GenKnow on ImageNet-1K"):

* an **ImageFolder** (``DIR/<class>/<image>``, torchvision's layout): the classes are the sorted folder
  names; with 1,000 folders (the val set's wnids, whose sorted order is the standard label order) the
  prompts use open_clip's ``IMAGENET_CLASSNAMES``, otherwise the folder names (underscores as spaces);
* **parquet shards** as the Hugging Face ``imagenet-1k`` dataset ships them (``DIR/*.parquet`` or
  ``DIR/data/*.parquet``; when some shard names start with ``validation`` only those are read), with
  columns ``image`` (a struct with ``bytes`` / ``path``, or plain binary) and ``label`` (the class id
  0..999 in the standard order): the prompts use ``IMAGENET_CLASSNAMES[label]``.

Either way the classifier has one class per class present (all 1,000 for the val set), so the same
images give the same GenKnow in both layouts. A missing folder, a folder with neither layout, an
unreadable shard, a missing column or a label outside 0..999 is a one-line DataError.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from salmubench.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".JPEG", ".JPG", ".PNG")
N_IMAGENET_CLASSES = 1000
IMAGE_COLUMN, LABEL_COLUMN = "image", "label"


def imagefolder(root: Path) -> tuple[list[str], list[Path], np.ndarray]:
    """``(class folder names, image paths, labels)`` of an ImageFolder (sorted, as torchvision)."""
    if not root.is_dir():
        raise DataError(f"imagenet {root}: not a directory")
    try:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        paths, labels = [], []
        for label, cls in enumerate(classes):
            files = sorted(p for p in (root / cls).rglob("*") if p.suffix in IMAGE_SUFFIXES and p.is_file())
            paths += files
            labels += [label] * len(files)
    except OSError as exc:
        raise DataError(f"imagenet {root}: unreadable ({exc.__class__.__name__}: {exc})") from None
    if not paths:
        raise DataError(f"imagenet {root}: no images in class folders")
    return classes, paths, np.asarray(labels, dtype=np.int64)


def imagenet_classnames(folders: Sequence[str]) -> list[str]:
    """open_clip's IMAGENET_CLASSNAMES for a 1,000-folder val set (sorted wnids give the standard
    order); for any other folder count the folder names themselves (underscores as spaces)."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    if len(folders) == len(IMAGENET_CLASSNAMES):
        return list(IMAGENET_CLASSNAMES)
    return [f.replace("_", " ") for f in folders]


def parquet_shards(root: Path) -> list[Path]:
    """The parquet shards of ``root`` (``root/*.parquet``, else ``root/data/*.parquet``); only the
    ``validation*`` ones when some shard names start so (the HF layout with several splits)."""
    shards = sorted(root.glob("*.parquet")) or sorted((root / "data").glob("*.parquet"))
    validation = [s for s in shards if s.name.startswith("validation")]
    return validation or shards


@dataclass
class ParquetImages:
    """Rows of parquet shards, read one row group at a time (two kept) when an image is needed."""

    shards: list[Path]
    where: list[tuple[int, int, int]]  # per image: (shard, row group, row within the group)
    keys: list[str]  # embedding-cache key of every image (shard path, size, mtime, row)
    _groups: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, k: int):
        """Image ``k`` as an RGB PIL image."""
        from salmubench.data.tables import decode_image_bytes

        shard, group, row = self.where[k]
        cell = self._group(shard, group)[row]
        if isinstance(cell, dict):
            blob, path = cell.get("bytes"), cell.get("path")
            if blob is None and path:
                file = Path(path) if Path(path).is_absolute() else self.shards[shard].parent / path
                blob = _read_bytes(file)
        else:
            blob = cell
        if blob is None:
            raise DataError(f"imagenet {self.shards[shard]}: row {row} of row group {group} has no image")
        return decode_image_bytes(blob, f"imagenet {self.shards[shard].name} row {row}")

    def _group(self, shard: int, group: int) -> list:
        with self._lock:
            cells = self._groups.get((shard, group))
            if cells is None:
                cells = _read_group(self.shards[shard], group)
                self._groups[(shard, group)] = cells
                while len(self._groups) > 2:
                    self._groups.popitem(last=False)
            return cells


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"imagenet {path}: unreadable image ({exc.__class__.__name__})") from None


def _read_group(shard: Path, group: int) -> list:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(shard).read_row_group(group, columns=[IMAGE_COLUMN]).column(0).to_pylist()
    except (OSError, ValueError) as exc:
        raise DataError(f"imagenet {shard}: unreadable parquet shard ({exc})") from None


def read_parquet(root: Path, shards: list[Path]) -> tuple[np.ndarray, ParquetImages]:
    """``(labels, images)`` of parquet shards (columns ``image`` and ``label``)."""
    import pyarrow.parquet as pq

    labels, where, keys = [], [], []
    for s, shard in enumerate(shards):
        try:
            pf = pq.ParquetFile(shard)
            missing = [c for c in (IMAGE_COLUMN, LABEL_COLUMN) if c not in pf.schema_arrow.names]
            if missing:
                raise DataError(f"imagenet {shard}: no column {', '.join(missing)} (expected image, label)")
            shard_labels = pf.read(columns=[LABEL_COLUMN]).column(0).to_pylist()
            stat = shard.stat()
        except (OSError, ValueError) as exc:
            raise DataError(f"imagenet {shard}: unreadable parquet shard ({exc})") from None
        labels += shard_labels
        prefix = f"parquet:{shard.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        row = 0
        for g in range(pf.metadata.num_row_groups):
            for r in range(pf.metadata.row_group(g).num_rows):
                where.append((s, g, r))
                keys.append(f"{prefix}:{row}")
                row += 1
    bad = [v for v in labels if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < N_IMAGENET_CLASSES]
    if bad:
        raise DataError(f"imagenet {root}: label {bad[0]!r} is not a class id 0..{N_IMAGENET_CLASSES - 1}")
    if not labels:
        raise DataError(f"imagenet {root}: the parquet shards hold no rows")
    return np.asarray(labels, dtype=np.int64), ParquetImages(shards=shards, where=where, keys=keys)


@dataclass
class ImageNetImages:
    """The images GenKnow classifies, in either layout (module docstring).

    Attributes:
        root: the folder given.
        layout: ``"imagefolder"`` or ``"parquet"``.
        classnames: the classifier's class names (one per class present).
        labels: per image, its index into ``classnames``.
        paths: ImageFolder image files (None for parquet).
        rows: parquet rows (None for an ImageFolder).
    """

    root: Path
    layout: str
    classnames: list[str]
    labels: np.ndarray
    paths: list[Path] | None = None
    rows: ParquetImages | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def sources(self) -> list[Path]:
        """The files read: the shards (parquet) or the root folder (ImageFolder), resolved."""
        return [s.resolve() for s in self.rows.shards] if self.rows is not None else [self.root.resolve()]

    def embed(self, emb) -> np.ndarray:
        """[n, d] image embeddings (an EmbeddingBank: ``files`` / ``encoded``), in label order."""
        if self.paths is not None:
            return emb.files(self.paths)
        return emb.encoded(self.rows.keys, [lambda k=k: self.rows.load(k) for k in range(len(self.rows.keys))])

    def identity(self) -> dict:
        """What identifies these images (layout, files, sizes, labels), for cache keys."""
        digest = hashlib.sha256()
        files = self.rows.shards if self.rows is not None else self.paths
        for path in files:
            digest.update(f"{path.relative_to(self.root) if path.is_relative_to(self.root) else path.name}:"
                          f"{path.stat().st_size}\n".encode())
        digest.update(np.ascontiguousarray(self.labels).tobytes())
        return {"layout": self.layout, "n": len(self), "n_classes": len(self.classnames),
                "sha256": digest.hexdigest()[:16]}


def open_imagenet(spec: str | os.PathLike | ImageNetImages, what: str = "imagenet") -> ImageNetImages:
    """The images of an ImageNet-1K folder in either layout (module docstring); ``spec`` already
    opened is returned as is. ``what`` names the parameter in the one-line DataError."""
    if isinstance(spec, ImageNetImages):
        return spec
    root = Path(spec)
    try:
        if not root.is_dir():
            raise DataError(f"{what} {root}: not a directory (an ImageFolder or parquet shards of ImageNet-1K)")
        shards = parquet_shards(root)
        if shards:
            from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

            raw, rows = read_parquet(root, shards)
            present, labels = np.unique(raw, return_inverse=True)
            return ImageNetImages(root=root, layout="parquet", classnames=[IMAGENET_CLASSNAMES[c] for c in present],
                                  labels=labels.astype(np.int64), rows=rows)
        folders, paths, labels = imagefolder(root)
    except DataError as exc:
        text = str(exc)
        raise DataError(what + text[len("imagenet"):] if text.startswith("imagenet") else text) from None
    return ImageNetImages(root=root, layout="imagefolder", classnames=imagenet_classnames(folders), labels=labels,
                          paths=paths)


def same_images(a: ImageNetImages, b: ImageNetImages) -> bool:
    """True when two opened sets read the same files: the same folder, or shared parquet shards."""
    if a.root.resolve() == b.root.resolve():
        return True
    return bool(set(a.sources) & set(b.sources)) and a.rows is not None and b.rows is not None
