"""ACS (1.3, efficacy): can a linear probe still tell true forget pairs from shuffled ones?

Positives: every ``forget`` row ``(img_i, t_i)``. Negatives: the same images paired with the
caption of a row ``pi(i)`` of *another identity*, ``pi`` a permutation from the metric's generator.
Each pair ``(u, v)`` becomes the feature vector ``[u * v (elementwise, d values), cos(u, v)]``,
standardised; a logistic-regression probe (L2, ``C = ACS_C``) is trained and tested with
``GroupKFold`` over *identities* (an identity's positives and negatives are never split across
train and test, so the probe cannot succeed by recognising people it saw in training).

    ACS = (correct out-of-fold predictions) / (2 n)          chance 0.5

Paper: Compromised 0.951, Clean 0.602. [our choice] features, folds, C and the negative rule
(the paper does not publish them; docs/metrics.md).
"""

from __future__ import annotations

import numpy as np

from salmubench.errors import DataError
from salmubench.evaluation.metrics._common import nonempty
from salmubench.evaluation.protocol import ACS_C, ACS_FOLDS
from salmubench.evaluation.registry import MetricContext, MetricOutput, register_metric

_MAX_REDRAWS = 100


def other_identity_permutation(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation ``pi`` with ``groups[pi[i]] != groups[i]`` for every row (redrawing clashes).

    Raises DataError when fewer than two groups exist.
    """
    n = len(groups)
    if len(np.unique(groups)) < 2:
        raise DataError("ACS: needs forget rows of at least two identities")
    perm = rng.permutation(n)
    for _ in range(_MAX_REDRAWS):
        bad = np.flatnonzero(groups[perm] == groups)
        if bad.size == 0:
            return perm
        # swap each clashing row's partner with a random row's partner when that fixes both
        for i in bad:
            j = int(rng.integers(n))
            if groups[perm[j]] != groups[i] and groups[perm[i]] != groups[j]:
                perm[i], perm[j] = perm[j], perm[i]
    if np.any(groups[perm] == groups):
        raise DataError("ACS: cannot pair every forget image with another identity's caption")
    return perm


def pair_features(img: np.ndarray, txt: np.ndarray) -> np.ndarray:
    """``[img * txt, cos(img, txt)]`` per row: [n, d + 1] float64."""
    prod = img.astype(np.float64) * txt.astype(np.float64)
    return np.concatenate([prod, prod.sum(axis=1, keepdims=True)], axis=1)


def probe_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = ACS_FOLDS,
                   c: float = ACS_C) -> float:
    """Pooled out-of-fold accuracy of a standardised logistic regression under GroupKFold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_splits = min(folds, len(np.unique(groups)))
    correct = 0
    for train, test in GroupKFold(n_splits=n_splits).split(x, y, groups):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
        clf.fit(x[train], y[train])
        correct += int((clf.predict(x[test]) == y[test]).sum())
    return correct / len(y)


@register_metric("acs")
def acs(ctx: MetricContext) -> MetricOutput:
    """ACS (1.3, efficacy, target Clean): probe accuracy, true vs shuffled forget pairs (see module)."""
    forget = nonempty(ctx.data.forget, "ACS")
    ids = np.asarray([i or f"row{k}" for k, i in enumerate(forget.identity_ids)], dtype=object)
    _, groups = np.unique(ids, return_inverse=True)
    img, txt = ctx.emb.images(forget), ctx.emb.texts(forget.texts)
    perm = other_identity_permutation(groups, ctx.rng)
    x = np.concatenate([pair_features(img, txt), pair_features(img, txt[perm])])
    y = np.concatenate([np.ones(len(forget), dtype=np.int64), np.zeros(len(forget), dtype=np.int64)])
    acc = probe_accuracy(x, y, np.concatenate([groups, groups]))
    n_splits = min(ACS_FOLDS, int(groups.max()) + 1)
    return MetricOutput(value=acc, official={"acs_accuracy": acc},
                        extra={"n_pairs": int(len(y)), "folds": n_splits, "chance": 0.5})
