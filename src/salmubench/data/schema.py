"""Names of the SALMUBench on-disk layout: splits, columns, attribute types, file names.

This module is the single place that spells these strings; everything else imports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- splits of the released evaluation dataset (data/{split}-NNNNN-of-NNNNN.parquet) ---
FORGET = "forget"
HOLDOUT_ASSOCIATION = "holdout_association"
HOLDOUT_IDENTITY = "holdout_identity"
RETAIN_SYNTH = "retain_synth"
RELEASED_SPLITS = (FORGET, HOLDOUT_ASSOCIATION, HOLDOUT_IDENTITY, RETAIN_SYNTH)
SENSITIVE_SPLITS = (FORGET, HOLDOUT_ASSOCIATION, HOLDOUT_IDENTITY)

# --- our additions (extra/{split}-NNNNN-of-NNNNN.parquet), absent from the release ---
GENERAL_RETAIN = "general_retain"  # stands in for the 400M DataComp retain pairs
ZEROSHOT = "zeroshot"  # labelled zero-shot classification set: GenKnow stand-in for ImageNet
EXTRA_SPLITS = (GENERAL_RETAIN, ZEROSHOT)
# MIA non-members (recovery attacks, docs/attacks.md): pairs of personas that no reference model ever
# saw, from the generator's own seeded stream. Never training or unlearning data, never a metric split.
UNSEEN = "unseen"
ATTACK_SPLITS = (UNSEEN,)

# --- derived subsets computed by the loader (SALMUBENCH.md section 3) ---
RETAIN_JOINT = "retain_joint"
RETAIN_DISJOINT = "retain_disjoint"
FORGET_IDENTITY = "forget_identity"
FRAGILE_SET = "fragile_set"

DATA_DIR = "data"
EXTRA_DIR = "extra"

# --- parquet columns ---
COL_IMAGE = "image"  # struct {bytes: binary, path: string}
COL_TEXT = "text"
COL_IDENTITY = "identity_id"  # 8-digit zero-padded string, null for non-person rows
COL_FILE = "file_name"
REQUIRED_COLUMNS = (COL_IMAGE, COL_TEXT, COL_IDENTITY, COL_FILE)
COL_LABEL = "label"  # int class index, zeroshot split only (our addition)
COL_CLASS_NAME = "class_name"  # zeroshot + general_retain (our addition)
COL_DATA_FIELD = "data_field"  # attribute type of each row, unseen split only (our addition)

# --- metadata JSONs (original names) ---
IDENTITIES_JSON = "identities_metadata.json"
CAPTIONS_JSON = "sensitive_set_captions_metadata.json"
GENERIC_CAPTIONS_JSON = "sensitive_set_generic_captions.json"
FRAGILE_IDS_JSON = "fragile_set_ids.json"
FRAGILE_SIMS_JSON = "fragile_set_all_similarities.json"
MANIFEST_JSON = "manifest.json"  # ours
ZEROSHOT_CLASSES_JSON = "zeroshot_classes.json"  # ours: {"classnames": [...], "templates": [...]}
UNSEEN_IDENTITIES_JSON = "unseen_identities_metadata.json"  # ours: records of the unseen split's personas

# --- attribute types: data_field values of sensitive_set_captions_metadata.json ---
ATTRIBUTE_TYPES = ("city", "job", "blood_type", "phone", "email", "iban", "credit_card", "passport")
# Aliases accepted on read (identity-record field names and plausible spellings of the release).
ATTRIBUTE_ALIASES = {
    "phone_number": "phone",
    "emails": "email",
    "email_address": "email",
    "creditcard": "credit_card",
    "credit_card_number": "credit_card",
    "passport_number": "passport",
    "bloodtype": "blood_type",
}
# identity record field holding each attribute type's value
IDENTITY_FIELD = {
    "city": "city",
    "job": "job",
    "blood_type": "blood_type",
    "phone": "phone_number",
    "email": "emails",
    "iban": "iban",
    "credit_card": "credit_card",
    "passport": "passport",
}
IDENTITY_FIELDS = ("name", "city", "country_code", "job", "blood_type", "phone_number", "emails",
                   "iban", "credit_card", "passport")

IDENTITY_ID_RE = re.compile(r"^\d{8}$")
FILE_NAME_RE = re.compile(r"^(\d{8})_(\d{3})_ar-(\d+\.\d{2})\.jpg$")
# Shard file names, the one rule of the loader and the validator: ``{split}-NNNNN-of-NNNNN.parquet``,
# optionally with a lowercase hex hash before ``.parquet`` (``forget-00000-of-00003-4d7a4fe0a19b4e0a.parquet``,
# as Hugging Face ``datasets`` writes shards with ``push_to_hub``). Nothing else is a shard.
SHARD_RE = re.compile(r"^(?P<split>[a-z_]+)-(?P<idx>\d{5})-of-(?P<total>\d{5})(?:-(?P<hash>[0-9a-f]+))?\.parquet$")
SHARD_NAME_FORM = "{split}-NNNNN-of-NNNNN.parquet (optionally -HASH before .parquet, as Hugging Face writes)"


def canonical_attribute(name: str) -> str:
    """Map a data_field / identity field name to one of ATTRIBUTE_TYPES (or return it unchanged)."""
    key = name.strip().lower()
    return ATTRIBUTE_ALIASES.get(key, key)


def identity_id_str(index: int) -> str:
    """``12 -> "00000012"`` (8-digit zero padded, as in the release)."""
    return f"{index:08d}"


def image_file_name(identity_id: str, idx: int, aspect_ratio: float) -> str:
    """``{identity_id}_{idx:03d}_ar-{ratio:.2f}.jpg`` as in the release."""
    return f"{identity_id}_{idx:03d}_ar-{aspect_ratio:.2f}.jpg"


@dataclass(frozen=True)
class ShardName:
    """What a shard's file name says: its split, its index in the series and the series length."""

    split: str
    index: int
    total: int


def parse_shard_name(name: str) -> ShardName | None:
    """The :class:`ShardName` of a file name that follows :data:`SHARD_RE`, else None."""
    m = SHARD_RE.match(name)
    return ShardName(m.group("split"), int(m.group("idx")), int(m.group("total"))) if m else None


def shard_set_problem(names: list[ShardName]) -> str | None:
    """Why the shards of one split are not one complete series (indices 0..N-1 of one N, each once),
    or None when they are."""
    totals = sorted({n.total for n in names})
    idx = sorted(n.index for n in names)
    if len(totals) != 1 or idx != list(range(totals[0])):
        return f"incomplete or inconsistent shard set (indices {idx}, totals {totals})"
    return None


def shard_name(split: str, index: int, total: int) -> str:
    """``forget-00000-of-00002.parquet``."""
    return f"{split}-{index:05d}-of-{total:05d}.parquet"
