"""The validation split: disjoint, deterministic, by association type, holdouts never read."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from salmubench.data import schema as S
from salmubench.data.loading import load_dataset
from salmubench.errors import DataError
from salmubench.tuning.selection import tuning_budget
from salmubench.tuning.validation import (
    load_tuning_source,
    make_views,
    split_validation,
    validation_split,
)
from salmubench.unlearning.base import Budget


def test_split_partitions_forget_rows_and_is_seeded(tiny_dataset_dir):
    ds = load_tuning_source(tiny_dataset_dir)
    split = validation_split(ds, seed=0)
    a, b, other = set(split.a_rows), set(split.b_rows), set(split.other_rows)
    assert not (a & b) and not (a & other) and not (b & other)
    assert a | b | other == set(range(len(ds.forget)))
    people = {i for i in ds.forget.identity_ids if i}
    assert abs(len(split.identities) - len(people) / 2) <= 1
    ids = ds.forget.identity_ids
    assert {ids[r] for r in a | b} == set(split.identities)
    assert not {ids[r] for r in other} & set(split.identities)
    assert validation_split(ds, seed=0) == split
    assert validation_split(ds, seed=1).identities != split.identities
    # about half of V's rows are unlearned
    assert 0.3 < len(a) / (len(a) + len(b)) < 0.7


def test_split_keeps_each_association_on_one_side(tiny_dataset_dir):
    ds = load_tuning_source(tiny_dataset_dir)
    split = validation_split(ds, seed=3)
    ids = ds.forget.identity_ids
    attrs = [ds.attribute_of(f) for f in ds.forget.file_names]
    side = {}
    for rows, name in ((split.a_rows, "A"), (split.b_rows, "B")):
        for r in rows:
            assert side.setdefault((ids[r], attrs[r]), name) == name  # one association, one side
    for person in split.identities:  # identities with >= 2 associations have both sides
        sides = {s for (i, _), s in side.items() if i == person}
        if len({a for (i, a) in side if i == person}) >= 2:
            assert sides == {"A", "B"}


def test_single_association_identity_alternates_rows():
    ids = ["00000001"] * 6 + ["00000002"] * 4
    attrs = ["city"] * 6 + ["job", "job", "iban", "iban"]
    split = split_validation(ids, attrs, seed=0, share=0.5)
    assert len(split.identities) == 1
    rows = set(split.a_rows) | set(split.b_rows)
    if split.identities == ("00000001",):
        assert len(split.a_rows) == len(split.b_rows) == 3 and rows == set(range(6))
    else:
        assert rows == {6, 7, 8, 9} and {attrs[r] for r in split.a_rows}.isdisjoint(attrs[r] for r in split.b_rows)
    with pytest.raises(DataError):
        split_validation(["00000001"] * 3, ["city"] * 3)


@pytest.mark.parametrize(("n_forget", "n_tune", "batch", "budget"),
                         [(1194, 305, 32, 1.0), (1194, 305, 32, 5.0), (100, 7, 32, 1.0), (97, 45, 8, 2.5),
                          (1000, 999, 16, 0.5)])
def test_tuning_budget_matches_the_real_step_count(n_forget, n_tune, batch, budget):
    budget_tune = tuning_budget(budget, n_forget, n_tune, batch)
    assert Budget(budget_tune).steps(n_tune, batch) == Budget(budget).steps(n_forget, batch)
    if n_tune >= 4 * batch:  # budget * |forget| / |V_A| up to the batch rounding
        assert budget_tune == pytest.approx(budget * n_forget / n_tune, rel=0.15)


def test_holdouts_are_never_read(tiny_dataset_dir, tmp_path):
    """Holdout shards replaced by garbage: the tuning data, the split and the views still work."""
    copy = tmp_path / "data"
    shutil.copytree(tiny_dataset_dir, copy)
    for split in (S.HOLDOUT_ASSOCIATION, S.HOLDOUT_IDENTITY):
        shards = list((copy / S.DATA_DIR).glob(f"{split}-*.parquet"))
        assert shards
        for shard in shards:
            shard.write_bytes(b"not parquet: reading this file is a protocol violation")
    with pytest.raises(DataError):
        load_dataset(copy)  # the garbage is really unreadable
    ds = load_tuning_source(copy)
    assert ds.fingerprint == load_dataset(tiny_dataset_dir).fingerprint
    assert not set(ds.splits) & {S.HOLDOUT_ASSOCIATION, S.HOLDOUT_IDENTITY}
    views = make_views(ds, validation_split(ds, seed=0))
    for view in (views.a, views.b, views.other):
        assert not set(view.splits) & {S.HOLDOUT_ASSOCIATION, S.HOLDOUT_IDENTITY}
        with pytest.raises(DataError):
            view.holdout_identity  # noqa: B018 - access must fail
    assert np.array_equal(views.a.forget.file_names,
                          [ds.forget.file_names[r] for r in views.split.a_rows])


def test_effectiveness_target_on_proxies():
    from salmubench.tuning.selection import meets_effectiveness_target

    comp = {"ret_fail": 0.6, "gen_know": 0.5, "inter_id_sim": 0.9, "intra_id_sim": 0.8}
    clean = {"ret_fail": 0.0, "gen_know": 0.5, "inter_id_sim": 0.1, "intra_id_sim": 0.1}
    good = {"ret_fail": 0.059, "gen_know": 0.491, "inter_id_sim": 0.676, "intra_id_sim": 0.61}
    assert meets_effectiveness_target(good, comp, clean)["all"]
    for key, bad in (("ret_fail", 0.061), ("gen_know", 0.489), ("inter_id_sim", 0.674), ("intra_id_sim", 0.59)):
        result = meets_effectiveness_target({**good, key: bad}, comp, clean)
        assert not result[key] and not result["all"]
    # bounds are inclusive: accuracies 246/600 and 252/600 are exactly 1 point apart
    assert meets_effectiveness_target({**good, "gen_know": 246 / 600}, {**comp, "gen_know": 252 / 600}, clean)["gen_know"]
