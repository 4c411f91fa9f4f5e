"""The validation protocol used to tune method defaults (our design; the paper is silent).

Everything here reads the ``forget`` split (plus the retain splits a method may use and the
``zeroshot`` split), **never** ``holdout_association`` or ``holdout_identity``: the reported test
metrics stay untouched by tuning. Definitions (docs/tuning.md):

* **V**: a seeded half of the forget identities (``rng_for(seed, "tuning", "identities")``).
* For every identity in V its forget rows are split into **A** (unlearned during tuning) and **B**
  (kept) *by association type*: the identity's attribute types (``data_field``), in a seeded
  order, alternate A, B, A, ... (the first type goes to A or B alternately across identities, so the
  totals stay near half each). All rows of one association go to the same side, so B holds *other
  associations of partly forgotten people*, like ``holdout_association``. An identity with a
  single attribute type in forget falls back to alternating its rows (seeded order).
* **O** ("other"): forget rows of identities not in V, which stand in for ``holdout_identity``.

Proxy metrics of a model (:func:`proxy_metrics`), computed by the evaluator's own metric functions
(``run_metric``) on views of the dataset whose ``forget`` split is a row subset:

| proxy | definition | target |
|---|---|---|
| ``ret_fail`` | RetFail MRR on V_A (distractors: other V_A captions + ``retain_disjoint``, same rule) | Clean |
| ``assoc_str`` | mean cos(image, own caption) on V_A | Clean |
| ``intra_id_sim`` | mean cos on V_B | Compromised |
| ``inter_id_sim`` | mean cos on O | Compromised |
| ``gen_know`` | zero-shot top-1 on ``tune_imagenet`` (e.g. a slice of the ImageNet *train* set), else on the ``zeroshot`` split | Compromised |
| ``retain_sim`` | mean cos on ``retain_disjoint`` (FragSim's fallback: the view has no fragile set) | Compromised |

The GenKnow proxy never reads the images reported as GenKnow: :func:`gen_know_proxy` refuses a
``tune_imagenet`` that is the evaluation's ``imagenet`` folder (or shares its parquet shards); without
either a zeroshot split or ``tune_imagenet`` the proxy is -1 for every model, left out of the scores,
and the tune records say so.

How the proxies are scored and a trial chosen (the two selection protocols) is
:mod:`salmubench.tuning.selection`; the step-matched budget of the V_A run is
:func:`salmubench.tuning.selection.tuning_budget`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from salmubench.data import schema as S
from salmubench.data.dataset import SalmuDataset
from salmubench.data.views import forget_attributes, load_without_holdouts, with_forget
from salmubench.errors import ConfigError, DataError
from salmubench.seeding import rng_for

VALIDATION_VERSION = 2  # bump when the split rule or a proxy definition changes (invalidates caches)
PROXY_KEYS = ("ret_fail", "assoc_str", "gen_know", "inter_id_sim", "intra_id_sim", "retain_sim")
# which view of the data each proxy is computed on, and the evaluator metric that computes it;
# retain_sim: FragSim on a view without a fragile set = mean cos over all of retain_disjoint
PROXY_VIEWS = {"ret_fail": ("a", "ret_fail"), "assoc_str": ("a", "assoc_str"), "gen_know": ("a", "gen_know"),
               "intra_id_sim": ("b", "assoc_str"), "inter_id_sim": ("other", "assoc_str"),
               "retain_sim": ("a", "frag_sim")}


@dataclass(frozen=True)
class ValidationSplit:
    """Row indices into the ``forget`` split: A (unlearn), B (kept, V identities), other (not in V)."""

    seed: int
    identities: tuple[str, ...]  # V, sorted
    a_rows: tuple[int, ...]
    b_rows: tuple[int, ...]
    other_rows: tuple[int, ...]

    @property
    def digest(self) -> str:
        """sha256 (16 hex) of the split, part of every trial's cache key."""
        blob = json.dumps([VALIDATION_VERSION, self.seed, self.identities, self.a_rows, self.b_rows,
                           self.other_rows]).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def counts(self) -> dict[str, int]:
        return {"v_identities": len(self.identities), "a_rows": len(self.a_rows), "b_rows": len(self.b_rows),
                "other_rows": len(self.other_rows)}


def split_validation(identity_ids: list[str | None], attributes: list[str | None], seed: int = 0,
                     share: float = 0.5) -> ValidationSplit:
    """Draw V and split its rows into A / B by association type (module docstring).

    Args:
        identity_ids: identity of every forget row (rows without one go to ``other``).
        attributes: attribute type of every forget row (None: unknown; such rows form one group).
        seed: tuning seed; the same seed gives the same split.
        share: fraction of the forget identities in V (rounded, at least 1, at most all but 1).
    """
    if len(identity_ids) != len(attributes):
        raise DataError("split_validation: identity_ids and attributes differ in length")
    people = sorted({i for i in identity_ids if i})
    if len(people) < 2:
        raise DataError(f"tuning needs at least 2 forget identities, found {len(people)}")
    n_v = min(len(people) - 1, max(1, round(share * len(people))))
    order = rng_for(seed, "tuning", "identities").permutation(len(people))
    chosen = sorted(people[k] for k in order[:n_v])
    in_v = set(chosen)
    rows_of: dict[str, list[int]] = {}
    for row, ident in enumerate(identity_ids):
        if ident in in_v:
            rows_of.setdefault(ident, []).append(row)
    a_rows: list[int] = []
    b_rows: list[int] = []
    for k, ident in enumerate(chosen):
        first_side = k % 2  # 0: the first association goes to A, 1: to B (balances the totals)
        a, b = _split_identity(rows_of[ident], attributes, rng_for(seed, "tuning", "rows", ident), first_side)
        a_rows += a
        b_rows += b
    other = [r for r, i in enumerate(identity_ids) if i not in in_v]
    return ValidationSplit(seed=seed, identities=tuple(chosen), a_rows=tuple(sorted(a_rows)),
                           b_rows=tuple(sorted(b_rows)), other_rows=tuple(other))


def _split_identity(rows: list[int], attributes: list[str | None], rng: np.random.Generator,
                    first_side: int) -> tuple[list[int], list[int]]:
    """One identity's rows -> (A, B): whole associations alternate; one association -> rows alternate."""
    groups: dict[str, list[int]] = {}
    for r in rows:
        groups.setdefault(attributes[r] or "unknown", []).append(r)
    if len(groups) >= 2:
        keys = sorted(groups)
        units = [groups[keys[k]] for k in rng.permutation(len(keys))]
    else:
        units = [[rows[k]] for k in rng.permutation(len(rows))]
    sides: tuple[list[int], list[int]] = ([], [])
    for k, unit in enumerate(units):
        sides[(k + first_side) % 2].extend(unit)
    return sides


TUNING_SPLITS = (S.FORGET, S.RETAIN_SYNTH, *S.EXTRA_SPLITS)  # never a holdout, never an attack split


def load_tuning_source(spec: str | os.PathLike) -> SalmuDataset:
    """The dataset with only the splits tuning may read (``TUNING_SPLITS``): forget, retain_synth and the
    extra splits ``general_retain`` and ``zeroshot`` (not the MIA non-members ``unseen``).

    ``data.views.load_without_holdouts`` without the attack splits: the holdout shards are not even
    opened (a test replaces them with garbage); with a manifest the fingerprint is the full dataset's.
    """
    return load_without_holdouts(spec, skip_extra=S.ATTACK_SPLITS)


def validation_split(ds: SalmuDataset, seed: int = 0) -> ValidationSplit:
    """:func:`split_validation` of a dataset's forget split."""
    return split_validation(ds.forget.identity_ids, forget_attributes(ds), seed=seed)


@dataclass(frozen=True)
class ValidationViews:
    """The three views the proxies read: ``a`` (V_A), ``b`` (V_B), ``other`` (forget rows outside V)."""

    split: ValidationSplit
    a: SalmuDataset
    b: SalmuDataset
    other: SalmuDataset


def make_views(ds: SalmuDataset, split: ValidationSplit) -> ValidationViews:
    """Build the V_A / V_B / other views of a (holdout-free) dataset."""
    for name, rows in (("V_A", split.a_rows), ("V_B", split.b_rows), ("other", split.other_rows)):
        if not rows:
            raise DataError(f"tuning: the validation slice {name} is empty (too few forget identities?)")
    return ValidationViews(split=split, a=with_forget(ds, split.a_rows, f"tune-a:{split.digest}"),
                           b=with_forget(ds, split.b_rows, f"tune-b:{split.digest}"),
                           other=with_forget(ds, split.other_rows, f"tune-other:{split.digest}"))


def gen_know_proxy(ds: SalmuDataset, tune_imagenet: str | os.PathLike | None = None,
                   imagenet: str | os.PathLike | None = None) -> tuple[object | None, dict]:
    """What the GenKnow proxy reads: ``(opened tune_imagenet or None, record)``.

    ``record`` is ``{"source": "imagenet" | "zeroshot" | "none", ...}`` (with the images' identity, or
    a note when there is nothing to read). ``imagenet`` is the folder the evaluation reports as GenKnow:
    never read here beyond its file list, and a ``tune_imagenet`` reading the same files is refused.
    """
    from salmubench.evaluation.imagenet import open_imagenet, same_images

    if tune_imagenet is None:
        if ds.has_split(S.ZEROSHOT):
            return None, {"source": "zeroshot"}
        return None, {"source": "none", "note": "no zeroshot split and no tune_imagenet: the GenKnow proxy is "
                                                "-1 for every model and left out of the scores"}
    if imagenet is not None and Path(tune_imagenet).resolve() == Path(imagenet).resolve():
        raise ConfigError(f"tune_imagenet {tune_imagenet} is the imagenet folder reported as GenKnow; tune the "
                          f"GenKnow proxy on other images (e.g. a slice of the ImageNet train set)")
    images = open_imagenet(tune_imagenet, what="tune_imagenet")
    if imagenet is not None and same_images(images, open_imagenet(imagenet)):
        raise ConfigError(f"tune_imagenet {tune_imagenet} reads the parquet shards of the imagenet folder "
                          f"{imagenet} reported as GenKnow; tune the GenKnow proxy on other images")
    return images, {"source": "imagenet", "path": str(tune_imagenet), **images.identity()}


def proxy_metrics(views: ValidationViews, emb, imagenet=None) -> dict[str, float]:
    """The five proxy values of one model, from its embeddings ``emb`` (an EmbeddingBank).

    Each proxy calls the evaluator's metric function (``run_metric``, same seeded generator per
    metric key) on the view listed in ``PROXY_VIEWS``; ``imagenet`` (:func:`gen_know_proxy`'s images)
    is what GenKnow reads, else the zeroshot split. GenKnow is -1 when there is neither.
    """
    from salmubench.evaluation.registry import run_metric

    out = {}
    for key in PROXY_KEYS:
        view, metric = PROXY_VIEWS[key]
        data = getattr(views, view)
        if metric == "frag_sim" and data.fragile_ids is not None:
            raise DataError("tuning views must not carry a fragile set (retain_sim reads all of retain_disjoint)")
        out[key] = float(run_metric(metric, data, emb, imagenet).value)
    return out
