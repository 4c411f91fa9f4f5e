"""The only module that knows the on-disk layout of a SALMUBench dataset directory.

Layout (released SALMUBench, plus our additions marked *)::

    DIR/data/{split}-NNNNN-of-NNNNN.parquet     forget, holdout_association, holdout_identity, retain_synth
    DIR/extra/{split}-NNNNN-of-NNNNN.parquet  * general_retain, zeroshot, unseen (MIA non-members)
    DIR/identities_metadata.json
    DIR/sensitive_set_captions_metadata.json    file_name -> {data_field, caption}
    DIR/sensitive_set_generic_captions.json     file_name -> generic caption
    DIR/fragile_set_ids.json, fragile_set_all_similarities.json   (after the Compromised model exists)
    DIR/zeroshot_classes.json                 * class names and prompt templates of the zeroshot split
    DIR/unseen_identities_metadata.json       * identity records of the unseen split's personas
    DIR/manifest.json                         * counts per split, sha256 per file, generator version
    DIR/README.md                               dataset card

Parquet columns: ``image`` (struct ``{bytes, path}``), ``text``, ``identity_id`` (8-digit string or
null), ``file_name``; extra columns are allowed (``label`` and ``class_name`` in our extra splits,
``data_field`` in ``unseen``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from salmubench.data import schema as S
from salmubench.errors import DataError
from salmubench.io_utils import read_json, sha256_bytes, sha256_file

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
BASE_SCHEMA = pa.schema(
    [
        (S.COL_IMAGE, IMAGE_TYPE),
        (S.COL_TEXT, pa.string()),
        (S.COL_IDENTITY, pa.string()),
        (S.COL_FILE, pa.string()),
    ]
)
# HF `datasets` reads this schema metadata and decodes `image` as an Image feature.
_HF_FEATURES = {
    S.COL_IMAGE: {"_type": "Image"},
    S.COL_TEXT: {"dtype": "string", "_type": "Value"},
    S.COL_IDENTITY: {"dtype": "string", "_type": "Value"},
    S.COL_FILE: {"dtype": "string", "_type": "Value"},
}
_EXTRA_FEATURES = {
    S.COL_LABEL: {"dtype": "int64", "_type": "Value"},
    S.COL_CLASS_NAME: {"dtype": "string", "_type": "Value"},
    S.COL_DATA_FIELD: {"dtype": "string", "_type": "Value"},
}


def split_schema(extra_columns: Sequence[tuple[str, pa.DataType]] = ()) -> pa.Schema:
    """Parquet schema of a split: the four released columns plus ``extra_columns``."""
    schema = BASE_SCHEMA
    for name, dtype in extra_columns:
        schema = schema.append(pa.field(name, dtype))
    features = {f.name: _HF_FEATURES.get(f.name) or _EXTRA_FEATURES[f.name] for f in schema}
    meta = {"huggingface": json.dumps({"info": {"features": features}})}
    return schema.with_metadata(meta)


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------


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
        return decode_image_bytes(self.image_bytes(index), f"{self.name}[{index}]")

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


def decode_image_bytes(data: bytes, what: str = "image"):
    """Decode encoded image bytes into an RGB PIL image, raising DataError on corrupt data."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{what}: image does not decode ({exc.__class__.__name__}: {exc})") from None


@dataclass
class SalmuDataset:
    """A SALMUBench dataset directory: splits, metadata and derived subsets (SALMUBENCH.md §3).

    Extra splits (``general_retain``, ``zeroshot``) exist only in datasets we generate; code that
    needs them must handle their absence on the released data.
    """

    root: Path
    splits: dict[str, SplitTable]
    identities: dict[str, dict[str, Any]]
    captions_metadata: dict[str, dict[str, str]]
    generic_captions: dict[str, str]
    fragile_ids: list[str] | None = None
    manifest: dict[str, Any] | None = None
    zeroshot_classes: dict[str, Any] | None = None
    _fingerprint: str | None = field(default=None, repr=False)

    # ---- released splits and our extras ----
    def split(self, name: str) -> SplitTable:
        """A split or derived subset by name (see schema.py); DataError if unavailable."""
        if name in self.splits:
            return self.splits[name]
        derived = {
            S.RETAIN_JOINT: lambda: self.retain_joint,
            S.RETAIN_DISJOINT: lambda: self.retain_disjoint,
            S.FORGET_IDENTITY: lambda: self.forget_identity,
            S.FRAGILE_SET: lambda: self.fragile_set,
        }
        if name in derived:
            return derived[name]()
        raise DataError(f"{self.root}: no split {name!r} (have: {', '.join(sorted(self.splits))})")

    @property
    def forget(self) -> SplitTable:
        return self.split(S.FORGET)

    @property
    def holdout_association(self) -> SplitTable:
        return self.split(S.HOLDOUT_ASSOCIATION)

    @property
    def holdout_identity(self) -> SplitTable:
        return self.split(S.HOLDOUT_IDENTITY)

    @property
    def retain_synth(self) -> SplitTable:
        return self.split(S.RETAIN_SYNTH)

    def has_split(self, name: str) -> bool:
        return name in self.splits

    # ---- derived subsets ----
    @property
    def forget_identity_ids(self) -> set[str]:
        """Identities with at least one row in ``forget``."""
        return {i for i in self.forget.identity_ids if i}

    @property
    def retain_joint(self) -> SplitTable:
        """retain_synth rows showing a forget identity (their faces with generic captions)."""
        ids = self.forget_identity_ids
        return self.retain_synth.where([i in ids for i in self.retain_synth.identity_ids], S.RETAIN_JOINT)

    @property
    def retain_disjoint(self) -> SplitTable:
        """retain_synth rows with no identity (non-person images)."""
        return self.retain_synth.where([i is None for i in self.retain_synth.identity_ids], S.RETAIN_DISJOINT)

    @property
    def forget_identity(self) -> SplitTable:
        """forget rows of identities absent from holdout_association (fully forgotten people)."""
        partial = {i for i in self.holdout_association.identity_ids if i}
        return self.forget.where([i not in partial for i in self.forget.identity_ids], S.FORGET_IDENTITY)

    @property
    def fragile_set(self) -> SplitTable:
        """retain_synth rows listed in fragile_set_ids.json; DataError if that file is absent."""
        if self.fragile_ids is None:
            raise DataError(f"{self.root}: no {S.FRAGILE_IDS_JSON} (train the Compromised model first)")
        wanted = set(self.fragile_ids)
        return self.retain_synth.where([f in wanted for f in self.retain_synth.file_names], S.FRAGILE_SET)

    # ---- metadata helpers ----
    def attribute_of(self, file_name: str) -> str | None:
        """Canonical attribute type (data_field) of a sensitive image, or None if unknown."""
        meta = self.captions_metadata.get(file_name)
        return S.canonical_attribute(meta["data_field"]) if meta and meta.get("data_field") else None

    def identity_value(self, identity_id: str, attribute: str) -> str | None:
        """The identity's value for an attribute type (first one if the field holds a list)."""
        record = self.identities.get(identity_id) or {}
        value = record.get(S.IDENTITY_FIELD.get(attribute, attribute))
        if isinstance(value, list):
            value = value[0] if value else None
        return None if value is None else str(value)

    @property
    def fingerprint(self) -> str:
        """sha256 identifying the data: of manifest.json when present, else of every file's hash."""
        if self._fingerprint is None:
            self._fingerprint = dataset_fingerprint(self.root)
        return self._fingerprint

    def with_splits(self, splits: dict[str, SplitTable], tag: str, drop: Collection[str] = ()) -> SalmuDataset:
        """A view of this dataset with ``splits`` replaced or added and ``drop`` removed (metadata shared).

        Its fingerprint is ``sha256(f"{self.fingerprint}:{tag}")``: views with the same tag are the same data.
        """
        kept = {k: v for k, v in self.splits.items() if k not in drop}
        digest = sha256_bytes(f"{self.fingerprint}:{tag}".encode())
        return dataclasses.replace(self, splits={**kept, **splits}, _fingerprint=digest)


def dataset_files(root: Path) -> list[Path]:
    """Every file of a dataset dir that defines its content (parquet + metadata JSONs), sorted."""
    files = sorted((root / S.DATA_DIR).glob("*.parquet")) + sorted((root / S.EXTRA_DIR).glob("*.parquet"))
    for name in (S.IDENTITIES_JSON, S.CAPTIONS_JSON, S.GENERIC_CAPTIONS_JSON, S.ZEROSHOT_CLASSES_JSON,
                 S.UNSEEN_IDENTITIES_JSON):
        if (root / name).is_file():
            files.append(root / name)
    return files


def dataset_fingerprint(root: Path) -> str:
    """sha256 over (relative path, sha256) of every content file; fragile-set files excluded.

    The fragile set is written after training, so it is fingerprinted separately (its own hash is
    recorded in results) to keep the data fingerprint stable across that step.
    """
    manifest = root / S.MANIFEST_JSON
    if manifest.is_file():
        files = read_json(manifest).get("files")
        if isinstance(files, dict) and files:
            lines = [f"{k}:{v}" for k, v in sorted(files.items())]
            return sha256_bytes("\n".join(lines).encode())
    lines = [f"{p.relative_to(root).as_posix()}:{sha256_file(p)}" for p in dataset_files(root)]
    return sha256_bytes("\n".join(lines).encode())


def find_shards(root: Path, subdir: str) -> dict[str, list[Path]]:
    """``{split: [shard paths in order]}`` for the ``*.parquet`` files under ``root/subdir``."""
    out: dict[str, list[Path]] = {}
    for path in sorted((root / subdir).glob("*.parquet")):
        match = S.SHARD_RE.match(path.name)
        split = match.group("split") if match else path.stem.split("-")[0]
        out.setdefault(split, []).append(path)
    return out


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


def read_optional_json(path: Path, default: Any) -> Any:
    """The parsed JSON at ``path``, ``default`` when there is no such file (DataError if unparsable)."""
    if not path.is_file():
        return default
    try:
        return read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


def normalise_identities(raw: Any) -> dict[str, dict[str, Any]]:
    """identities_metadata.json as ``{identity_id: record}``; accepts a dict or a list of records."""
    if isinstance(raw, dict):
        return {str(k).zfill(8) if str(k).isdigit() else str(k): v for k, v in raw.items()}
    if isinstance(raw, list):
        out = {}
        for rec in raw:
            key = rec.get("identity_id", rec.get("id"))
            if key is None:
                raise DataError(f"{S.IDENTITIES_JSON}: record without identity_id")
            out[str(key).zfill(8)] = rec
        return out
    raise DataError(f"{S.IDENTITIES_JSON}: expected an object or a list of records")


def normalise_captions_metadata(raw: Any) -> dict[str, dict[str, str]]:
    """sensitive_set_captions_metadata.json as ``{file_name: {data_field, caption}}``."""
    if isinstance(raw, list):
        raw = {r["file_name"]: r for r in raw if isinstance(r, dict) and "file_name" in r}
    if not isinstance(raw, dict):
        raise DataError(f"{S.CAPTIONS_JSON}: expected an object keyed by file_name")
    return {k: v for k, v in raw.items() if isinstance(v, dict)}


def normalise_generic_captions(raw: Any) -> dict[str, str]:
    """sensitive_set_generic_captions.json as ``{file_name: caption}`` (str or {caption}/{text})."""
    if isinstance(raw, list):
        raw = {r["file_name"]: r for r in raw if isinstance(r, dict) and "file_name" in r}
    if not isinstance(raw, dict):
        raise DataError(f"{S.GENERIC_CAPTIONS_JSON}: expected an object keyed by file_name")
    out = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            value = value.get("generic_caption") or value.get("caption") or value.get("text")
        if isinstance(value, str):
            out[key] = value
    return out


def normalise_fragile_ids(raw: Any) -> list[str] | None:
    """fragile_set_ids.json as a list of file names (accepts a list or {"ids"/"file_names": [...]})."""
    if raw is None:
        return None
    if isinstance(raw, dict):
        raw = raw.get("file_names") or raw.get("ids") or list(raw)
    return [str(x) for x in raw]


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
        _fingerprint=None if splits is None else _partial_fingerprint(root, manifest, chosen),
    )


HOLDOUT_SPLITS = (S.HOLDOUT_ASSOCIATION, S.HOLDOUT_IDENTITY)


def load_without_holdouts(spec: str | os.PathLike, skip_extra: Sequence[str] = (), images: str = "memory"
                          ) -> SalmuDataset:
    """A dataset with forget, retain_synth and the extra splits, **without opening the holdout shards**.

    For code that must never read the test holdouts (tuning, recovery attacks; tests replace the
    holdout shards with garbage): ``load_dataset(spec, splits=...)`` with every non-holdout split.
    ``skip_extra`` names extra splits not to load either (tuning skips the MIA non-members ``unseen``).
    """
    extras = [s for s in (*S.EXTRA_SPLITS, *S.ATTACK_SPLITS) if s not in skip_extra]
    return load_dataset(spec, splits=(S.FORGET, S.RETAIN_SYNTH, *extras), images=images)


def _partial_fingerprint(root: Path, manifest: dict | None, shards: dict[str, list[Path]]) -> str:
    """Fingerprint of a restricted load: the manifest's (same as a full load), else the files read."""
    if manifest and isinstance(manifest.get("files"), dict) and manifest["files"]:
        return dataset_fingerprint(root)
    files = sorted(p for paths in shards.values() for p in paths)
    return sha256_bytes("\n".join(f"{p.relative_to(root).as_posix()}:{sha256_file(p)}" for p in files).encode())


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------


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
