"""The metrics after each request on hand-built embeddings (known answers), computed by the evaluator's
own functions on row views: requested rows against Clean, pending rows (PendingSim) against Compromised."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from salmubench.evaluation.registry import run_metric
from salmubench.evaluation.scoring import position
from salmubench.sequential import metrics as M
from salmubench.sequential.requests import split_requests
from salmubench.sequential.results import SEQ_KEYS

DIM = 8


class HandBank:
    """Embeddings by hand: every image is e0; a caption t is cos(t, e0) = c(t) = a deterministic value
    in [lo, hi] from the caption's crc32, plus an orthogonal part. So cos(image, own caption) = c(t)."""

    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi

    def cos(self, text: str) -> float:
        return self.lo + (self.hi - self.lo) * (zlib.crc32(text.encode()) % 1000) / 999

    def images(self, split) -> np.ndarray:
        out = np.zeros((len(split), DIM), np.float32)
        out[:, 0] = 1
        return out

    def files(self, paths) -> np.ndarray:
        return self.images(list(paths))

    def texts(self, texts) -> np.ndarray:
        out = np.zeros((len(texts), DIM), np.float32)
        for r, t in enumerate(texts):
            c = self.cos(t)
            out[r, 0], out[r, 1 + zlib.crc32(t.encode()) % (DIM - 1)] = c, np.sqrt(1 - c * c)
        return out


def mean_cos(bank: HandBank, texts) -> float:
    return float(np.mean([bank.cos(t) for t in texts]))


@pytest.fixture(scope="module")
def split(tiny_dataset):
    attrs = [tiny_dataset.attribute_of(f) for f in tiny_dataset.forget.file_names]
    return split_requests(tiny_dataset.forget.identity_ids, attrs, 3, "identity", seed=2)


def test_requested_and_pending_values_are_known_answers(tiny_dataset, split):
    ds, texts = tiny_dataset, tiny_dataset.forget.texts
    model, comp, clean = HandBank(0.1, 0.3), HandBank(0.6, 0.9), HandBank(-0.2, 0.0)
    views = M.RowViews(ds, split)
    refs = {"steps": {}}
    for k in (1, 2, 3):
        refs["steps"][str(k)] = {"compromised": M.raw_values(views, k, comp), "clean": M.raw_values(views, k, clean)}
    for k in (1, 2, 3):
        raw = M.raw_values(views, k, model)
        values = M.step_values(raw, refs, k, M.view_sizes(views, k))
        assert set(values) == set(SEQ_KEYS)
        requested = [texts[r] for r in split.requested(k)]
        pending = [texts[r] for r in split.pending(k)]
        a = values["assoc_str"]
        assert a.value == pytest.approx(mean_cos(model, requested), abs=1e-6)
        assert a.clean == pytest.approx(mean_cos(clean, requested), abs=1e-6)  # target: Clean on the same rows
        assert a.compromised == pytest.approx(mean_cos(comp, requested), abs=1e-6)
        assert a.n == len(requested) and a.position == pytest.approx(position(a.value, a.compromised, a.clean))
        p = values["pending_sim"]
        if k < 3:
            assert p.n == len(pending) and p.value == pytest.approx(mean_cos(model, pending), abs=1e-6)
            assert p.compromised == pytest.approx(mean_cos(comp, pending), abs=1e-6)  # target: Compromised
            want = (mean_cos(model, pending) - mean_cos(clean, pending)) / (mean_cos(comp, pending) - mean_cos(clean, pending))
            assert p.position == pytest.approx(want, abs=1e-5)
        else:  # nothing pending after the last request
            assert p.value is None and p.n == 0 and p.position is None
        # the full-split metrics are the evaluator's on the whole dataset, whatever the step
        assert values["inter_id_sim"].value == pytest.approx(mean_cos(model, ds.holdout_identity.texts), abs=1e-6)
        assert values["intra_id_sim"].value == pytest.approx(mean_cos(model, ds.holdout_association.texts), abs=1e-6)


def test_after_the_last_request_the_values_are_the_evaluators(tiny_dataset, split):
    """All forget rows requested: the requested view is the forget split itself (same rows, same order,
    same seeded distractors), so RetFail / AssocStr / CoreAssoc equal the evaluator's full metrics."""
    bank = HandBank(0.1, 0.5)
    views = M.RowViews(tiny_dataset, split)
    raw = M.raw_values(views, 3, bank)
    for key in ("ret_fail", "assoc_str", "core_assoc", "gen_know", "frag_sim"):
        assert raw[key] == run_metric(key, tiny_dataset, bank).value, key
    # an early step: RetFail on the requested rows is the evaluator's function on the view, not on all rows
    early = views.view("requested", 1)
    assert len(early.forget) == len(split.rows[0]) and "holdout_identity" not in early.splits
    assert M.raw_values(views, 1, bank)["ret_fail"] == run_metric("ret_fail", early, bank).value
