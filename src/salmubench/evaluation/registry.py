"""The metric registry: one pure function per protocol metric, registered where it is defined.

A metric is ``fn(ctx: MetricContext) -> MetricOutput``. It reads embeddings through
``ctx.emb`` (an :class:`~salmubench.evaluation.embed.Embeddings`: cached, L2-normalised float32
arrays), dataset metadata through ``ctx.data`` and draws randomness only from ``ctx.rng`` (a
generator derived from ``BASE_SEED`` and the metric key). Given the same embeddings it returns the
same numbers, whatever ran before it (unlike the original evaluator's global numpy RNG).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from salmubench.evaluation.protocol import BASE_SEED, SPECS_BY_KEY
from salmubench.registry import Registry
from salmubench.seeding import derive_seed, rng_for

if TYPE_CHECKING:
    from salmubench.data.dataset import SalmuDataset
    from salmubench.evaluation.embed import Embeddings


@dataclass
class MetricContext:
    """Everything a metric may read: the dataset, its embeddings, its own RNG, options."""

    data: SalmuDataset
    emb: Embeddings
    rng: np.random.Generator
    # the ImageNet-1K val set (GenKnow): a folder (ImageFolder or parquet shards) or an opened
    # evaluation.imagenet.ImageNetImages
    imagenet: Path | Any | None = None


@dataclass
class MetricOutput:
    """What a metric returns.

    Attributes:
        value: the headline number (the protocol's ``official_field``; RetFail: MRR).
        official: the metric's entry in the original evaluator's JSON (per-row arrays included).
        extra: small sub-values stored in ``result.json`` (e.g. R@1, gallery size, fallbacks).
        per_row: per-row arrays aligned with ``rows`` for breakdowns (not written as such).
        rows: the split rows (file names) ``per_row`` refers to.
    """

    value: float
    official: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    per_row: dict[str, np.ndarray] = field(default_factory=dict)
    rows: list[str] = field(default_factory=list)


MetricFn = Callable[[MetricContext], MetricOutput]
METRICS: Registry[MetricFn] = Registry("metric", package="salmubench.evaluation.metrics")  # loaded on first lookup


def register_metric(key: str) -> Callable[[MetricFn], MetricFn]:
    """Decorator registering a metric function under a protocol key (``ret_fail``, ...)."""
    if key not in SPECS_BY_KEY:
        raise ValueError(f"metric {key!r} is not in the protocol ({', '.join(SPECS_BY_KEY)})")
    return METRICS.register(key)


def load_metrics() -> Registry[MetricFn]:
    """The registry with every module of ``salmubench.evaluation.metrics`` imported (their decorators register)."""
    return METRICS.load()


def get_metric(key: str) -> MetricFn:
    """The metric function registered as ``key`` (ConfigError with suggestions otherwise)."""
    return METRICS.get(key)


def metric_seed(key: str) -> int:
    """The seed of a metric's own generator (recorded in result.json)."""
    return derive_seed(BASE_SEED, key)


def metric_rng(key: str) -> np.random.Generator:
    """A fresh generator for metric ``key``: ``rng_for(BASE_SEED, key)``."""
    return rng_for(BASE_SEED, key)


def run_metric(key: str, data: SalmuDataset, emb: Embeddings, imagenet: Path | Any | None = None) -> MetricOutput:
    """Compute one metric with its own fresh seeded generator (``imagenet``: what GenKnow reads, see
    :class:`MetricContext`; the other metrics ignore it)."""
    ctx = MetricContext(data=data, emb=emb, rng=metric_rng(key), imagenet=imagenet)
    return get_metric(key)(ctx)
