"""RetFail (1.1, primary efficacy metric): retrieval of each forget image's own caption.

For every ``forget`` row ``i`` the gallery is its own caption ``t_i`` plus ``K_f = 1,000`` captions
of other ``forget`` rows plus ``K_r = 1,000`` captions of ``retain_disjoint`` rows, drawn without
replacement, per row, from the metric's own generator (2,001 captions). With ``s_j = cos(img_i, g_j)``:

    rank_i = 1 + #{j : s_j > s_own + eps} + 0.5 * #{j : |s_j - s_own| <= eps}      (mean rank)
    RR_i   = 1 / rank_i ;  MRR = mean_i RR_i ;  R@1 = mean_i [no distractor reaches s_own - eps]

[our choices, docs/metrics.md]
* Ties (``eps = SCORE_TIE_EPS``) take the mean rank, so a collapsed model whose scores all tie
  gets ``MRR = 2 / (G + 1)``, not 1; a tie at the top is not an R@1 hit.
* Multi-caption: forget rows whose caption *string* equals ``t_i`` (another image of the same
  association with the same wording) are not distractors; they share the positive text.
* Small splits: when fewer than 1,000 eligible rows exist, all of them are used; the per-row
  gallery sizes (min / mean / max) are recorded in ``extra``.
* ``outcomes`` in the official JSON are the per-row reciprocal ranks ``RR_i`` (their mean is MRR;
  ``RR_i == 1`` exactly when row ``i`` is an R@1 hit).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from salmubench.evaluation.metrics._common import nonempty
from salmubench.evaluation.protocol import (
    RETFAIL_FORGET_DISTRACTORS,
    RETFAIL_RETAIN_DISTRACTORS,
    SCORE_TIE_EPS,
)
from salmubench.evaluation.registry import MetricContext, MetricOutput, register_metric

_CHUNK_FLOATS = 1 << 23  # score-matrix chunk size (32 MiB of float32)


def iter_distractors(codes: np.ndarray, n_retain: int, rng: np.random.Generator, chunk: int,
                     k_forget: int = RETFAIL_FORGET_DISTRACTORS, k_retain: int = RETFAIL_RETAIN_DISTRACTORS
                     ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """The per-row distractor draws of :func:`sample_distractors`, ``chunk`` rows at a time:
    ``(first row, forget_rows, forget_valid, retain_rows)``.

    Rows are drawn in row order from ``rng`` whatever ``chunk`` is (the same draws), so the index arrays
    of all rows (``n x 2,000`` integers: 0.5 GB for the paper's 30k forget rows) are never held at once.
    """
    n = len(codes)
    dup = np.bincount(codes)[codes]  # rows sharing each row's caption, itself included
    kf = int(min(k_forget, max(int((n - dup).max(initial=0)), 0)))
    kr = int(min(k_retain, n_retain))
    for start in range(0, n, max(1, chunk)):
        stop = min(n, start + max(1, chunk))
        f_rows = np.zeros((stop - start, kf), dtype=np.int64)
        f_valid = np.zeros((stop - start, kf), dtype=bool)
        r_rows = np.zeros((stop - start, kr), dtype=np.int64)
        for k, i in enumerate(range(start, stop)):
            want = min(kf, n - dup[i])
            # draw `want + dup` distinct rows: at most `dup` of them share the caption, so >= want remain
            draw = rng.choice(n, size=min(n, want + dup[i]), replace=False)
            draw = draw[codes[draw] != codes[i]][:want]
            f_rows[k, :want] = draw
            f_valid[k, :want] = True
            if kr:
                r_rows[k] = rng.choice(n_retain, size=kr, replace=False)
        yield start, f_rows, f_valid, r_rows


def sample_distractors(codes: np.ndarray, n_retain: int, rng: np.random.Generator,
                       k_forget: int = RETFAIL_FORGET_DISTRACTORS,
                       k_retain: int = RETFAIL_RETAIN_DISTRACTORS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row distractor draws.

    Args:
        codes: caption-string id of every forget row (rows with equal captions share an id).
        n_retain: number of retain_disjoint rows.
        rng: the metric's generator; rows are drawn in row order (forget draw, then retain draw).

    Returns:
        ``(forget_rows [n, Kf], forget_valid [n, Kf], retain_rows [n, Kr])``: padded forget-row
        indices with a validity mask (rows with fewer eligible distractors), and retain rows.
    """
    parts = list(iter_distractors(codes, n_retain, rng, max(1, len(codes)), k_forget, k_retain))
    if not parts:
        kr = int(min(k_retain, n_retain))
        return np.zeros((0, 0), np.int64), np.zeros((0, 0), bool), np.zeros((0, kr), np.int64)
    _, f_rows, f_valid, r_rows = parts[0]
    return f_rows, f_valid, r_rows


def score_chunk_rows(pool_size: int) -> int:
    """Rows of one score-matrix block of :func:`gallery_ranks` (32 MiB of float32 scores)."""
    return max(1, _CHUNK_FLOATS // max(pool_size, 1))


def gallery_ranks(img: np.ndarray, own_col: np.ndarray, pool: np.ndarray, f_cols: np.ndarray,
                  f_valid: np.ndarray, r_cols: np.ndarray, eps: float = SCORE_TIE_EPS) -> np.ndarray:
    """Mean rank of each row's own caption among its gallery (see the module docstring).

    Args:
        img: [n, d] image embeddings.
        own_col: [n] column of each row's own caption in ``pool``.
        pool: [m, d] caption embeddings (unique forget captions, then retain_disjoint captions).
        f_cols / f_valid: [n, Kf] forget-distractor columns and their validity mask.
        r_cols: [n, Kr] retain-distractor columns.
    """
    n, m = img.shape[0], pool.shape[0]
    ranks = np.empty(n, dtype=np.float64)
    step = score_chunk_rows(m)
    cols = np.concatenate([f_cols, r_cols], axis=1)
    valid = np.concatenate([f_valid, np.ones(r_cols.shape, dtype=bool)], axis=1)
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        scores = img[sl] @ pool.T  # one matmul: own and distractor scores share one code path
        own = np.take_along_axis(scores, own_col[sl, None], axis=1)
        dis = np.take_along_axis(scores, cols[sl], axis=1)
        greater = ((dis > own + eps) & valid[sl]).sum(axis=1)
        ties = ((np.abs(dis - own) <= eps) & valid[sl]).sum(axis=1)
        ranks[sl] = 1.0 + greater + 0.5 * ties
    return ranks


@register_metric("ret_fail")
def ret_fail(ctx: MetricContext) -> MetricOutput:
    """RetFail (1.1, efficacy, target Clean): MRR of the own caption in a 2,001-caption gallery.

    Split: ``forget`` (queries, forget distractors) and ``retain_disjoint`` (retain distractors).
    Paper: Compromised MRR 0.2361 / R@1 0.1016; Clean MRR 0.00081 / R@1 0.0. A random model gives
    ``E[MRR] = H_G / G`` (``G`` the gallery size, ``H`` the harmonic number) and ``E[R@1] = 1 / G``.
    """
    forget = nonempty(ctx.data.forget, "RetFail")
    retain = ctx.data.retain_disjoint
    uniq, codes = np.unique(np.asarray(forget.texts, dtype=object), return_inverse=True)
    codes = codes.astype(np.int64)
    pool = np.concatenate([ctx.emb.texts(list(uniq)), ctx.emb.texts(retain.texts)]) if len(retain) \
        else ctx.emb.texts(list(uniq))
    img = ctx.emb.images(forget)
    ranks = np.empty(len(forget), dtype=np.float64)
    gallery = np.empty(len(forget), dtype=np.int64)
    # one score block's rows at a time: the same matrix products as one gallery_ranks call on all rows
    # (its blocks), without all rows' distractor indices in memory
    for start, f_rows, f_valid, r_rows in iter_distractors(codes, len(retain), ctx.rng, score_chunk_rows(len(pool))):
        sl = slice(start, start + len(f_rows))
        ranks[sl] = gallery_ranks(img[sl], codes[sl], pool, codes[f_rows], f_valid, len(uniq) + r_rows)
        gallery[sl] = 1 + f_valid.sum(axis=1) + r_rows.shape[1]
    rr = 1.0 / ranks
    hit = (ranks == 1.0).astype(np.float64)
    extra = {"r_at_1": float(hit.mean()), "n": len(forget),
             "gallery_size": {"min": int(gallery.min()), "mean": float(gallery.mean()), "max": int(gallery.max())},
             "ties": "mean rank"}
    official = {"R@1": float(hit.mean()), "MRR": float(rr.mean()), "outcomes": rr.tolist()}
    return MetricOutput(value=float(rr.mean()), official=official, extra=extra,
                        per_row={"rr": rr, "hit": hit}, rows=forget.file_names)


__all__ = ["gallery_ranks", "iter_distractors", "ret_fail", "sample_distractors", "score_chunk_rows"]
