"""Writing a split: :class:`ShardWriter` streams rows into ``{split}-NNNNN-of-NNNNN.parquet`` shards."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from salmubench.data import schema as S
from salmubench.data.layout import split_schema


class ShardWriter:
    """Streams rows of one split into ``{split}-NNNNN-of-NNNNN.parquet`` shards.

    The total shard count is only known at the end, so shards are written under temporary names
    and renamed by :meth:`close`. Memory stays bounded by ``rows_per_shard`` rows and, when given,
    ``max_shard_bytes`` bytes of encoded images (a shard is flushed when either is reached).
    """

    def __init__(self, out_dir: Path, split: str, rows_per_shard: int = 2000,
                 extra_columns: Sequence[tuple[str, pa.DataType]] = (), max_shard_bytes: int | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.split = split
        self.rows_per_shard = rows_per_shard
        self.schema = split_schema(extra_columns)
        self.max_shard_bytes = max_shard_bytes
        self._rows: list[dict[str, Any]] = []
        self._bytes = 0
        self._tmp_paths: list[Path] = []
        self.count = 0
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def add(self, image_bytes: bytes, text: str, identity_id: str | None, file_name: str, **extra: Any) -> None:
        """Append one row (flushes a shard every ``rows_per_shard`` rows)."""
        self._rows.append({S.COL_IMAGE: {"bytes": image_bytes, "path": file_name}, S.COL_TEXT: text,
                           S.COL_IDENTITY: identity_id, S.COL_FILE: file_name, **extra})
        self.count += 1
        self._bytes += len(image_bytes)
        if len(self._rows) >= self.rows_per_shard or (self.max_shard_bytes and self._bytes >= self.max_shard_bytes):
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        table = pa.Table.from_pylist(self._rows, schema=self.schema)
        tmp = self.out_dir / f".{self.split}-{len(self._tmp_paths):05d}.parquet.tmp"
        pq.write_table(table, tmp, compression="zstd", use_dictionary=[S.COL_IDENTITY])
        self._tmp_paths.append(tmp)
        self._rows = []
        self._bytes = 0

    def close(self) -> list[Path]:
        """Flush and rename the shards to their final names; returns the final paths."""
        self._flush()
        if not self._tmp_paths:  # an empty split still gets one (empty) shard
            pq.write_table(self.schema.empty_table(), tmp := self.out_dir / f".{self.split}-empty.tmp")
            self._tmp_paths.append(tmp)
        total = len(self._tmp_paths)
        finals = []
        for i, tmp in enumerate(self._tmp_paths):
            final = self.out_dir / S.shard_name(self.split, i, total)
            os.replace(tmp, final)
            finals.append(final)
        return finals
