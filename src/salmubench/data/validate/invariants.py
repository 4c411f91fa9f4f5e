"""Dataset-level checks across splits and files: the identity and attribute-type invariants of
SALMUBENCH.md section 3, unique file names, captions against the metadata, our extra and attack
splits, the fragile set and the manifest."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pyarrow as pa

from salmubench.data import schema as S
from salmubench.data.metadata import normalise_fragile_ids, normalise_identities
from salmubench.data.validate.report import ValidationReport, examples, load_json
from salmubench.io_utils import sha256_file


def _ids(table: pa.Table | None) -> set[str]:
    if table is None:
        return set()
    return {str(i) for i in table.column(S.COL_IDENTITY).to_pylist() if i}


def check_identity_invariants(rep: ValidationReport, tables: dict[str, pa.Table]) -> None:
    forget, ha, hi = (_ids(tables.get(s)) for s in (S.FORGET, S.HOLDOUT_ASSOCIATION, S.HOLDOUT_IDENTITY))
    if S.FORGET not in tables:
        return
    if shared := hi & forget:
        rep.errors.append(f"holdout_identity and forget share {len(shared)} identity(ies) "
                          f"(must be disjoint): {examples(shared)}")
    if outside := ha - forget:
        rep.errors.append(f"holdout_association has {len(outside)} identity(ies) absent from forget "
                          f"(must be a subset): {examples(outside)}")
    if S.RETAIN_SYNTH in tables and (stray := _ids(tables[S.RETAIN_SYNTH]) - forget):
        rep.warnings.append(f"retain_synth shows {len(stray)} identity(ies) that are not forget identities: "
                            f"{examples(stray)}")


def check_unique_files(rep: ValidationReport, tables: dict[str, pa.Table]) -> None:
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
        rep.errors.append(f"{n} file_name(s) appear in {place}: {examples(files)}")


def check_attribute_types(rep: ValidationReport, tables: dict[str, pa.Table],
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
                            f"(e.g. {examples(missing)})")
    if unknown:
        rep.errors.append(f"{S.CAPTIONS_JSON}: {len(unknown)} unknown data_field value(s) "
                          f"(expected {', '.join(S.ATTRIBUTE_TYPES)}): {examples(unknown)}")
    for (split, ident), attrs in sorted(types.items()):
        if split != S.FORGET:
            continue
        both = attrs & types.get((S.HOLDOUT_ASSOCIATION, ident), set())
        if both:
            rep.errors.append(f"identity {ident}: attribute type(s) {', '.join(sorted(both))} in both forget "
                              "and holdout_association (must be disjoint)")


def check_captions(rep: ValidationReport, tables: dict[str, pa.Table], captions, generic, identities) -> None:
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
        rep.warnings.append(f"{len(mismatch)} text(s) differ from {S.CAPTIONS_JSON} captions (e.g. {examples(mismatch)})")
    if no_generic:
        rep.warnings.append(f"{len(no_generic)} sensitive file(s) without a generic caption (e.g. {examples(no_generic)})")
    if not_verbatim:
        rep.warnings.append(f"{len(not_verbatim)} caption(s) without the name and value verbatim "
                            f"(e.g. {examples(not_verbatim)})")
    if identities is not None:
        absent = set().union(*(_ids(tables.get(s)) for s in S.SENSITIVE_SPLITS)) - set(identities)
        if absent:
            rep.warnings.append(f"{S.IDENTITIES_JSON}: {len(absent)} identity(ies) without a record: {examples(absent)}")


def check_extras(rep: ValidationReport, tables: dict[str, pa.Table]) -> None:
    """Our extra splits: zero-shot labels match zeroshot_classes.json."""
    if S.ZEROSHOT not in tables:
        return
    t = tables[S.ZEROSHOT]
    if S.COL_LABEL not in t.column_names or S.COL_CLASS_NAME not in t.column_names:
        rep.errors.append(f"{S.ZEROSHOT}: needs columns {S.COL_LABEL!r} and {S.COL_CLASS_NAME!r}")
        return
    classes = load_json(rep, S.ZEROSHOT_CLASSES_JSON, lambda x: x)
    if not isinstance(classes, dict) or not isinstance(classes.get("classnames"), list):
        rep.errors.append(f"{S.ZEROSHOT_CLASSES_JSON}: missing or without a 'classnames' list")
        return
    names = classes["classnames"]
    bad = [f for f, lab, c in zip(t.column(S.COL_FILE).to_pylist(), t.column(S.COL_LABEL).to_pylist(),
                                  t.column(S.COL_CLASS_NAME).to_pylist(), strict=True)
           if not isinstance(lab, int) or not 0 <= lab < len(names) or names[lab] != c]
    if bad:
        rep.errors.append(f"{S.ZEROSHOT}: {len(bad)} row(s) whose label does not match class_name / "
                          f"{S.ZEROSHOT_CLASSES_JSON} (e.g. {examples(bad)})")


_IDENTIFIER_FIELDS = ("name", "phone_number", "emails", "iban", "credit_card", "passport")  # unique per person


def _field_values(records: dict[str, dict[str, Any]], name: str) -> set[str]:
    """Every value of one identity-record field (list fields flattened)."""
    out = set()
    for rec in records.values():
        value = rec.get(name)
        out.update(str(v) for v in (value if isinstance(value, list) else [value]) if v is not None)
    return out


def check_unseen(rep: ValidationReport, tables: dict[str, pa.Table], identities) -> None:
    """``extra/unseen`` (MIA non-members): people no other split shows, known attribute types, new PII."""
    if S.UNSEEN not in tables:
        return
    t = tables[S.UNSEEN]
    seen = set().union(*(_ids(tables.get(s)) for s in (*S.SENSITIVE_SPLITS, S.RETAIN_SYNTH))) | set(identities or {})
    if shared := _ids(t) & seen:
        rep.errors.append(f"{S.UNSEEN}: {len(shared)} identity(ies) also in the dataset (must be new people): "
                          f"{examples(shared)}")
    if S.COL_DATA_FIELD not in t.column_names:
        rep.errors.append(f"{S.UNSEEN}: needs a {S.COL_DATA_FIELD!r} column (attribute type of each row)")
    else:
        bad = [f for f, a in zip(t.column(S.COL_FILE).to_pylist(), t.column(S.COL_DATA_FIELD).to_pylist(), strict=True)
               if not a or S.canonical_attribute(str(a)) not in S.ATTRIBUTE_TYPES]
        if bad:
            rep.errors.append(f"{S.UNSEEN}: {len(bad)} row(s) without a known {S.COL_DATA_FIELD} "
                              f"(expected {', '.join(S.ATTRIBUTE_TYPES)}): {examples(bad)}")
    records = load_json(rep, S.UNSEEN_IDENTITIES_JSON, normalise_identities)
    if records and identities:
        for name in _IDENTIFIER_FIELDS:
            if dup := _field_values(records, name) & _field_values(identities, name):
                rep.errors.append(f"{S.UNSEEN_IDENTITIES_JSON}: {len(dup)} {name} value(s) also in "
                                  f"{S.IDENTITIES_JSON} (must be unique): {examples(dup)}")


def check_fragile(rep: ValidationReport, tables: dict[str, pa.Table]) -> None:
    ids = load_json(rep, S.FRAGILE_IDS_JSON, normalise_fragile_ids)
    if ids is None or S.RETAIN_SYNTH not in tables:
        return
    stray = set(ids) - set(tables[S.RETAIN_SYNTH].column(S.COL_FILE).to_pylist())
    if stray:
        rep.errors.append(f"{S.FRAGILE_IDS_JSON}: {len(stray)} id(s) not in retain_synth: {examples(stray)}")


def check_manifest(rep: ValidationReport) -> None:
    """Our manifest.json: sha256 of every listed file and row counts must match."""
    manifest = load_json(rep, S.MANIFEST_JSON, lambda x: x)
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
