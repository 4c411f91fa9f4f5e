"""data.views: the holdout-free loader never opens a holdout shard; forget views and association groups."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from salmubench.data import schema as S
from salmubench.data.fingerprint import dataset_fingerprint
from salmubench.data.loading import load_dataset
from salmubench.data.views import (
    HOLDOUT_SPLITS,
    association_groups,
    forget_attributes,
    load_without_holdouts,
    with_forget,
    with_forget_table,
)
from salmubench.errors import DataError
from salmubench.io_utils import sha256_bytes

GARBAGE = b"not parquet: opening this shard is a protocol violation"


def _garble(root, folder: str, splits) -> None:
    for split in splits:
        shards = list((root / folder).glob(f"{split}-*.parquet"))
        assert shards
        for shard in shards:
            shard.write_bytes(GARBAGE)


@pytest.mark.parametrize("images", ["memory", "lazy"])
def test_holdout_free_load_never_opens_a_holdout_shard(tiny_dataset_dir, tmp_path, images):
    copy = tmp_path / "data"
    shutil.copytree(tiny_dataset_dir, copy)
    _garble(copy, S.DATA_DIR, HOLDOUT_SPLITS)
    with pytest.raises(DataError):
        load_dataset(copy)  # the garbage is really unreadable
    ds = load_without_holdouts(copy, images=images)
    assert set(ds.splits) == {S.FORGET, S.RETAIN_SYNTH, *S.EXTRA_SPLITS, *S.ATTACK_SPLITS}
    assert ds.fingerprint == dataset_fingerprint(tiny_dataset_dir)  # with a manifest: the full dataset's
    assert ds.fragile_ids is None
    intact = load_dataset(tiny_dataset_dir)
    for name in ds.splits:
        assert ds.split(name).file_names == intact.split(name).file_names
    assert ds.forget.image_bytes(0) == intact.forget.image_bytes(0)
    with pytest.raises(DataError, match="no split"):
        ds.holdout_identity  # noqa: B018 - access must fail


def test_skip_extra_leaves_those_shards_unopened(tiny_dataset_dir, tmp_path):
    """Tuning's load: no attack split, and the unseen shards are not even opened."""
    from salmubench.tuning.validation import TUNING_SPLITS, load_tuning_source

    copy = tmp_path / "data"
    shutil.copytree(tiny_dataset_dir, copy)
    _garble(copy, S.DATA_DIR, HOLDOUT_SPLITS)
    _garble(copy, S.EXTRA_DIR, S.ATTACK_SPLITS)
    with pytest.raises(DataError):
        load_without_holdouts(copy)
    ds = load_without_holdouts(copy, skip_extra=S.ATTACK_SPLITS)
    assert set(ds.splits) == set(TUNING_SPLITS)
    tuning = load_tuning_source(copy)
    assert list(tuning.splits) == list(ds.splits) and tuning.fingerprint == ds.fingerprint


def test_without_a_manifest_the_fingerprint_hashes_the_shards_read(tiny_dataset_dir, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(tiny_dataset_dir, copy)
    (copy / S.MANIFEST_JSON).unlink()
    before = load_without_holdouts(copy).fingerprint
    tuning = load_without_holdouts(copy, skip_extra=S.ATTACK_SPLITS).fingerprint
    assert before != dataset_fingerprint(copy) and tuning != before  # only the files each load read
    _garble(copy, S.DATA_DIR, HOLDOUT_SPLITS)
    assert load_without_holdouts(copy).fingerprint == before  # holdout bytes play no part
    assert load_without_holdouts(copy, skip_extra=S.ATTACK_SPLITS).fingerprint == tuning


def test_with_forget_is_exactly_those_rows_with_the_other_splits_shared(tiny_dataset):
    ds = dataclasses.replace(tiny_dataset, fragile_ids=tiny_dataset.retain_synth.file_names[:2])
    rows = [5, 0, 3]
    view = with_forget(ds, rows, "pick")
    assert view.forget.name == S.FORGET and len(view.forget) == 3
    assert view.forget.file_names == [ds.forget.file_names[r] for r in rows]  # order kept
    assert view.forget.texts == [ds.forget.texts[r] for r in rows]
    assert view.forget.image_bytes(1) == ds.forget.image_bytes(0)
    assert set(view.splits) == set(ds.splits) - set(HOLDOUT_SPLITS)
    for name in set(view.splits) - {S.FORGET}:
        assert view.splits[name] is ds.splits[name]  # shared, not copied
    assert view.fragile_ids is None and view.identities is ds.identities
    assert view.fingerprint == sha256_bytes(f"{ds.fingerprint}:pick:3".encode())
    assert with_forget(ds, rows, "pick").fingerprint == view.fingerprint
    assert with_forget(ds, rows, "other").fingerprint != view.fingerprint
    assert len(ds.forget) == len(tiny_dataset.forget) and ds.has_split(S.HOLDOUT_IDENTITY)  # parent untouched


def test_with_forget_table_renames_any_table_to_forget(tiny_dataset):
    table = tiny_dataset.retain_synth.take([2, 1], name="some_name")
    view = with_forget_table(tiny_dataset, table, "retain-as-forget")
    assert view.forget.name == S.FORGET
    assert view.forget.file_names == [tiny_dataset.retain_synth.file_names[r] for r in (2, 1)]
    assert view.retain_synth is tiny_dataset.retain_synth
    assert not set(view.splits) & set(HOLDOUT_SPLITS)
    assert view.fingerprint == sha256_bytes(f"{tiny_dataset.fingerprint}:retain-as-forget:2".encode())


def test_association_groups_by_identity_and_attribute():
    ids = ["00000002", "00000001", None, "00000001", "00000002", "00000001"]
    attrs = ["city", "job", "city", "job", None, "iban"]
    groups = association_groups(ids, attrs)
    assert groups == {("00000001", "iban"): [5], ("00000001", "job"): [1, 3],
                      ("00000002", "city"): [0], ("00000002", "unknown"): [4]}
    assert list(groups) == sorted(groups)  # keys sorted; the row without an identity is left out
    with pytest.raises(DataError, match="differ in length"):
        association_groups(ids, attrs[:-1])


def test_association_groups_of_the_forget_split(tiny_dataset):
    attrs = forget_attributes(tiny_dataset)
    assert attrs == [tiny_dataset.attribute_of(f) for f in tiny_dataset.forget.file_names]
    ids = tiny_dataset.forget.identity_ids
    groups = association_groups(ids, attrs)
    rows = sorted(r for members in groups.values() for r in members)
    assert rows == [r for r, i in enumerate(ids) if i]  # every row with an identity, in one group
    for (ident, attr), members in groups.items():
        assert {(ids[r], attrs[r] or "unknown") for r in members} == {(ident, attr)}
