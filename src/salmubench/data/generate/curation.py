"""Measured curation checks (our stand-in for the original's CLIP/FairFace consistency checks).

* **Identity consistency**: every rendered portrait is compared with a reference centroid of every
  identity on tiny colour thumbnails (12x12 RGB of the upper centre, mean-centred, L2-normalised;
  cosine similarity). An image passes when its own identity's centroid is among its nearest
  ``max(1, round(1% of the identities))`` centroids (the nearest one below 150 identities: at
  774 identities 8x8-12x12 thumbnails cannot single out one face, measured). Failures are re-rendered
  with a new variation, and dropped after ``max_render_attempts``.
* **Verbatim captions**: the name and the value occur verbatim in every caption.
* **PII uniqueness**: identifier fields are globally unique (checked again on the final records).

Every count goes into ``manifest.json`` under ``curation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from salmubench.data.generate.faces import (
    THUMB,
    decode_traits,
    render_portrait,
    sample_variation,
    thumbnail_vector,
    trait_distances,
)
from salmubench.data.generate.personas import UNIQUE_FIELDS
from salmubench.seeding import rng_for

REF_VARIATIONS = 16  # renders averaged into each identity's reference centroid
REF_SIZE = 32


def reference_centroids(codes: np.ndarray, seed: int, aspect_ratios: tuple[float, ...]) -> np.ndarray:
    """[n, 3*12*12] unit-norm mean thumbnail of ``REF_VARIATIONS`` random renders of each identity."""
    refs = np.zeros((len(codes), 3 * THUMB * THUMB), dtype=np.float32)
    for i, code in enumerate(codes):
        traits = decode_traits(code)
        rng = rng_for(seed, "reference", i)
        vecs = [thumbnail_vector(render_portrait(traits, sample_variation(rng, aspect_ratios), REF_SIZE))
                for _ in range(REF_VARIATIONS)]
        mean = np.mean(vecs, axis=0)
        refs[i] = mean / (np.linalg.norm(mean) + 1e-6)
    return refs


def identity_check(vec: np.ndarray, index: int, refs: np.ndarray) -> tuple[bool, float, float]:
    """(passes, cos to own centroid, mean cos to the other centroids) of one thumbnail vector.

    Passes when fewer than ``allowed_rank(len(refs))`` other centroids are more similar than its own.
    """
    sims = refs @ vec
    own = float(sims[index])
    others = np.delete(sims, index)
    if others.size == 0:
        return True, own, 0.0
    return bool((others > own).sum() < allowed_rank(len(refs))), own, float(others.mean())


def allowed_rank(n_identities: int) -> int:
    """How many identity centroids may be nearer than the own one plus one: max(1, round(n/100))."""
    return max(1, round(n_identities / 100))


@dataclass
class CurationStats:
    """Counters accumulated over the whole generation (merged from workers)."""

    images_checked: int = 0
    images_regenerated: int = 0  # re-renders after a failed identity check
    images_dropped: int = 0
    captions_checked: int = 0
    captions_not_verbatim: int = 0  # such images are dropped
    intra_sum: float = 0.0
    inter_sum: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: CurationStats) -> None:
        """Add ``other``'s counters to this one."""
        for name in ("images_checked", "images_regenerated", "images_dropped", "captions_checked",
                     "captions_not_verbatim", "intra_sum", "inter_sum"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def counters(self) -> dict[str, Any]:
        """The counters as a JSON-able dict (``CurationStats(**d)`` restores them)."""
        return {k: v for k, v in self.__dict__.items() if k != "extra"}

    def summary(self) -> dict[str, Any]:
        """The manifest's view of the counters."""
        n = max(1, self.images_checked)
        return {
            "identity_consistency": {
                "feature": "12x12 RGB thumbnail of the upper centre square, mean-centred, cosine",
                "rule": "own identity centroid among the nearest max(1, round(n_identities/100)) centroids",
                "images_checked": self.images_checked,
                "images_regenerated": self.images_regenerated,
                "images_dropped": self.images_dropped,
                "mean_sim_own_identity": round(self.intra_sum / n, 4),
                "mean_sim_other_identities": round(self.inter_sum / n, 4),
            },
            "captions": {"checked": self.captions_checked, "not_verbatim_dropped": self.captions_not_verbatim},
            **self.extra,
        }


def trait_summary(codes: np.ndarray, k: int, k_coarse: int) -> dict[str, Any]:
    """Measured minimum pairwise trait distances versus the required ones."""
    d_all, d_coarse = trait_distances(codes)
    return {"required_min_traits": k, "required_min_coarse_traits": k_coarse,
            "measured_min_traits": d_all, "measured_min_coarse_traits": d_coarse}


def pii_duplicates(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Number of duplicated values per identifier field over ``records`` (all zero when unique)."""
    out = {}
    for name in UNIQUE_FIELDS:
        values = []
        for rec in records:
            v = rec.get(name)
            values.extend(v if isinstance(v, list) else [v])
        out[name] = len(values) - len(set(values))
    return out
