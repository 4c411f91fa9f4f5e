"""Export a reference model's training corpus for ``open_clip_train`` (the scale-out path).

``open_clip_train`` (shipped in the open_clip wheel; it trained the original references) reads:

* **webdataset**: tar shards whose members are grouped by key, ``KEY.jpg`` (or png/webp) + ``KEY.txt``;
  ``sizes.json`` beside the shards gives the sample count per shard (``open_clip_train.data.get_dataset_size``).
  We add ``KEY.json`` (file_name, identity_id, split), which open_clip ignores.
* **csv**: a tab-separated file with ``filepath`` and ``title`` columns (``--csv-img-key`` /
  ``--csv-caption-key`` defaults) pointing at image files written next to it.

The corpus is the one :func:`salmubench.training.corpus.corpus_parts` defines for ``kind`` (sensitive
pairs repeated ``sensitive_oversample`` times), shuffled with a seeded generator so shards mix splits.
Tars are deterministic (members in key order, mtime 0, uid/gid 0) and written atomically.
``open_clip_train`` asserts ``shards >= --workers x GPUs``: keep shards small (default 1,000 samples).
See docs/training.md for the ViT-B/16 command.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path

from salmubench.data.loading import load_dataset
from salmubench.data.tables import SplitTable
from salmubench.errors import ConfigError
from salmubench.io_utils import atomic_path, atomic_write_json, check_out_dir
from salmubench.seeding import rng_for
from salmubench.training.config import KINDS
from salmubench.training.corpus import corpus_parts

FORMATS = ("webdataset", "csv")


@dataclass
class ExportSummary:
    """What an export wrote (also saved as ``export.json``)."""

    kind: str
    format: str
    samples: int
    files: list[str]  # shard or csv names, relative to the export dir
    train_data: str  # the value to pass to open_clip_train's --train-data
    parts: dict[str, int]  # split -> samples (repeats included)


def image_extension(data: bytes) -> str:
    """``jpg`` / ``png`` / ``webp`` from the image's magic bytes (open_clip accepts these)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "jpg"


def _rows(data_dir: str | os.PathLike, kind: str, oversample: int, seed: int) -> tuple[list[tuple[SplitTable, int]], dict]:
    if kind not in KINDS:
        raise ConfigError(f"unknown reference kind {kind!r}; choose one of {', '.join(KINDS)}")
    parts = corpus_parts(load_dataset(data_dir), kind, oversample)
    rows = [(table, i) for table, k in parts for _ in range(k) for i in range(len(table))]
    order = rng_for(seed, "export", kind).permutation(len(rows))
    return [rows[j] for j in order], {t.name: len(t) * k for t, k in parts}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def _write_shard(path: Path, rows: list[tuple[SplitTable, int]], first_key: int) -> None:
    with atomic_path(path) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for n, (table, i) in enumerate(rows):
            key = f"{first_key + n:09d}"
            img = table.image_bytes(i)
            meta = {"file_name": table.file_names[i], "identity_id": table.identity_ids[i], "split": table.name}
            _add(tar, f"{key}.{image_extension(img)}", img)
            _add(tar, f"{key}.json", json.dumps(meta).encode())
            _add(tar, f"{key}.txt", table.texts[i].encode("utf-8"))


def export_webdataset(data_dir: str | os.PathLike, out_dir: str | os.PathLike, kind: str, shard_size: int = 1000,
                      sensitive_oversample: int = 1, seed: int = 0) -> ExportSummary:
    """Write the ``kind`` corpus as webdataset tar shards ``{kind}-NNNNNN.tar`` + ``sizes.json``."""
    if shard_size < 1:
        raise ConfigError("shard_size must be >= 1")
    rows, parts = _rows(data_dir, kind, sensitive_oversample, seed)
    out = check_out_dir(out_dir, "out_dir")
    out.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    for s, start in enumerate(range(0, len(rows), shard_size)):
        name = f"{kind}-{s:06d}.tar"
        chunk = rows[start:start + shard_size]
        _write_shard(out / name, chunk, start)
        sizes[name] = len(chunk)
    atomic_write_json(out / "sizes.json", sizes)
    last = max(0, len(sizes) - 1)
    pattern = str(out / f"{kind}-{{000000..{last:06d}}}.tar")
    return _summary(out, ExportSummary(kind, "webdataset", len(rows), list(sizes), pattern, parts))


def export_csv(data_dir: str | os.PathLike, out_dir: str | os.PathLike, kind: str, sensitive_oversample: int = 1,
               seed: int = 0) -> ExportSummary:
    """Write images under ``images/`` and ``{kind}.csv`` (tab-separated ``filepath``, ``title``)."""
    rows, parts = _rows(data_dir, kind, sensitive_oversample, seed)
    out = check_out_dir(out_dir, "out_dir")
    (out / "images").mkdir(parents=True, exist_ok=True)
    written: dict[tuple[str, int], str] = {}
    lines = []
    for table, i in rows:
        path = written.get((table.name, i))
        if path is None:  # repeats share one image file
            img = table.image_bytes(i)
            path = str((out / "images" / f"{table.name}-{i:07d}.{image_extension(img)}").resolve())
            with atomic_path(path) as tmp:
                tmp.write_bytes(img)
            written[(table.name, i)] = path
        lines.append((path, table.texts[i]))
    with atomic_path(out / f"{kind}.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["filepath", "title"])
        writer.writerows(lines)
    return _summary(out, ExportSummary(kind, "csv", len(rows), [f"{kind}.csv"], str(out / f"{kind}.csv"), parts))


def _summary(out: Path, summary: ExportSummary) -> ExportSummary:
    atomic_write_json(out / "export.json", asdict(summary))
    return summary


def export_corpus(data_dir: str | os.PathLike, out_dir: str | os.PathLike, kind: str, fmt: str = "webdataset",
                  **kwargs) -> ExportSummary:
    """Dispatch to :func:`export_webdataset` or :func:`export_csv` by ``fmt``."""
    if fmt == "webdataset":
        return export_webdataset(data_dir, out_dir, kind, **kwargs)
    if fmt == "csv":
        kwargs.pop("shard_size", None)
        return export_csv(data_dir, out_dir, kind, **kwargs)
    raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
