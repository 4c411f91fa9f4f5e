"""The on-disk layout of a SALMUBench dataset directory and the arrow schemas of its parquet shards.

The loader (:mod:`.loading`), the writer (:mod:`.writer`) and the validator read these; split and
column names themselves are spelled in :mod:`.schema`.

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

import json
from collections.abc import Sequence

import pyarrow as pa

from salmubench.data import schema as S

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
