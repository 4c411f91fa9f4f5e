"""The metrics after each request: the evaluator's own metric functions on row views (docs/sequential.md).

As ``tuning.validation.proxy_metrics`` does, every row-restricted value is ``run_metric(key, view, emb)``
on a view of the dataset whose ``forget`` split is a subset of the forget rows
(``data.views.with_forget``), so the distractor rule, tie rule, seeds and cosine code are the
evaluator's. The full-split metrics are ``run_metric`` on the dataset itself. After the last request
the ``requested`` view is the whole forget split in its own order, so its values are the evaluator's
values of the same model (a test checks it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from salmubench.data.dataset import SalmuDataset
from salmubench.evaluation.scoring import position
from salmubench.sequential.requests import RequestSplit
from salmubench.sequential.results import SEQ_METRICS, SeqValue


@dataclass
class RowViews:
    """The row views of one split, built on first use: ``requested`` / ``pending`` after step k."""

    ds: SalmuDataset
    split: RequestSplit
    _cache: dict[tuple[str, int], SalmuDataset | None] = field(default_factory=dict)

    def view(self, rows: str, step: int) -> SalmuDataset | None:
        """The dataset view of ``rows`` ("requested" / "pending") after step ``step``; None when empty;
        ``rows == "all"``: the dataset itself."""
        from salmubench.data.views import with_forget

        if rows == "all":
            return self.ds
        key = (rows, step)
        if key not in self._cache:
            picked = self.split.requested(step) if rows == "requested" else self.split.pending(step)
            self._cache[key] = with_forget(self.ds, picked, f"seq-{rows}:{self.split.digest}:{step}") if picked else None
        return self._cache[key]


def raw_values(views: RowViews, step: int, emb, full: dict[str, float] | None = None,
               imagenet=None) -> dict[str, float | None]:
    """``{key: value}`` of every :data:`SEQ_METRICS` entry for one model after step ``step``.

    ``emb`` is the model's EmbeddingBank. ``full``: the model's full-split values when already known
    (they do not depend on the step: references compute them once). None: no rows in the view.
    ``imagenet``: what GenKnow reads (``run_metric``'s; None: the zeroshot split).
    """
    from salmubench.evaluation.registry import run_metric

    out: dict[str, float | None] = {}
    for m in SEQ_METRICS:
        if m.rows == "all" and full is not None:
            out[m.key] = full[m.key]
            continue
        data = views.view(m.rows, step)
        out[m.key] = None if data is None else float(run_metric(m.metric, data, emb, imagenet).value)
    return out


def full_values(ds: SalmuDataset, emb, imagenet=None) -> dict[str, float]:
    """The full-split metrics of one model (they do not depend on the step; ``imagenet`` as in
    :func:`raw_values`)."""
    from salmubench.evaluation.registry import run_metric

    return {m.key: float(run_metric(m.metric, ds, emb, imagenet).value) for m in SEQ_METRICS if m.rows == "all"}


def view_sizes(views: RowViews, step: int) -> dict[str, int]:
    return {"requested": len(views.split.requested(step)), "pending": len(views.split.pending(step))}


def step_values(raw: dict[str, float | None], refs: dict, step: int, sizes: dict[str, int]) -> dict[str, SeqValue]:
    """The step's values with the references' values on the same rows and the positions.

    ``refs`` is the ``references.json`` content: ``{"steps": {"<k>": {"compromised": {...}, "clean":
    {...} | None}}}``.
    """
    entry = refs["steps"][str(step)]
    comp, clean = entry["compromised"], entry.get("clean")
    out = {}
    for m in SEQ_METRICS:
        v = raw[m.key]
        c = comp.get(m.key)
        k = clean.get(m.key) if clean else None
        out[m.key] = SeqValue(value=_finite(v), n=sizes.get(m.rows), clean=_finite(k), compromised=_finite(c),
                              position=_finite(position(v, c, k)))
    return out


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)
