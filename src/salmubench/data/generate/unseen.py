"""The ``extra/unseen`` split: pairs of personas that no reference model ever saw (MIA non-members).

The membership-inference attack (docs/attacks.md, ``mia``) needs non-members drawn from the same
distribution as the forget pairs. This module draws them **from its own seeded stream**
(``derive_seed(seed, "unseen")``), after everything else, so every other file of the dataset keeps
its bytes (a test compares them with ``unseen_fraction=0``) and the reference models need no
retraining.

* ``n_unseen_identities(cfg)`` personas (~10% of the identity count), with identity ids continuing
  after the dataset's (``n_identities``, ``n_identities + 1``, ...), so file names never collide;
* their faces obey the k-traits rule against every dataset identity as well as each other
  (``faces.sample_identity_traits(existing=...)``), and pass the same curation check, with the
  dataset's reference centroids among the competitors;
* their identifier fields (name, phone, e-mail, IBAN, card, passport) are unique against the
  dataset's personas (``generate_personas(existing=...)``);
* each has ``images_per_identity`` images over all 8 attribute types, with the same caption bank
  and style plan as the sensitive splits (the same ``identity_job``);
* rows go to ``extra/unseen-*.parquet`` with a ``data_field`` column (attribute type per row), the
  records to ``unseen_identities_metadata.json``; no existing metadata file is touched.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from salmubench.data import schema as S
from salmubench.data.generate import curation, faces
from salmubench.data.generate.jobs import Context, Row
from salmubench.data.generate.personas import generate_personas
from salmubench.data.generate.presets import PresetConfig, n_unseen_identities
from salmubench.data.generate.splits import HOLDOUT_IDENTITY, IdentityPlan, image_type_plan
from salmubench.seeding import derive_seed, rng_for

STREAM = "unseen"


def unseen_seed(seed: int) -> int:
    """The base seed of every unseen draw (traits, personas, types, images, styles)."""
    return derive_seed(seed, STREAM)


def unseen_context(cfg: PresetConfig, seed: int, main: Context,
                   personas: dict[str, dict[str, Any]]) -> tuple[Context, dict[str, dict[str, Any]], dict[str, Any]]:
    """The worker context of the unseen personas, their records, and a summary for the manifest.

    Args:
        cfg: the preset.
        seed: the dataset seed (the unseen stream is derived from it).
        main: the context of the dataset's identities (their traits and reference centroids).
        personas: the dataset's identity records (identifier fields must not repeat).
    """
    n = n_unseen_identities(cfg)
    useed = unseen_seed(seed)
    existing = np.stack([faces.encode_traits(t) for t in main.traits])
    codes = faces.sample_identity_traits(n, rng_for(useed, "traits"), cfg.min_trait_distance,
                                         cfg.min_coarse_distance, existing=existing)
    traits = [faces.decode_traits(c) for c in codes]
    ids = [S.identity_id_str(cfg.n_identities + k) for k in range(n)]
    records, redraws = generate_personas(ids, useed, cfg.locales, [t["facial_hair"] != "none" for t in traits],
                                         existing=personas.values(), name_pool=cfg.name_pool, pool_seed=seed)
    for ident, t in zip(ids, traits, strict=True):
        records[ident]["portrait_traits"] = t
    rng = rng_for(useed, "splits")
    plans = [IdentityPlan(ident, HOLDOUT_IDENTITY, frozenset(), image_type_plan(cfg.images_per_identity, k, rng), 0)
             for k, ident in enumerate(ids)]
    # own centroids first (index k = unseen identity k), the dataset's as competitors
    refs = np.concatenate([curation.reference_centroids(codes, useed, cfg.aspect_ratios), main.refs])
    values = [{a: _value(records[i], a) for a in S.ATTRIBUTE_TYPES} for i in ids]
    ctx = Context(cfg, useed, refs, traits, [records[i]["name"] for i in ids], values, plans)
    d_all, d_coarse = _distance_to(codes, existing)
    summary = {"n_identities": n, "identity_ids": [ids[0], ids[-1]] if ids else [], "seed_stream": STREAM,
               "traits": {**curation.trait_summary(codes, cfg.min_trait_distance, cfg.min_coarse_distance),
                          "measured_min_traits_to_dataset": d_all,
                          "measured_min_coarse_traits_to_dataset": d_coarse},
               "pii": {"uniqueness_redraws": redraws,
                       "duplicates_with_dataset": curation.pii_duplicates([*personas.values(), *records.values()])}}
    return ctx, records, summary


def unseen_rows(rows: list[Row]) -> list[Row]:
    """An identity job's rows, moved to the unseen split (the job files them as holdout_identity)."""
    return [replace(r, split=S.UNSEEN) for r in rows]


def _value(record: dict[str, Any], attribute: str) -> str:
    value = record[S.IDENTITY_FIELD[attribute]]
    return str(value[0] if isinstance(value, list) else value)


def _distance_to(codes: np.ndarray, existing: np.ndarray) -> tuple[int, int]:
    """(min Hamming distance over all traits, over coarse traits) from ``codes`` to ``existing``."""
    if not len(codes) or not len(existing):
        return len(faces.TRAIT_NAMES), len(faces.COARSE_TRAITS)
    coarse = np.array([t in faces.COARSE_TRAITS for t in faces.TRAIT_NAMES])
    diff = codes[:, None, :] != existing[None, :, :]
    return int(diff.sum(-1).min()), int(diff[..., coarse].sum(-1).min())
