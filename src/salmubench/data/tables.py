"""A split in memory: :class:`SplitTable` (a pyarrow table with typed accessors), the lazily read
image shards behind it (:class:`ImageShards`) and :func:`decode_image_bytes`."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from salmubench.data import schema as S
from salmubench.errors import DataError

IMAGE_ROW = "__image_row"  # lazily loaded splits: the row of each image in the split's shards


class ImageShards:
    """The encoded images of a split loaded with ``images="lazy"``: read from its parquet shards on
    demand, one shard (at most ~64 MiB of images in our layout) at a time.

    Memory stays bounded whatever the dataset size: at most ``keep`` shards' image columns are held
    (least recently used dropped). Reading rows in shard order (:meth:`SplitTable.iter_image_bytes`)
    reads every shard once.
    """

    def __init__(self, paths: Sequence[Path], counts: Sequence[int], keep: int = 2) -> None:
        self.paths = list(paths)
        self.starts = np.cumsum([0, *counts])
        self.keep = keep
        self._cache: dict[int, pa.Array] = {}
        self._lock = threading.Lock()  # decode threads (EmbeddingBank workers) share one store

    def locate(self, row: int) -> tuple[int, int]:
        """(shard index, row within the shard) of split row ``row``."""
        shard = int(np.searchsorted(self.starts, row, side="right")) - 1
        return shard, row - int(self.starts[shard])

    def shard_bytes(self, shard: int) -> pa.Array:
        """The ``image.bytes`` column of one shard (read once while among the ``keep`` newest)."""
        with self._lock:
            if shard in self._cache:
                self._cache[shard] = self._cache.pop(shard)
                return self._cache[shard]
            return self._read_shard(shard)

    def _read_shard(self, shard: int) -> pa.Array:
        path = self.paths[shard]
        try:
            column = pq.read_table(path, columns=[S.COL_IMAGE]).column(S.COL_IMAGE)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"{path}: not a readable parquet file ({exc})") from None
        import pyarrow.compute as pc

        values = pc.struct_field(column.combine_chunks(), "bytes")
        while len(self._cache) >= self.keep:
            self._cache.pop(next(iter(self._cache)))
        self._cache[shard] = values
        return values

    def get(self, row: int) -> bytes | None:
        shard, local = self.locate(row)
        return self.shard_bytes(shard)[local].as_py()


@dataclass(frozen=True)
class SplitTable:
    """One split (or derived subset) as a pyarrow table with typed accessors.

    ``images`` is None when the table holds the ``image`` column (the default); for a split loaded
    with ``images="lazy"`` it is the :class:`ImageShards` its images are read from, and the table holds
    the ``__image_row`` column instead (kept through ``take`` / ``where`` / :meth:`with_table`).
    """

    name: str
    table: pa.Table
    images: ImageShards | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def texts(self) -> list[str]:
        return self.table.column(S.COL_TEXT).to_pylist()

    @property
    def identity_ids(self) -> list[str | None]:
        return [i if i else None for i in self.table.column(S.COL_IDENTITY).to_pylist()]

    @property
    def file_names(self) -> list[str]:
        return self.table.column(S.COL_FILE).to_pylist()

    def column(self, name: str) -> list[Any]:
        """Values of any column (e.g. ``label`` in the zeroshot split)."""
        if name not in self.table.column_names:
            raise DataError(f"split {self.name!r} has no column {name!r}")
        return self.table.column(name).to_pylist()

    def image_bytes(self, index: int) -> bytes:
        """Encoded bytes of row ``index``'s image."""
        if self.images is not None:
            blob = self.images.get(int(self.table.column(IMAGE_ROW)[index].as_py()))
        else:
            cell = self.table.column(S.COL_IMAGE)[index].as_py()
            blob = cell.get("bytes") if cell else None
        if blob is None:
            raise DataError(f"{self.name}: row {index} has no image bytes")
        return blob

    def iter_image_bytes(self, rows: Sequence[int] | None = None) -> Iterable[tuple[int, bytes | None]]:
        """``(row, encoded bytes or None)`` for ``rows`` (default: all), in shard order for a lazy
        split (each shard read once), in the given order otherwise."""
        rows = range(len(self)) if rows is None else rows
        if self.images is None:
            import pyarrow.compute as pc

            column = pc.struct_field(self.table.column(S.COL_IMAGE), "bytes")
            for r in rows:
                yield r, column[r].as_py()
            return
        stored = self.table.column(IMAGE_ROW).to_numpy()
        for r in sorted(rows, key=lambda r: int(stored[r])):
            yield r, self.images.get(int(stored[r]))

    def decode_image(self, index: int):
        """Row ``index``'s image as an RGB PIL image; DataError if it does not decode."""
        return decode_image_bytes(self.image_bytes(index), f"{self.name} row {index}")

    def with_table(self, table: pa.Table, name: str | None = None) -> SplitTable:
        """The same images (eager column or lazy shards) with another table of the same rows (e.g. new
        captions), optionally renamed."""
        return SplitTable(name or self.name, table, self.images)

    def take(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> SplitTable:
        """A new SplitTable with the given rows (order kept)."""
        idx = pa.array(np.asarray(indices, dtype=np.int64))
        return SplitTable(name or self.name, self.table.take(idx), self.images)

    def where(self, mask: Sequence[bool] | np.ndarray, name: str | None = None) -> SplitTable:
        """A new SplitTable with the rows where ``mask`` is true."""
        return self.take(np.flatnonzero(np.asarray(mask, dtype=bool)), name)


# Images larger than this are refused before their pixels are decoded (DataError naming the image).
# 8192 x 8192 = 67,108,864 pixels (256 MiB as RGBA) admits, with a wide margin, everything the
# benchmark reads: the released data (longest side 512 px), our generated data (<= 512 px) and the
# ImageNet-1K val photos (a few thousand pixels a side at most). It is below PIL's own default
# (``Image.MAX_IMAGE_PIXELS`` = 89,478,485), so PIL's "decompression bomb" warning zone (1x to 2x its
# limit, where PIL only warns and decodes) lies wholly above ours: such an image is refused here, not
# decoded with a warning, whatever the warning filters are. PIL's DecompressionBombError (above 2x its
# limit, raised on open) and its DecompressionBombWarning (raised when warnings are errors) become the
# same one-line DataError. PIL's global limit is left as it is.
MAX_IMAGE_PIXELS = 8192 * 8192


class ImageTooLargeError(DataError):
    """An image over :data:`MAX_IMAGE_PIXELS` (refused before its pixels are decoded)."""


def image_pixels(size: tuple[int, int]) -> int:
    """Pixel count of a ``(width, height)`` as PIL counts it for its decompression-bomb check."""
    return max(1, int(size[0])) * max(1, int(size[1]))


def too_large_message(what: str, size: tuple[int, int] | None = None, pixels: int | None = None) -> str:
    """The one line of an image over :data:`MAX_IMAGE_PIXELS` (its size, or pixel count, when known)."""
    if size is not None:
        dims = f"{size[0]} x {size[1]} = {image_pixels(size):,} pixels"
    else:
        dims = f"{pixels:,} pixels" if pixels is not None else "size over PIL's limit"
    return f"{what}: image too large ({dims}; the limit is {MAX_IMAGE_PIXELS:,} pixels, 8192 x 8192)"


def open_image(source: Any, what: str = "image", draft: bool = False):
    """Open ``source`` (a path or a binary file object) as a loaded PIL image, refusing (one-line
    DataError naming ``what``) an image over :data:`MAX_IMAGE_PIXELS` before its pixels are decoded,
    and any image that does not decode. ``draft``: decode JPEGs at 1/8 scale (the whole compressed
    stream is still read; the validator's check)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as img:
            if image_pixels(img.size) > MAX_IMAGE_PIXELS:
                raise ImageTooLargeError(too_large_message(what, img.size))
            if draft:
                img.draft("RGB", (max(1, img.size[0] // 8), max(1, img.size[1] // 8)))
            img.load()
            return img if draft else img.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise ImageTooLargeError(too_large_message(what, pixels=int(found.group(1)) if found else None)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{what}: image does not decode ({exc.__class__.__name__}: {exc})") from None


def decode_image_bytes(data: bytes, what: str = "image"):
    """Decode encoded image bytes into an RGB PIL image, raising DataError on corrupt data or an image
    over :data:`MAX_IMAGE_PIXELS` (:func:`open_image`)."""
    return open_image(io.BytesIO(data), what)
