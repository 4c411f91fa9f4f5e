"""Loading a dataset: finding a directory's shards, reading splits, resolving a directory or HF id,
and :func:`load_dataset` (every split, or only some: the others' shards are never opened)."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from salmubench.data import schema as S
from salmubench.data.dataset import SalmuDataset
from salmubench.data.fingerprint import partial_fingerprint
from salmubench.data.metadata import (
    normalise_captions_metadata,
    normalise_fragile_ids,
    normalise_generic_captions,
    normalise_identities,
    read_optional_json,
)
from salmubench.data.tables import IMAGE_ROW, ImageShards, SplitTable
from salmubench.errors import DataError


def find_shards(root: Path, subdir: str) -> dict[str, list[Path]]:
    """``{split: [shard paths in order]}`` for the ``*.parquet`` files under ``root/subdir``.

    Every ``*.parquet`` file there must be named as :data:`schema.SHARD_RE` says (the validator's rule
    too), else a one-line DataError: a stray file is never read as part of a split."""
    out: dict[str, list[tuple[int, Path]]] = {}
    for path in sorted((root / subdir).glob("*.parquet")):
        name = S.parse_shard_name(path.name)
        if name is None:
            raise DataError(f"{path}: file name is not {S.SHARD_NAME_FORM}")
        out.setdefault(name.split, []).append((name.index, path))
    return {split: [p for _, p in sorted(items)] for split, items in out.items()}


def read_split(name: str, paths: Iterable[Path], lazy_images: bool = False) -> SplitTable:
    """Read and concatenate a split's shards, checking the required columns.

    ``lazy_images``: leave the image bytes in the shards (read on demand, :class:`ImageShards`); the
    table then holds the other columns and ``__image_row``.
    """
    tables, paths = [], list(paths)
    for path in paths:
        try:
            schema = pq.read_schema(path)
            missing = [c for c in S.REQUIRED_COLUMNS if c not in schema.names]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
            columns = [c for c in schema.names if c != S.COL_IMAGE] if lazy_images else None
            table = pq.read_table(path, columns=columns)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"{path}: not a readable parquet file ({exc})") from None
        tables.append(table)
    if not tables:
        raise DataError(f"split {name!r}: no parquet shards")
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowInvalid as exc:
        raise DataError(f"split {name!r}: shards have incompatible schemas ({exc})") from None
    if not lazy_images:
        return SplitTable(name, table)
    table = table.append_column(IMAGE_ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    return SplitTable(name, table, ImageShards(paths, [t.num_rows for t in tables]))


def resolve_dataset_dir(spec: str | os.PathLike) -> Path:
    """A local dataset dir, or an HF dataset id (``org/name``) downloaded where the network allows."""
    path = Path(spec)
    if path.is_dir():
        return path
    text = str(spec)
    if text.startswith("hf:") or (text.count("/") == 1 and not path.exists() and not text.startswith(".")):
        repo_id = text.removeprefix("hf:")
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(repo_id=repo_id, repo_type="dataset"))
        except Exception as exc:  # noqa: BLE001 - any hub failure becomes one clear line
            raise DataError(f"dataset directory not found: {spec} (and fetching {repo_id!r} as a Hugging Face "
                            f"dataset failed: {exc.__class__.__name__})") from None
    raise DataError(f"dataset directory not found: {spec}")


def load_dataset(spec: str | os.PathLike, splits: Collection[str] | None = None,
                 images: str = "memory") -> SalmuDataset:
    """Load a SALMUBench dataset (ours or the released one) from a directory or HF dataset id.

    Args:
        spec: dataset directory, or ``hf:org/name`` / ``org/name``.
        splits: read only these splits (their shards; the others are never opened, e.g. tuning leaves
            out the holdouts). A listed released split that is missing is an error; a listed extra split
            (``general_retain``, ``zeroshot``) is read when present. None: every split, the four
            released ones required. The metadata JSONs are always read. A restricted load has no
            fragile set, and without a manifest its fingerprint hashes only the files it read.
        images: ``memory`` (the encoded images of every split read into memory: random access, e.g.
            a training corpus) or ``lazy`` (read from the shards on demand, a shard at a time: memory
            bounded whatever the dataset size, for passes in row order such as the evaluation).
    """
    if images not in ("memory", "lazy"):
        raise DataError(f"images must be 'memory' or 'lazy', got {images!r}")
    root = resolve_dataset_dir(spec)
    shards = find_shards(root, S.DATA_DIR)
    optional = (*S.EXTRA_SPLITS, *S.ATTACK_SPLITS)  # read when present
    required = S.RELEASED_SPLITS if splits is None else [s for s in splits if s not in optional]
    missing = [s for s in required if s not in shards]
    if missing:
        raise DataError(f"{root}: missing split(s) {', '.join(missing)} under {S.DATA_DIR}/")
    chosen = {**shards, **find_shards(root, S.EXTRA_DIR)}
    if splits is not None:
        chosen = {name: paths for name, paths in chosen.items() if name in splits}
    manifest = read_optional_json(root / S.MANIFEST_JSON, None)
    return SalmuDataset(
        root=root,
        splits={name: read_split(name, paths, lazy_images=images == "lazy") for name, paths in chosen.items()},
        identities=normalise_identities(read_optional_json(root / S.IDENTITIES_JSON, {})),
        captions_metadata=normalise_captions_metadata(read_optional_json(root / S.CAPTIONS_JSON, {})),
        generic_captions=normalise_generic_captions(read_optional_json(root / S.GENERIC_CAPTIONS_JSON, {})),
        fragile_ids=normalise_fragile_ids(read_optional_json(root / S.FRAGILE_IDS_JSON, None)) if splits is None else None,
        manifest=manifest,
        zeroshot_classes=read_optional_json(root / S.ZEROSHOT_CLASSES_JSON, None),
        _fingerprint=None if splits is None else partial_fingerprint(root, manifest, chosen),
    )
