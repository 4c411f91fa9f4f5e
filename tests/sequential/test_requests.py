"""The request split: disjoint, covering, deterministic, balanced, whole units; K = 1 is the forget split."""

from __future__ import annotations

import pytest

from salmubench.data.views import association_groups
from salmubench.errors import ConfigError, DataError
from salmubench.sequential.requests import split_requests


def toy(n_ids: int = 7) -> tuple[list[str], list[str]]:
    """Identities with 1..4 attribute types and 1..3 rows per association, interleaved rows."""
    ids, attrs = [], []
    for i in range(n_ids):
        for a in range(1 + i % 4):
            for _ in range(1 + (i + a) % 3):
                ids.append(f"{i:08d}")
                attrs.append(("city", "job", "phone", "iban")[a])
    order = sorted(range(len(ids)), key=lambda r: (r * 7) % len(ids))  # rows of one person not contiguous
    return [ids[r] for r in order], [attrs[r] for r in order]


def units_of(ids, attrs, unit):
    if unit == "identity":
        groups: dict = {}
        for r, i in enumerate(ids):
            groups.setdefault(i, []).append(r)
        return list(groups.values())
    return list(association_groups(ids, attrs).values())


@pytest.mark.parametrize("unit", ["identity", "association"])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_split_properties(unit, k):
    ids, attrs = toy()
    split = split_requests(ids, attrs, k, unit, seed=4)
    rows = [r for req in split.rows for r in req]
    assert sorted(rows) == list(range(len(ids)))  # covering and disjoint
    assert all(list(req) == sorted(req) and req for req in split.rows)  # forget-split order, none empty
    sizes = [len(u) for u in split.units]
    assert max(sizes) - min(sizes) <= 1 and split.k == k  # balanced in units
    where = {r: j for j, req in enumerate(split.rows) for r in req}
    for group in units_of(ids, attrs, unit):  # a unit (person / association) is never split
        assert len({where[r] for r in group}) == 1
    assert split_requests(ids, attrs, k, unit, seed=4) == split  # deterministic
    assert split.requested(k) == tuple(range(len(ids))) and split.pending(k) == ()
    if k > 1:
        assert split.requested(1) == split.rows[0] and sorted(split.pending(1)) == sorted(rows[len(split.rows[0]):])


def test_k1_is_the_forget_split_and_seeds_differ():
    ids, attrs = toy()
    assert split_requests(ids, attrs, 1, "identity", seed=9).rows == (tuple(range(len(ids))),)
    a, b = (split_requests(ids, attrs, 3, "identity", seed=s) for s in (0, 1))
    assert a.rows != b.rows and a.digest != b.digest  # the seed matters (7 people: 1,260 ways)
    assert split_requests(ids, attrs, 3, "association", seed=0).digest != a.digest


def test_split_of_the_tiny_forget_split(tiny_dataset):
    ds = tiny_dataset
    attrs = [ds.attribute_of(f) for f in ds.forget.file_names]
    split = split_requests(ds.forget.identity_ids, attrs, 5, "identity", seed=0)
    assert sum(split.record()["rows"]) == len(ds.forget) and sorted(split.record()["units"]) == [4, 4, 4, 4, 5]


def test_split_errors():
    ids, attrs = toy(3)
    with pytest.raises(ConfigError, match="4 requests need at least 4 identity units; the forget split has 3"):
        split_requests(ids, attrs, 4, "identity")
    with pytest.raises(ConfigError, match="positive integer"):
        split_requests(ids, attrs, 0, "identity")
    with pytest.raises(ConfigError, match="request_unit 'person' is not one of identity, association"):
        split_requests(ids, attrs, 2, "person")
    with pytest.raises(DataError, match="1 forget row"):
        split_requests([*ids[:-1], None], attrs, 2, "identity")
