"""Split the forget set into K deletion requests (docs/sequential.md, "Requests").

A request is a set of whole *units*:

* ``identity``: all forget rows of one person (a person asks to be forgotten);
* ``association``: all forget rows of one (identity, attribute type) association
  (``data.views.association_groups``: every image and paraphrase of "name + city").

The split is a pure function of the forget rows' identity ids and attribute types, K, the unit and the
request seed: the units, sorted, are permuted with ``rng_for(seed, "requests", unit)`` and cut into K
consecutive chunks whose unit counts differ by at most one (``numpy.array_split``). Requests are
disjoint, cover every forget row, and list their rows in forget-split order. With K = 1 the single
request is the whole forget split in its own order, so the one step is the one-shot run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from salmubench.errors import ConfigError, DataError
from salmubench.seeding import rng_for

UNITS = ("identity", "association")
REQUESTS_VERSION = 1  # bump when the split rule changes (part of every sequential run's hash)


@dataclass(frozen=True)
class RequestSplit:
    """K disjoint requests covering the forget split; ``rows[k]`` are forget row indices (sorted)."""

    unit: str
    seed: int
    rows: tuple[tuple[int, ...], ...]
    units: tuple[tuple[str, ...], ...]  # the units of each request: identity ids or "identity/attribute"
    n_forget: int

    @property
    def k(self) -> int:
        return len(self.rows)

    @property
    def digest(self) -> str:
        """sha256 (16 hex) of the split (version, unit, seed, rows)."""
        blob = json.dumps([REQUESTS_VERSION, self.unit, self.seed, self.rows]).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def requested(self, step: int) -> tuple[int, ...]:
        """Forget rows of requests 1..``step`` (1-based), sorted: what has been asked for so far."""
        return tuple(sorted(r for rows in self.rows[:step] for r in rows))

    def pending(self, step: int) -> tuple[int, ...]:
        """Forget rows of requests ``step``+1..K, sorted: not asked for yet after step ``step``."""
        return tuple(sorted(r for rows in self.rows[step:] for r in rows))

    def record(self) -> dict:
        """What result files store about the split."""
        return {"k": self.k, "unit": self.unit, "seed": self.seed, "digest": self.digest, "version": REQUESTS_VERSION,
                "rows": [len(r) for r in self.rows], "units": [len(u) for u in self.units]}


def check_unit(unit: str) -> str:
    """``unit`` if it is one of :data:`UNITS`, else a one-line ConfigError."""
    if unit not in UNITS:
        raise ConfigError(f"request_unit {unit!r} is not one of {', '.join(UNITS)}")
    return unit


def split_requests(identity_ids: Sequence[str | None], attributes: Sequence[str | None], k: int,
                   unit: str = "identity", seed: int = 0) -> RequestSplit:
    """The K requests of a forget split (module docstring).

    Args:
        identity_ids: identity of every forget row (every row needs one).
        attributes: attribute type (``data_field``) of every forget row; None = unknown (one
            ``unknown`` association per identity).
        k: number of requests (1 <= k <= number of units).
        unit: ``identity`` or ``association``.
        seed: request seed.
    """
    from salmubench.data.views import association_groups

    check_unit(unit)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"the number of requests must be a positive integer, got {k!r}")
    if len(identity_ids) != len(attributes):
        raise DataError("split_requests: identity_ids and attributes differ in length")
    missing = sum(1 for i in identity_ids if not i)
    if missing:
        raise DataError(f"{missing} forget row(s) have no identity_id; they cannot be assigned to a deletion request")
    if unit == "identity":
        groups: dict[str, list[int]] = {}
        for row, ident in enumerate(identity_ids):
            groups.setdefault(str(ident), []).append(row)
        labelled = sorted(groups.items())
    else:
        labelled = [(f"{i}/{a}", rows) for (i, a), rows in association_groups(list(identity_ids), list(attributes)).items()]
    if k > len(labelled):
        raise ConfigError(f"{k} requests need at least {k} {unit} units; the forget split has {len(labelled)}")
    order = rng_for(seed, "requests", unit).permutation(len(labelled)) if k > 1 else np.arange(len(labelled))
    rows, units = [], []
    for chunk in np.array_split(order, k):
        picked = [labelled[j] for j in chunk]
        rows.append(tuple(sorted(r for _, rs in picked for r in rs)))
        units.append(tuple(sorted(label for label, _ in picked)))
    return RequestSplit(unit=unit, seed=seed, rows=tuple(rows), units=tuple(units), n_forget=len(identity_ids))
