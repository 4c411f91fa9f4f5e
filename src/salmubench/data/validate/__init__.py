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

import os
from pathlib import Path

from salmubench.data import schema as S
from salmubench.data.metadata import (
    normalise_captions_metadata,
    normalise_generic_captions,
    normalise_identities,
)
from salmubench.data.validate.invariants import (
    check_attribute_types,
    check_captions,
    check_extras,
    check_fragile,
    check_identity_invariants,
    check_manifest,
    check_unique_files,
    check_unseen,
)
from salmubench.data.validate.report import MAX_EXAMPLES, ValidationReport, load_json
from salmubench.data.validate.shards import (
    check_images,
    check_rows,
    check_shard_names,
    image_decodes,
    read_split_columns,
)
from salmubench.progress import OnProgress, Task

__all__ = ["MAX_EXAMPLES", "ValidationReport", "image_decodes", "validate_dataset"]


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
    shards = check_shard_names(rep, rep.root / S.DATA_DIR, S.RELEASED_SPLITS, S.RELEASED_SPLITS)
    if (rep.root / S.EXTRA_DIR).is_dir():
        shards.update(check_shard_names(rep, rep.root / S.EXTRA_DIR, S.EXTRA_SPLITS + S.ATTACK_SPLITS, ()))
    tables, readable = {}, {}
    for split, paths in shards.items():
        table, readable[split] = read_split_columns(rep, split, paths)
        if table is not None:
            check_rows(rep, split, table)
            tables[split] = table
    if decode_images:
        task = Task(on_progress, "decoding images", sum(rep.counts.values())).start()
        for split, paths in readable.items():
            check_images(rep, split, paths, task.advance)
    captions = load_json(rep, S.CAPTIONS_JSON, normalise_captions_metadata)
    generic = load_json(rep, S.GENERIC_CAPTIONS_JSON, normalise_generic_captions)
    identities = load_json(rep, S.IDENTITIES_JSON, normalise_identities)
    check_identity_invariants(rep, tables)
    check_unique_files(rep, tables)
    check_attribute_types(rep, tables, captions)
    check_captions(rep, tables, captions, generic, identities)
    check_extras(rep, tables)
    check_unseen(rep, tables, identities)
    check_fragile(rep, tables)
    check_manifest(rep)
    return rep
