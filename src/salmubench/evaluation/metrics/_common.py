"""Shared helpers of the metric modules (row-wise cosine scores, means with clear errors)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from salmubench.data.tables import SplitTable
from salmubench.errors import DataError


def rowwise_cos(img: np.ndarray, txt: np.ndarray) -> np.ndarray:
    """``cos(img_i, txt_i)`` for L2-normalised rows: the row-wise dot product, float64."""
    return np.einsum("nd,nd->n", img.astype(np.float64), txt.astype(np.float64))


def pair_scores(emb, split: SplitTable, texts: Sequence[str] | None = None) -> np.ndarray:
    """cos(image, caption) of every row of ``split`` (its own ``text`` unless ``texts`` is given)."""
    captions = split.texts if texts is None else list(texts)
    return rowwise_cos(emb.images(split), emb.texts(captions))


def nonempty(split: SplitTable, metric: str) -> SplitTable:
    """``split`` itself, or a DataError naming the metric when it has no rows."""
    if len(split) == 0:
        raise DataError(f"{metric}: split {split.name!r} is empty")
    return split


def mean(values: np.ndarray) -> float:
    """Mean as a plain float (float64 accumulation)."""
    return float(np.mean(np.asarray(values, dtype=np.float64)))
