"""extra/unseen (MIA non-members): own stream, other files keep their bytes, new people, never method data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from salmubench.data import schema as S
from salmubench.data.generate import captions as C
from salmubench.data.generate import faces
from salmubench.data.generate.pipeline import generate_dataset
from salmubench.data.loading import load_dataset
from salmubench.data.metadata import read_optional_json
from salmubench.data.validate import validate_dataset
from salmubench.seeding import rng_for

SMALL = {"n_identities": 12, "n_retain_disjoint": 20, "n_general_retain": 60, "zeroshot_per_class": 3}
CHANGED_BY_DESIGN = {S.MANIFEST_JSON, "README.md"}  # generator version, file list, counts (and the card)


def _sha(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_other_files_keep_their_bytes(tmp_path):
    without = generate_dataset(tmp_path / "a", "tiny", seed=2, unseen_fraction=0, **SMALL)
    with_ = generate_dataset(tmp_path / "b", "tiny", seed=2, **SMALL)
    a, b = _sha(tmp_path / "a"), _sha(tmp_path / "b")
    assert S.UNSEEN not in without["counts"] and with_["counts"][S.UNSEEN] == 1 * 9  # max(1, round(1.2)) x 9
    assert set(b) - set(a) == {f"{S.EXTRA_DIR}/{S.UNSEEN}-00000-of-00001.parquet", S.UNSEEN_IDENTITIES_JSON}
    assert {k for k in a if a[k] != b[k]} == CHANGED_BY_DESIGN
    assert {k: v for k, v in without["counts"].items()} == {k: v for k, v in with_["counts"].items() if k != S.UNSEEN}


def test_unseen_split_new_people_all_types_same_styles(tiny_dataset_dir, tiny_dataset):
    root = Path(tiny_dataset_dir)
    unseen = pq.read_table(next((root / S.EXTRA_DIR).glob(f"{S.UNSEEN}-*.parquet"))).to_pylist()
    records = read_optional_json(root / S.UNSEEN_IDENTITIES_JSON, {})
    known = set(tiny_dataset.identities)
    ids = {r[S.COL_IDENTITY] for r in unseen}
    assert len(ids) == 3 and not ids & known and ids == set(records)  # round(10% of 28)
    per_id_types = {i: {r[S.COL_DATA_FIELD] for r in unseen if r[S.COL_IDENTITY] == i} for i in ids}
    assert all(t == set(S.ATTRIBUTE_TYPES) for t in per_id_types.values())  # 9 images: all 8 types
    bank = {t.format(name="N", value="V") for ts in C.TEMPLATES.values() for t in ts}
    for r in unseen:  # a training-bank caption of the persona's own name and value
        rec = records[r[S.COL_IDENTITY]]
        value = rec[S.IDENTITY_FIELD[r[S.COL_DATA_FIELD]]]
        value = value[0] if isinstance(value, list) else value
        assert r["text"].replace(rec["name"], "N").replace(str(value), "V") in bank
    for field in ("name", "phone_number", "iban", "credit_card", "passport"):
        ours = {rec[field] for rec in records.values()}
        assert not ours & {rec[field] for rec in tiny_dataset.identities.values()}, field
    codes = np.stack([faces.encode_traits(rec["portrait_traits"]) for rec in tiny_dataset.identities.values()])
    new = np.stack([faces.encode_traits(rec["portrait_traits"]) for rec in records.values()])
    coarse = np.array([t in faces.COARSE_TRAITS for t in faces.TRAIT_NAMES])
    diff = new[:, None, :] != codes[None, :, :]
    assert diff.sum(-1).min() >= 4 and diff[..., coarse].sum(-1).min() >= 2  # the k-traits rule, against all
    manifest = read_optional_json(root / S.MANIFEST_JSON, {})
    assert manifest["unseen"]["pii"]["duplicates_with_dataset"] == dict.fromkeys(
        ("name", "phone_number", "emails", "iban", "credit_card", "passport"), 0)


def test_validator_accepts_and_checks_the_split(tiny_dataset_dir, tmp_path):
    import shutil

    import pyarrow as pa

    rep = validate_dataset(tiny_dataset_dir, decode_images=False)
    assert rep.ok and rep.counts[S.UNSEEN] == 27, rep.errors
    bad = tmp_path / "bad"
    shutil.copytree(tiny_dataset_dir, bad)
    shard = next((bad / S.EXTRA_DIR).glob(f"{S.UNSEEN}-*.parquet"))
    table = pq.read_table(shard)
    known = load_dataset(tiny_dataset_dir).forget.identity_ids[0]
    ids = pa.array([known] * table.num_rows, pa.string())
    pq.write_table(table.set_column(table.column_names.index(S.COL_IDENTITY), S.COL_IDENTITY, ids), shard)
    rep = validate_dataset(bad, decode_images=False)
    assert any("also in the dataset" in e for e in rep.errors), rep.errors


def test_unseen_rows_never_reach_a_method(tiny_dataset, tiny_dataset_dir):
    from salmubench.models import create_model
    from salmubench.training.corpus import corpus_parts
    from salmubench.tuning.validation import load_tuning_source
    from salmubench.unlearning.data import build_unlearn_data

    unseen = set(tiny_dataset.split(S.UNSEEN).file_names)
    bundle = create_model("salmu-test", seed=0)
    data = build_unlearn_data(tiny_dataset, lambda img: torch.zeros(3, 1, 1), bundle.tokenizer)  # rows, not pixels
    assert not unseen & (set(data.forget.file_names) | set(data.retain.file_names))
    assert S.UNSEEN not in data.retain_sources and not load_tuning_source(tiny_dataset_dir).has_split(S.UNSEEN)
    for kind in ("compromised", "clean"):  # neither reference ever trains on it
        assert all(t.name != S.UNSEEN for t, _ in corpus_parts(tiny_dataset, kind, 2))


def _blind(root) -> float:
    from salmubench.attacks.suite.mia import blind_auc
    from salmubench.data.views import load_without_holdouts

    ds = load_without_holdouts(root)
    u = ds.split(S.UNSEEN)
    return blind_auc(ds.forget.texts, ds.forget.identity_ids, u.texts, u.identity_ids, rng_for(0, "blind"))


def test_blind_baseline_near_half_on_generated_tiny(tiny_dataset_dir):
    """Caption-only TF-IDF + LR cannot tell forget captions from unseen ones (27 non-members: a loose bound)."""
    assert abs(_blind(tiny_dataset_dir) - 0.5) <= 0.15


@pytest.mark.slow
def test_blind_baseline_near_half_on_generated_mini(mini_dataset_dir):
    """The issue's target on the embedded default: 0.5 +- 0.05 (239 non-members of 20 personas)."""
    assert abs(_blind(mini_dataset_dir) - 0.5) <= 0.05
