"""``validate_dataset``: check a SALMUBench dataset folder (ours or the released one).

Violations (errors) break the layout or an invariant of SALMUBENCH.md section 3:

* schema: shard names ``{split}-NNNNN-of-NNNNN.parquet``, complete shard sets, known split names,
  required columns and types, 8-digit identity ids, non-empty texts and file names;
* invariants: holdout_identity identities are disjoint from forget identities; holdout_association
  identities are a subset of forget identities; an identity's forget and holdout_association
  attribute types are disjoint; no file_name occurs twice (within or across splits);
* every image decodes; metadata JSONs parse; manifest sha256 and counts match the files.

Warnings flag content that may be legitimate in the release (a caption not matching the metadata,
name/value not verbatim, missing metadata entries). Each problem is one line.
"""

from __future__ import annotations

import io
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from salmubench.data import io as dio
from salmubench.data import schema as S
from salmubench.errors import DataError
from salmubench.io_utils import read_json, sha256_file
from salmubench.progress import OnProgress, Task

MAX_EXAMPLES = 3


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_dataset`: one line per violation / warning."""

    root: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """``forget 122, holdout_association 60, ...`` (rows per split read)."""
        return ", ".join(f"{k} {v}" for k, v in self.counts.items()) or "no split read"


def _examples(items: Iterable[Any]) -> str:
    items = sorted({str(i) for i in items})
    more = f", ... ({len(items)} in all)" if len(items) > MAX_EXAMPLES else ""
    return ", ".join(items[:MAX_EXAMPLES]) + more


# ---------------------------------------------------------------------------------------------
# shards and schema
# ---------------------------------------------------------------------------------------------


def _check_shard_names(rep: ValidationReport, folder: Path, allowed: tuple[str, ...],
                       required: tuple[str, ...]) -> dict[str, list[Path]]:
    """Shard files per split; flags bad names, unknown splits, incomplete shard sets."""
    shards: dict[str, list[tuple[int, int, Path]]] = defaultdict(list)
    for path in sorted(folder.glob("*.parquet")):
        m = S.SHARD_RE.match(path.name)
        if not m:
            rep.errors.append(f"{path.relative_to(rep.root)}: file name is not {{split}}-NNNNN-of-NNNNN.parquet")
            continue
        split = m.group("split")
        if split not in allowed:
            rep.errors.append(f"{path.relative_to(rep.root)}: unknown split name {split!r} "
                              f"(expected one of {', '.join(allowed)})")
            continue
        shards[split].append((int(m.group("idx")), int(m.group("total")), path))
    for split in required:
        if split not in shards:
            rep.errors.append(f"missing split {split!r}: no {folder.name}/{split}-*.parquet")
    out = {}
    for split, items in shards.items():
        totals = {t for _, t, _ in items}
        idx = sorted(i for i, _, _ in items)
        if len(totals) != 1 or idx != list(range(next(iter(totals)))):
            rep.errors.append(f"split {split!r}: incomplete or inconsistent shard set "
                              f"(indices {idx}, totals {sorted(totals)})")
        out[split] = [p for _, _, p in sorted(items)]
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


def _read_split(rep: ValidationReport, split: str, paths: list[Path]) -> tuple[pa.Table | None, list[Path]]:
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


def _check_rows(rep: ValidationReport, split: str, table: pa.Table) -> None:
    """Per-row checks: texts, file names and identity ids."""
    texts = table.column(S.COL_TEXT).to_pylist()
    files = table.column(S.COL_FILE).to_pylist()
    ids = table.column(S.COL_IDENTITY).to_pylist()
    empty_text = [files[i] or f"row {i}" for i, t in enumerate(texts) if not t or not str(t).strip()]
    if empty_text:
        rep.errors.append(f"{split}: {len(empty_text)} row(s) with an empty text (e.g. {_examples(empty_text)})")
    empty_file = [i for i, f in enumerate(files) if not f]
    if empty_file:
        rep.errors.append(f"{split}: {len(empty_file)} row(s) with an empty file_name (rows {_examples(empty_file)})")
    bad_id = [f for f, i in zip(files, ids, strict=True) if i and not S.IDENTITY_ID_RE.match(str(i))]
    if bad_id:
        rep.errors.append(f"{split}: {len(bad_id)} identity_id(s) not 8 digits (e.g. files {_examples(bad_id)})")
    if split in S.SENSITIVE_SPLITS or split == S.UNSEEN:
        no_id = [f for f, i in zip(files, ids, strict=True) if not i]
        if no_id:
            rep.errors.append(f"{split}: {len(no_id)} row(s) without identity_id (e.g. {_examples(no_id)})")


def image_decodes(data: bytes | None) -> bool:
    """True when ``data`` is a complete, decodable image. JPEGs are decoded at 1/8 scale (``draft``):
    the whole entropy-coded stream is still read, so truncation and corruption are still caught."""
    if not data:
        return False
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (max(1, img.size[0] // 8), max(1, img.size[1] // 8)))
            img.load()
        return True
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def _check_images(rep: ValidationReport, split: str, paths: list[Path], progress=None) -> None:
    """Decode every image of ``split``, reading the shards in batches of 256 rows."""
    bad, row = [], 0
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=256, columns=[S.COL_IMAGE, S.COL_FILE]):
            cells, files = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            for cell, name in zip(cells, files, strict=True):
                if not image_decodes(cell.get("bytes") if isinstance(cell, dict) else None):
                    bad.append(name or f"row {row}")
                row += 1
            if progress:
                progress(len(files))
    if bad:
        rep.errors.append(f"{split}: {len(bad)} image(s) do not decode (e.g. {_examples(bad)})")


# ---------------------------------------------------------------------------------------------
# invariants and metadata
# ---------------------------------------------------------------------------------------------


def _ids(table: pa.Table | None) -> set[str]:
    if table is None:
        return set()
    return {str(i) for i in table.column(S.COL_IDENTITY).to_pylist() if i}


def _check_identity_invariants(rep: ValidationReport, tables: dict[str, pa.Table]) -> None:
    forget, ha, hi = (_ids(tables.get(s)) for s in (S.FORGET, S.HOLDOUT_ASSOCIATION, S.HOLDOUT_IDENTITY))
    if S.FORGET not in tables:
        return
    if shared := hi & forget:
        rep.errors.append(f"holdout_identity and forget share {len(shared)} identity(ies) "
                          f"(must be disjoint): {_examples(shared)}")
    if outside := ha - forget:
        rep.errors.append(f"holdout_association has {len(outside)} identity(ies) absent from forget "
                          f"(must be a subset): {_examples(outside)}")
    if S.RETAIN_SYNTH in tables and (stray := _ids(tables[S.RETAIN_SYNTH]) - forget):
        rep.warnings.append(f"retain_synth shows {len(stray)} identity(ies) that are not forget identities: "
                            f"{_examples(stray)}")


def _check_unique_files(rep: ValidationReport, tables: dict[str, pa.Table]) -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for split, table in tables.items():
        for f in table.column(S.COL_FILE).to_pylist():
            if f:
                where[f].append(split)
    dups = {f: s for f, s in where.items() if len(s) > 1}
    if not dups:
        return
    pairs = Counter(" and ".join(sorted(set(s))) if len(set(s)) > 1 else f"{s[0]} (twice)" for s in dups.values())
    for place, n in sorted(pairs.items()):
        files = [f for f, s in dups.items() if (" and ".join(sorted(set(s))) if len(set(s)) > 1
                                                 else f"{s[0]} (twice)") == place]
        rep.errors.append(f"{n} file_name(s) appear in {place}: {_examples(files)}")


def _load_json(rep: ValidationReport, name: str, normalise) -> Any:
    path = rep.root / name
    if not path.is_file():
        return None
    try:
        return normalise(read_json(path))
    except (OSError, ValueError) as exc:
        rep.errors.append(f"{name}: not valid JSON ({exc.__class__.__name__})")
    except DataError as exc:
        rep.errors.append(str(exc))
    return None


def _check_attribute_types(rep: ValidationReport, tables: dict[str, pa.Table],
                           captions: dict[str, dict[str, str]] | None) -> None:
    """An identity's forget and holdout_association attribute types must be disjoint."""
    sensitive = [s for s in S.SENSITIVE_SPLITS if s in tables]
    if captions is None:
        if sensitive:
            rep.warnings.append(f"no {S.CAPTIONS_JSON}: attribute-type invariants not checked")
        return
    types: dict[tuple[str, str], set[str]] = defaultdict(set)
    missing, unknown = [], []
    for split in sensitive:
        t = tables[split]
        for f, i in zip(t.column(S.COL_FILE).to_pylist(), t.column(S.COL_IDENTITY).to_pylist(), strict=True):
            meta = captions.get(f)
            if not meta or not meta.get("data_field"):
                missing.append(f)
                continue
            attr = S.canonical_attribute(str(meta["data_field"]))
            if attr not in S.ATTRIBUTE_TYPES:
                unknown.append(f"{f}={meta['data_field']}")
            types[(split, str(i))].add(attr)
    if missing:
        rep.warnings.append(f"{S.CAPTIONS_JSON}: {len(missing)} sensitive file(s) without data_field "
                            f"(e.g. {_examples(missing)})")
    if unknown:
        rep.errors.append(f"{S.CAPTIONS_JSON}: {len(unknown)} unknown data_field value(s) "
                          f"(expected {', '.join(S.ATTRIBUTE_TYPES)}): {_examples(unknown)}")
    for (split, ident), attrs in sorted(types.items()):
        if split != S.FORGET:
            continue
        both = attrs & types.get((S.HOLDOUT_ASSOCIATION, ident), set())
        if both:
            rep.errors.append(f"identity {ident}: attribute type(s) {', '.join(sorted(both))} in both forget "
                              "and holdout_association (must be disjoint)")


def _check_captions(rep: ValidationReport, tables: dict[str, pa.Table], captions, generic, identities) -> None:
    """Warnings: caption vs metadata, generic caption present, name and value verbatim."""
    mismatch, no_generic, not_verbatim = [], [], []
    for split in (s for s in S.SENSITIVE_SPLITS if s in tables):
        t = tables[split]
        cols = (t.column(S.COL_FILE).to_pylist(), t.column(S.COL_TEXT).to_pylist(), t.column(S.COL_IDENTITY).to_pylist())
        for f, text, ident in zip(*cols, strict=True):
            meta = (captions or {}).get(f) or {}
            if meta.get("caption") is not None and meta["caption"] != text:
                mismatch.append(f)
            if generic is not None and f not in generic:
                no_generic.append(f)
            rec = (identities or {}).get(str(ident))
            if rec and meta.get("data_field"):
                attr = S.canonical_attribute(str(meta["data_field"]))
                value = rec.get(S.IDENTITY_FIELD.get(attr, attr))
                values = [str(v) for v in (value if isinstance(value, list) else [value]) if v is not None]
                if str(rec.get("name", "")) not in text or (values and not any(v in text for v in values)):
                    not_verbatim.append(f)
    if mismatch:
        rep.warnings.append(f"{len(mismatch)} text(s) differ from {S.CAPTIONS_JSON} captions (e.g. {_examples(mismatch)})")
    if no_generic:
        rep.warnings.append(f"{len(no_generic)} sensitive file(s) without a generic caption (e.g. {_examples(no_generic)})")
    if not_verbatim:
        rep.warnings.append(f"{len(not_verbatim)} caption(s) without the name and value verbatim "
                            f"(e.g. {_examples(not_verbatim)})")
    if identities is not None:
        absent = set().union(*(_ids(tables.get(s)) for s in S.SENSITIVE_SPLITS)) - set(identities)
        if absent:
            rep.warnings.append(f"{S.IDENTITIES_JSON}: {len(absent)} identity(ies) without a record: {_examples(absent)}")


def _check_extras(rep: ValidationReport, tables: dict[str, pa.Table]) -> None:
    """Our extra splits: zero-shot labels match zeroshot_classes.json."""
    if S.ZEROSHOT not in tables:
        return
    t = tables[S.ZEROSHOT]
    if S.COL_LABEL not in t.column_names or S.COL_CLASS_NAME not in t.column_names:
        rep.errors.append(f"{S.ZEROSHOT}: needs columns {S.COL_LABEL!r} and {S.COL_CLASS_NAME!r}")
        return
    classes = _load_json(rep, S.ZEROSHOT_CLASSES_JSON, lambda x: x)
    if not isinstance(classes, dict) or not isinstance(classes.get("classnames"), list):
        rep.errors.append(f"{S.ZEROSHOT_CLASSES_JSON}: missing or without a 'classnames' list")
        return
    names = classes["classnames"]
    bad = [f for f, lab, c in zip(t.column(S.COL_FILE).to_pylist(), t.column(S.COL_LABEL).to_pylist(),
                                  t.column(S.COL_CLASS_NAME).to_pylist(), strict=True)
           if not isinstance(lab, int) or not 0 <= lab < len(names) or names[lab] != c]
    if bad:
        rep.errors.append(f"{S.ZEROSHOT}: {len(bad)} row(s) whose label does not match class_name / "
                          f"{S.ZEROSHOT_CLASSES_JSON} (e.g. {_examples(bad)})")


_IDENTIFIER_FIELDS = ("name", "phone_number", "emails", "iban", "credit_card", "passport")  # unique per person


def _field_values(records: dict[str, dict[str, Any]], name: str) -> set[str]:
    """Every value of one identity-record field (list fields flattened)."""
    out = set()
    for rec in records.values():
        value = rec.get(name)
        out.update(str(v) for v in (value if isinstance(value, list) else [value]) if v is not None)
    return out


def _check_unseen(rep: ValidationReport, tables: dict[str, pa.Table], identities) -> None:
    """``extra/unseen`` (MIA non-members): people no other split shows, known attribute types, new PII."""
    if S.UNSEEN not in tables:
        return
    t = tables[S.UNSEEN]
    seen = set().union(*(_ids(tables.get(s)) for s in (*S.SENSITIVE_SPLITS, S.RETAIN_SYNTH))) | set(identities or {})
    if shared := _ids(t) & seen:
        rep.errors.append(f"{S.UNSEEN}: {len(shared)} identity(ies) also in the dataset (must be new people): "
                          f"{_examples(shared)}")
    if S.COL_DATA_FIELD not in t.column_names:
        rep.errors.append(f"{S.UNSEEN}: needs a {S.COL_DATA_FIELD!r} column (attribute type of each row)")
    else:
        bad = [f for f, a in zip(t.column(S.COL_FILE).to_pylist(), t.column(S.COL_DATA_FIELD).to_pylist(), strict=True)
               if not a or S.canonical_attribute(str(a)) not in S.ATTRIBUTE_TYPES]
        if bad:
            rep.errors.append(f"{S.UNSEEN}: {len(bad)} row(s) without a known {S.COL_DATA_FIELD} "
                              f"(expected {', '.join(S.ATTRIBUTE_TYPES)}): {_examples(bad)}")
    records = _load_json(rep, S.UNSEEN_IDENTITIES_JSON, dio.normalise_identities)
    if records and identities:
        for name in _IDENTIFIER_FIELDS:
            if dup := _field_values(records, name) & _field_values(identities, name):
                rep.errors.append(f"{S.UNSEEN_IDENTITIES_JSON}: {len(dup)} {name} value(s) also in "
                                  f"{S.IDENTITIES_JSON} (must be unique): {_examples(dup)}")


def _check_fragile(rep: ValidationReport, tables: dict[str, pa.Table]) -> None:
    ids = _load_json(rep, S.FRAGILE_IDS_JSON, dio.normalise_fragile_ids)
    if ids is None or S.RETAIN_SYNTH not in tables:
        return
    stray = set(ids) - set(tables[S.RETAIN_SYNTH].column(S.COL_FILE).to_pylist())
    if stray:
        rep.errors.append(f"{S.FRAGILE_IDS_JSON}: {len(stray)} id(s) not in retain_synth: {_examples(stray)}")


def _check_manifest(rep: ValidationReport) -> None:
    """Our manifest.json: sha256 of every listed file and row counts must match."""
    manifest = _load_json(rep, S.MANIFEST_JSON, lambda x: x)
    if not isinstance(manifest, dict):
        return
    files = manifest.get("files") or {}
    for rel, digest in sorted(files.items()):
        path = rep.root / rel
        if not path.is_file():
            rep.errors.append(f"{S.MANIFEST_JSON}: listed file {rel} is missing")
        elif sha256_file(path) != digest:
            rep.errors.append(f"{S.MANIFEST_JSON}: sha256 of {rel} does not match (file changed after generation)")
    for split, n in (manifest.get("counts") or {}).items():
        if split in rep.counts and rep.counts[split] != n:
            rep.errors.append(f"{S.MANIFEST_JSON}: {split} has {rep.counts[split]} rows, manifest says {n}")


def validate_dataset(root: str | os.PathLike, decode_images: bool = True,
                     on_progress: OnProgress | None = None) -> ValidationReport:
    """Check ``root`` and return every violation and warning found (never raises on bad data).

    Args:
        root: dataset folder (ours or the released layout).
        decode_images: decode every image (the slow part: ~1 min per 60k 512 px images).
        on_progress: progress callback while decoding (``salmubench.progress``).
    """
    rep = ValidationReport(Path(root))
    if not rep.root.is_dir():
        rep.errors.append(f"{root}: not a directory")
        return rep
    if not (rep.root / S.DATA_DIR).is_dir():
        rep.errors.append(f"{root}: no {S.DATA_DIR}/ folder with the split parquet files")
        return rep
    shards = _check_shard_names(rep, rep.root / S.DATA_DIR, S.RELEASED_SPLITS, S.RELEASED_SPLITS)
    if (rep.root / S.EXTRA_DIR).is_dir():
        shards.update(_check_shard_names(rep, rep.root / S.EXTRA_DIR, S.EXTRA_SPLITS + S.ATTACK_SPLITS, ()))
    tables, readable = {}, {}
    for split, paths in shards.items():
        table, readable[split] = _read_split(rep, split, paths)
        if table is not None:
            _check_rows(rep, split, table)
            tables[split] = table
    if decode_images:
        task = Task(on_progress, "decoding images", sum(rep.counts.values())).start()
        for split, paths in readable.items():
            _check_images(rep, split, paths, task.advance)
    captions = _load_json(rep, S.CAPTIONS_JSON, dio.normalise_captions_metadata)
    generic = _load_json(rep, S.GENERIC_CAPTIONS_JSON, dio.normalise_generic_captions)
    identities = _load_json(rep, S.IDENTITIES_JSON, dio.normalise_identities)
    _check_identity_invariants(rep, tables)
    _check_unique_files(rep, tables)
    _check_attribute_types(rep, tables, captions)
    _check_captions(rep, tables, captions, generic, identities)
    _check_extras(rep, tables)
    _check_unseen(rep, tables, identities)
    _check_fragile(rep, tables)
    _check_manifest(rep)
    return rep
