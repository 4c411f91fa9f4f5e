"""Per-split checks of a dataset folder: shard names and complete shard sets, required columns and
their types, per-row texts / file names / identity ids, and that every image decodes."""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from salmubench.data import schema as S
from salmubench.data.tables import MAX_IMAGE_PIXELS, ImageTooLargeError, open_image
from salmubench.data.validate.report import ValidationReport, examples
from salmubench.errors import DataError


def check_shard_names(rep: ValidationReport, folder: Path, allowed: tuple[str, ...],
                       required: tuple[str, ...]) -> dict[str, list[Path]]:
    """Shard files per split; flags bad names, unknown splits, incomplete shard sets. A name is good
    exactly when the loader reads it (``schema.parse_shard_name``, Hugging Face hash suffixes too)."""
    shards: dict[str, list[tuple[S.ShardName, Path]]] = defaultdict(list)
    for path in sorted(folder.glob("*.parquet")):
        name = S.parse_shard_name(path.name)
        if name is None:
            rep.errors.append(f"{path.relative_to(rep.root)}: file name is not {S.SHARD_NAME_FORM}")
            continue
        if name.split not in allowed:
            rep.errors.append(f"{path.relative_to(rep.root)}: unknown split name {name.split!r} "
                              f"(expected one of {', '.join(allowed)})")
            continue
        shards[name.split].append((name, path))
    for split in required:
        if split not in shards:
            rep.errors.append(f"missing split {split!r}: no {folder.name}/{split}-*.parquet")
    out = {}
    for split, items in shards.items():
        problem = S.shard_set_problem([n for n, _ in items])
        if problem:
            rep.errors.append(f"split {split!r}: {problem}")
        out[split] = [p for n, p in sorted(items, key=lambda item: (item[0].index, item[1].name))]
    return out


def _is_image_struct(t: pa.DataType) -> bool:
    if not pa.types.is_struct(t) or t.get_field_index("bytes") < 0:
        return False
    b = t.field("bytes").type
    return pa.types.is_binary(b) or pa.types.is_large_binary(b)


def _type_problems(schema: pa.Schema) -> list[str]:
    problems = []
    img = schema.field(S.COL_IMAGE).type
    if not _is_image_struct(img):
        problems.append(f"column {S.COL_IMAGE!r} must be a struct {{bytes: binary, path: string}}, got {img}")
    for col in (S.COL_TEXT, S.COL_IDENTITY, S.COL_FILE):
        t = schema.field(col).type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t)):
            problems.append(f"column {col!r} must be a string, got {t}")
    return problems


def read_split_columns(rep: ValidationReport, split: str, paths: list[Path]) -> tuple[pa.Table | None, list[Path]]:
    """Read one split's non-image columns, reporting unreadable shards, missing columns and wrong
    types; returns the table and the shards that passed (images are checked shard by shard later,
    so memory stays bounded on the 512 px data)."""
    tables, good = [], []
    for path in paths:
        rel = path.relative_to(rep.root)
        try:
            schema = pq.read_schema(path)
            missing = [c for c in S.REQUIRED_COLUMNS if c not in schema.names]
            problems = [] if missing else _type_problems(schema)
            table = None if missing or problems else \
                pq.read_table(path, columns=[c for c in schema.names if c != S.COL_IMAGE])
        except (OSError, pa.ArrowInvalid) as exc:
            rep.errors.append(f"{rel}: not a readable parquet file ({exc.__class__.__name__})")
            continue
        if missing:
            rep.errors.append(f"{rel}: missing column(s) {', '.join(missing)}")
        rep.errors.extend(f"{rel}: {p}" for p in problems)
        if table is not None:
            tables.append(table)
            good.append(path)
    if not tables:
        return None, []
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowInvalid:
        rep.errors.append(f"split {split!r}: shards have incompatible schemas")
        return None, []
    rep.counts[split] = table.num_rows
    return table, good


def check_rows(rep: ValidationReport, split: str, table: pa.Table) -> None:
    """Per-row checks: texts, file names and identity ids."""
    texts = table.column(S.COL_TEXT).to_pylist()
    files = table.column(S.COL_FILE).to_pylist()
    ids = table.column(S.COL_IDENTITY).to_pylist()
    empty_text = [files[i] or f"row {i}" for i, t in enumerate(texts) if not t or not str(t).strip()]
    if empty_text:
        rep.errors.append(f"{split}: {len(empty_text)} row(s) with an empty text (e.g. {examples(empty_text)})")
    empty_file = [i for i, f in enumerate(files) if not f]
    if empty_file:
        rep.errors.append(f"{split}: {len(empty_file)} row(s) with an empty file_name (rows {examples(empty_file)})")
    bad_id = [f for f, i in zip(files, ids, strict=True) if i and not S.IDENTITY_ID_RE.match(str(i))]
    if bad_id:
        rep.errors.append(f"{split}: {len(bad_id)} identity_id(s) not 8 digits (e.g. files {examples(bad_id)})")
    if split in S.SENSITIVE_SPLITS or split == S.UNSEEN:
        no_id = [f for f, i in zip(files, ids, strict=True) if not i]
        if no_id:
            rep.errors.append(f"{split}: {len(no_id)} row(s) without identity_id (e.g. {examples(no_id)})")


def image_problem(data: bytes | None) -> str | None:
    """None when ``data`` is a complete, decodable image within ``MAX_IMAGE_PIXELS``; else
    ``"too large"`` or ``"does not decode"``. JPEGs are decoded at 1/8 scale (``draft``): the whole
    entropy-coded stream is still read, so truncation and corruption are still caught. An image over
    the limit is refused from its header, before any pixel is decoded."""
    if not data:
        return "does not decode"
    try:
        open_image(io.BytesIO(data), draft=True)
    except ImageTooLargeError:
        return "too large"
    except DataError:
        return "does not decode"
    return None


def image_decodes(data: bytes | None) -> bool:
    """True when ``data`` is a complete, decodable image within the pixel limit (:func:`image_problem`)."""
    return image_problem(data) is None


def check_images(rep: ValidationReport, split: str, paths: list[Path], progress=None) -> None:
    """Decode every image of ``split``, reading the shards in batches of 256 rows."""
    bad: dict[str, list[str]] = {"does not decode": [], "too large": []}
    row = 0
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=256, columns=[S.COL_IMAGE, S.COL_FILE]):
            cells, files = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            for cell, name in zip(cells, files, strict=True):
                problem = image_problem(cell.get("bytes") if isinstance(cell, dict) else None)
                if problem:
                    bad[problem].append(name or f"row {row}")
                row += 1
            if progress:
                progress(len(files))
    if bad["does not decode"]:
        rep.errors.append(f"{split}: {len(bad['does not decode'])} image(s) do not decode "
                          f"(e.g. {examples(bad['does not decode'])})")
    if bad["too large"]:
        rep.errors.append(f"{split}: {len(bad['too large'])} image(s) over the limit of {MAX_IMAGE_PIXELS:,} "
                          f"pixels (8192 x 8192), refused by the loader (e.g. {examples(bad['too large'])})")
