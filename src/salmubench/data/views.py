"""Generic views of a dataset that leave the test holdouts out: the holdout-free loader and datasets
whose ``forget`` split is a row subset (or another table), plus the association groups of forget rows.

Tuning's validation slice (``tuning.validation``), the recovery attacks (``attacks``) and the
sequential protocol (``sequential``) all read the data through these, never through a second
implementation: a view keeps the split name ``forget``, so embeddings and metrics treat its rows
exactly as the evaluator treats forget rows.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from salmubench.data import schema as S
from salmubench.data.dataset import SalmuDataset
from salmubench.data.loading import load_dataset
from salmubench.data.tables import SplitTable
from salmubench.errors import DataError

HOLDOUT_SPLITS = (S.HOLDOUT_ASSOCIATION, S.HOLDOUT_IDENTITY)


def load_without_holdouts(spec: str | os.PathLike, skip_extra: Sequence[str] = (), images: str = "memory"
                          ) -> SalmuDataset:
    """A dataset with forget, retain_synth and the extra splits, **without opening the holdout shards**.

    For code that must never read the test holdouts (tuning, recovery attacks; tests replace the
    holdout shards with garbage): ``load_dataset(spec, splits=...)`` with every non-holdout split.
    ``skip_extra`` names extra splits not to load either (tuning skips the attack splits, i.e. the MIA
    non-members ``unseen``). A restricted load: no fragile set; with a manifest the fingerprint is the
    full dataset's, without one it hashes the shards read.
    """
    extras = [s for s in (*S.EXTRA_SPLITS, *S.ATTACK_SPLITS) if s not in skip_extra]
    return load_dataset(spec, splits=(S.FORGET, S.RETAIN_SYNTH, *extras), images=images)


def association_groups(identity_ids: list[str | None], attributes: list[str | None]) -> dict[tuple[str, str], list[int]]:
    """Forget rows grouped by association ``(identity, attribute type)``, keys sorted.

    The unit the validation slice alternates and the relearning attack samples (docs/attacks.md).
    Rows of unknown type form one ``"unknown"`` association per identity; rows without an identity
    are left out.
    """
    if len(identity_ids) != len(attributes):
        raise DataError("association_groups: identity_ids and attributes differ in length")
    groups: dict[tuple[str, str], list[int]] = {}
    for row, (ident, attr) in enumerate(zip(identity_ids, attributes, strict=True)):
        if ident:
            groups.setdefault((ident, attr or "unknown"), []).append(row)
    return dict(sorted(groups.items()))


def forget_attributes(ds: SalmuDataset) -> list[str | None]:
    """Attribute type of every forget row (``data_field``), None when unknown."""
    return [ds.attribute_of(f) for f in ds.forget.file_names]


def with_forget(ds: SalmuDataset, rows: tuple[int, ...] | list[int], tag: str) -> SalmuDataset:
    """A view of ``ds`` whose ``forget`` split is the given forget rows (other splits shared).

    The view keeps the split name ``forget`` so embeddings and metrics treat the rows exactly as
    the evaluator treats forget rows; its fingerprint is derived from the parent's and ``tag``.
    """
    return with_forget_table(ds, ds.forget.take(list(rows), name=S.FORGET), tag)


def with_forget_table(ds: SalmuDataset, table: SplitTable, tag: str) -> SalmuDataset:
    """A view of ``ds`` whose ``forget`` split is ``table`` (other splits shared, holdouts and the
    fragile set dropped).

    ``table`` is renamed ``forget``: embeddings and metrics treat its rows as forget rows (the
    recovery attacks use this for forget rows with new captions, and for the MIA non-members).
    """
    view = ds.with_splits({S.FORGET: table.with_table(table.table, name=S.FORGET)}, tag=f"{tag}:{len(table)}",
                          drop=HOLDOUT_SPLITS)
    return dataclasses.replace(view, fragile_ids=None)
