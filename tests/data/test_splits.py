"""Split planning at the paper's size: group fractions and attribute-type balance."""

from __future__ import annotations

from collections import Counter

import numpy as np

from salmubench.data import schema as S
from salmubench.data.generate import splits


def test_groups_match_the_paper():
    groups = Counter(splits.assign_groups(774, np.random.default_rng(0)))
    assert groups == {splits.FORGET_IDENTITY: 193, splits.HOLDOUT_IDENTITY: 194, splits.SPLIT_IDENTITY: 387}


def test_image_types_balanced_per_identity_and_overall():
    rng = np.random.default_rng(1)
    total = Counter()
    for i in range(774):
        plan = splits.image_type_plan(78, i, rng)
        counts = Counter(plan)
        assert len(plan) == 78 and set(counts) == set(S.ATTRIBUTE_TYPES)
        assert max(counts.values()) - min(counts.values()) <= 1
        total.update(counts)
    assert max(total.values()) - min(total.values()) <= 1


def test_split_identities_forget_half_the_types_evenly():
    ids = [f"{i:08d}" for i in range(774)]
    plans = splits.plan_identities(ids, 78, (1, 2), np.random.default_rng(2))
    forgotten = Counter()
    for p in plans:
        if p.group == splits.SPLIT_IDENTITY:
            assert len(p.forget_types) == 4
            forgotten.update(p.forget_types)
            assert {p.split_of(t) for t in S.ATTRIBUTE_TYPES} == {S.FORGET, S.HOLDOUT_ASSOCIATION}
        elif p.group == splits.HOLDOUT_IDENTITY:
            assert p.n_retain_joint == 0 and {p.split_of(t) for t in S.ATTRIBUTE_TYPES} == {S.HOLDOUT_IDENTITY}
        else:
            assert 1 <= p.n_retain_joint <= 2 and {p.split_of(t) for t in S.ATTRIBUTE_TYPES} == {S.FORGET}
    assert max(forgotten.values()) - min(forgotten.values()) <= 0.15 * np.mean(list(forgotten.values()))
    joint = sum(p.n_retain_joint for p in plans)
    assert 580 <= joint <= 1160  # ~1k retain_joint rows as in the release
