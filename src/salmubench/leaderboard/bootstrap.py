"""95% confidence intervals over seeds: identity-clustered bootstrap, or seed-level as fallback.

Identity-clustered bootstrap (our choice; docs/leaderboard.md). For a metric that is a mean over
forget rows (RetFail MRR, AssocStr, CoreAssoc) we have per-row values ``x[s, i]`` for every seed
``s`` and the identity ``c(i)`` of every row. One bootstrap replicate draws the identities with
replacement (rows of one person stay together, because they are not independent) and the seeds
with replacement, and computes::

    stat* = mean_{s in seeds*} ( sum_{i: c(i) in ids*} x[s, i] / #{i: c(i) in ids*} )

(identities drawn k times count k times). The interval is the 2.5 / 97.5 percentiles of B
replicates. It covers both the sampling of people and the variance across seeds.

Metrics with no per-row values (ACS, IdZSC, GenKnow, the utility means) fall back to a seed-level
percentile bootstrap of the per-seed values; with one seed they get no interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from salmubench.seeding import rng_for

N_BOOT = 2000
BOOT_SEED = 0


def clustered_bootstrap_ci(
    rows: Sequence[np.ndarray],
    clusters: Sequence[str] | np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
    name: str = "",
) -> tuple[float, float]:
    """95% CI of the seed-mean of row means, resampling identities and seeds.

    Args:
        rows: one array of per-row values per seed, all of the same length and row order.
        clusters: the identity of every row (same length as each array).
        n_boot: number of bootstrap replicates.
        seed: base seed of the resampling generator (a named stream per ``name``).
        name: stream name (e.g. the row and metric) so different CIs use independent draws.
    """
    x = np.stack([np.asarray(r, dtype=np.float64) for r in rows])  # (S, N)
    _, cluster_idx = np.unique(np.asarray(clusters), return_inverse=True)
    n_clusters = int(cluster_idx.max()) + 1
    sums = np.stack([np.bincount(cluster_idx, weights=r, minlength=n_clusters) for r in x])  # (S, C)
    counts = np.bincount(cluster_idx, minlength=n_clusters).astype(np.float64)  # (C,)
    rng = rng_for(seed, "bootstrap", "clustered", name)
    weights = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_boot)  # (B, C)
    per_seed = (weights @ sums.T) / (weights @ counts)[:, None]  # (B, S)
    n_seeds = x.shape[0]
    pick = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    stats = np.take_along_axis(per_seed, pick, axis=1).mean(axis=1)
    return _percentiles(stats)


def seed_bootstrap_ci(
    values: Sequence[float], n_boot: int = N_BOOT, seed: int = BOOT_SEED, name: str = ""
) -> tuple[float, float] | None:
    """95% percentile-bootstrap CI of the mean over seeds; None with fewer than two seeds."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return None
    rng = rng_for(seed, "bootstrap", "seed", name)
    stats = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    return _percentiles(stats)


def _percentiles(stats: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)
