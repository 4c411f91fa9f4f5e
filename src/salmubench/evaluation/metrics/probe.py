"""ACS (1.3, efficacy): can a linear probe still tell true forget pairs from shuffled ones?

Rows are first split into folds by *identity* (grouped K-fold: an identity is never on both sides).
Positives: every ``forget`` row ``(img_i, t_i)``. Negatives: the same images paired with the caption
of a row ``p(i)`` of *another identity in the same fold*, drawn uniformly by the metric's generator.
Keeping ``p(i)`` inside the fold matters: a caption then appears as a positive and as a negative only
within its own fold, so the probe cannot score by memorising captions with the opposite label
from other folds (with negatives drawn from the whole split, a random model scored ~0.26, far
*below* chance, on the tiny data). Each pair ``(u, v)`` becomes
``[u * v (elementwise, d values), cos(u, v)]``, standardised; a logistic-regression probe (L2,
``C = ACS_C``, fitted by Newton's method, same objective as sklearn) is trained on the other folds and tested on each fold in turn.

    ACS = (correct out-of-fold predictions) / (2 n)          chance 0.5

Paper: Compromised 0.951, Clean 0.602. [our choice] features, folds, C and the negative rule
(the paper does not publish them; docs/metrics.md).
"""

from __future__ import annotations

import contextlib

import numpy as np

from salmubench.errors import DataError
from salmubench.evaluation.metrics._common import nonempty
from salmubench.evaluation.protocol import ACS_C, ACS_FOLDS
from salmubench.evaluation.registry import MetricContext, MetricOutput, register_metric


def identity_folds(groups: np.ndarray, rng: np.random.Generator, folds: int = ACS_FOLDS) -> np.ndarray:
    """Fold index of every row: identities shuffled by ``rng`` and dealt round-robin to
    ``min(folds, n_identities // 2)`` folds, so every fold holds at least two identities.

    (sklearn's GroupKFold balances rows instead and can leave a fold with a single identity, where
    no other-identity negative exists.)
    """
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    if n_groups < 4:
        raise DataError(f"ACS: needs forget rows of at least 4 identities (have {n_groups})")
    n_folds = min(folds, n_groups // 2)
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    fold_of_group[rng.permutation(n_groups)] = np.arange(n_groups) % n_folds
    return fold_of_group[groups]


def other_identity_partners(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For every row, a uniformly drawn row of *another* group (rows may be drawn several times)."""
    order = np.argsort(groups, kind="stable")
    uniq, start, count = np.unique(groups[order], return_index=True, return_counts=True)
    if len(uniq) < 2:
        raise DataError("ACS: a fold needs forget rows of at least two identities")
    g = np.searchsorted(uniq, groups)
    r = rng.integers(0, len(groups) - count[g])  # rank among the rows outside the own group
    return order[r + (r >= start[g]) * count[g]]


def pair_features(img: np.ndarray, txt: np.ndarray) -> np.ndarray:
    """``[img * txt, cos(img, txt)]`` per row: [n, d + 1] float64."""
    prod = img.astype(np.float64) * txt.astype(np.float64)
    return np.concatenate([prod, prod.sum(axis=1, keepdims=True)], axis=1)


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = ACS_C, iters: int = 50,
                 tol: float = 1e-8) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (sklearn's objective, lbfgs-free).

    Minimises ``C * sum_i log(1 + exp(-s_i (w.x_i + b))) + ||w||^2 / 2`` (``s_i = +-1``; the
    intercept ``b`` is not penalised), the objective of sklearn's ``LogisticRegression(C=C)``.
    Returns ``(w, b)``. Deterministic; no sklearn import (it costs seconds at start-up).
    """
    n, d = x.shape
    xb = np.concatenate([x, np.ones((n, 1))], axis=1)
    theta = np.zeros(d + 1)
    penalty = np.full(d + 1, 1.0 / c)
    penalty[-1] = 0.0
    for _ in range(iters):
        p = 0.5 * (1.0 + np.tanh(0.5 * (xb @ theta)))  # stable sigmoid
        grad = xb.T @ (p - y) + penalty * theta
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < tol:
            break
    return theta[:-1], float(theta[-1])


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale both by the training rows' mean and std (constant columns left unscaled)."""
    mu, sd = train.mean(axis=0), train.std(axis=0)
    sd[sd == 0] = 1.0
    return (train - mu) / sd, (test - mu) / sd


def probe_accuracy(x: np.ndarray, y: np.ndarray, fold_of: np.ndarray, c: float = ACS_C) -> float:
    """Pooled out-of-fold accuracy of a standardised logistic regression (folds given per row)."""
    correct = 0
    with _blas_threads_for(x.shape[0] * x.shape[1] ** 2):
        for fold in np.unique(fold_of):
            test = fold_of == fold
            train_x, test_x = standardise(x[~test], x[test])
            w, b = fit_logistic(train_x, y[~test], c)
            correct += int(((test_x @ w + b > 0).astype(np.int64) == y[test]).sum())
    return correct / len(y)


def _blas_threads_for(flops: float):
    """One BLAS thread for small problems (threads only add spin-waiting there; 10x on a busy
    2-core machine), the library default for large ones. No-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas") if flops < 5e9 else contextlib.nullcontext()


@register_metric("acs")
def acs(ctx: MetricContext) -> MetricOutput:
    """ACS (1.3, efficacy, target Clean): probe accuracy, true vs shuffled forget pairs (see module)."""
    forget = nonempty(ctx.data.forget, "ACS")
    ids = np.asarray([i or f"row{k}" for k, i in enumerate(forget.identity_ids)], dtype=object)
    _, groups = np.unique(ids, return_inverse=True)
    img, txt = ctx.emb.images(forget), ctx.emb.texts(forget.texts)
    fold_of = identity_folds(groups, ctx.rng)
    partner = np.empty(len(forget), dtype=np.int64)
    for fold in range(int(fold_of.max()) + 1):  # negatives drawn inside each fold (module docstring)
        rows = np.flatnonzero(fold_of == fold)
        partner[rows] = rows[other_identity_partners(groups[rows], ctx.rng)]
    x = np.concatenate([pair_features(img, txt), pair_features(img, txt[partner])])
    y = np.concatenate([np.ones(len(forget), dtype=np.int64), np.zeros(len(forget), dtype=np.int64)])
    acc = probe_accuracy(x, y, np.concatenate([fold_of, fold_of]))
    return MetricOutput(value=acc, official={"acs_accuracy": acc},
                        extra={"n_pairs": int(len(y)), "folds": int(fold_of.max()) + 1, "chance": 0.5})
