"""Our leaderboard score and failure-mode tags (the paper published neither; see docs/leaderboard.md).

The per-metric scores, pillars and harmonic mean are the primitives of
:mod:`salmubench.evaluation.scoring` (also used by tuning, sequential requests and the attacks),
re-exported here. Per-metric scores, each in [0, 1] (1 = on target):

* efficacy metric m (target: the Clean value)::

      e_m = clip(1 - |v_m - clean_m| / max(|comp_m - clean_m|, EPS), 0, 1)

  so the Compromised model scores 0, the Clean model 1, and over-shooting past Clean costs exactly
  as much as stopping short of it by the same distance.
* utility metric m (target: the Compromised value)::

      u_m = clip(1 - |v_m - comp_m| / s_m, 0, 1),  s_m = max(|comp_m - clean_m|, TAU * |comp_m|, EPS)

  the scale is the larger of the reference gap (for the holdout similarities: losing everything the
  Compromised model learned above Clean gives 0) and TAU = 10% of the Compromised value (for
  GenKnow, where the two references nearly agree: a 10% relative drop gives 0).

Pillar scores are the unweighted means E = mean_m e_m and U = mean_m u_m over the five metrics of
each pillar; the combined score is their harmonic mean ``2EU / (E + U)`` (0 when either pillar is
0), which ranks the methods. When the results have no GenKnow (-1: no ImageNet-1K and no zeroshot
split), U is the mean over the four other utility metrics and ``catastrophic`` is unmeasured.

Failure-mode tags (SALMUBENCH.md section 5), thresholds in :class:`Thresholds`:

* ``ineffective``: RetFail closes less than half of the Compromised->Clean gap,
  ``(comp - v) / (comp - clean) < 0.5``;
* ``catastrophic``: GenKnow drops by more than 3% of the Compromised value, and by more than two
  binomial standard errors ``2 * sqrt(p (1 - p) / n)`` of the Compromised estimate when the size
  ``n`` of its test set is known (so sampling noise of a small zero-shot set never tags);
* ``over-generalised``: AssocStr, InterIdSim or IntraIdSim move past the Clean value by more than
  half the reference gap in the forgetting direction, ``(comp - v) / (comp - clean) > 1.5`` (with the
  paper's numbers: below ``clean - 0.5 * (comp - clean)``): forgetting pushed far past the Clean
  model, or spilled onto the holdouts. Direction-aware, so a reversed gap never tags; a degenerate
  gap (``|comp - clean| < 1e-3``: gap progress undefined, ``evaluation.scoring.MIN_GAP``) is
  unmeasured and tags neither this nor ``ineffective``.

Tags describe methods; the two reference rows get none.

On the paper's own 5x numbers (section 5) these rules tag exactly the methods the paper names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from salmubench.evaluation.protocol import METRICS
from salmubench.evaluation.scoring import (  # noqa: F401 - the primitives, re-exported for readers of this module
    EPS,
    TAU,
    efficacy_metric_score,
    gap_progress,
    harmonic,
    metric_scores,
    pillar,
    position,
    utility_metric_score,
    utility_scale,
)

EFFICACY_KEYS = tuple(m.key for m in METRICS if m.pillar == "efficacy")
UTILITY_KEYS = tuple(m.key for m in METRICS if m.pillar == "utility")
UTILITY_KEYS_WITHOUT_GEN_KNOW = tuple(k for k in UTILITY_KEYS if k != "gen_know")  # GenKnow not measured

INEFFECTIVE = "ineffective"
CATASTROPHIC = "catastrophic"
OVER_GENERALISED = "over-generalised"
TAGS = (INEFFECTIVE, CATASTROPHIC, OVER_GENERALISED)


@dataclass(frozen=True)
class Thresholds:
    """Documented failure-mode thresholds (docs/leaderboard.md)."""

    ineffective_progress: float = 0.5  # RetFail gap closed below this -> ineffective
    catastrophic_genknow_drop: float = 0.03  # relative GenKnow drop above this -> catastrophic
    catastrophic_se_mult: float = 2.0  # ... and above this many standard errors (when n is known)
    overgen_margin: float = 0.5  # gap closed above 1 + margin -> over-generalised
    overgen_keys: tuple[str, ...] = ("assoc_str", "inter_id_sim", "intra_id_sim")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Scores:
    """Our scores for one row: per metric, per pillar, combined."""

    efficacy: float
    utility: float
    combined: float
    per_metric: dict[str, float] = field(default_factory=dict)


def score_row(values: Mapping[str, float], comp: Mapping[str, float], clean: Mapping[str, float],
              utility_keys: Sequence[str] = UTILITY_KEYS) -> Scores:
    """Per-metric, pillar and combined scores of one row against the two references (``utility_keys``:
    the utility metrics scored; :data:`UTILITY_KEYS_WITHOUT_GEN_KNOW` when GenKnow was not measured)."""
    per = metric_scores(values, comp, clean, EFFICACY_KEYS, utility_keys)
    eff, util = pillar(per, EFFICACY_KEYS), pillar(per, utility_keys)
    return Scores(efficacy=eff, utility=util, combined=harmonic(eff, util), per_metric=per)


def failure_tags(
    values: Mapping[str, float],
    comp: Mapping[str, float],
    clean: Mapping[str, float],
    thresholds: Thresholds = Thresholds(),
    gen_know_n: int | None = None,
    gen_know_measured: bool = True,
) -> list[str]:
    """The failure modes of one row, in TAGS order (see the module docstring).

    ``gen_know_n``: size of the GenKnow test set (for the standard-error floor), if known.
    ``gen_know_measured``: False when the results have no GenKnow (-1): ``catastrophic`` is then
    unmeasured (:func:`unmeasured_tags`), never tested.
    """
    tags = []
    closed = gap_progress(values["ret_fail"], comp["ret_fail"], clean["ret_fail"]) if "ret_fail" in values else None
    if closed is not None and closed < thresholds.ineffective_progress:
        tags.append(INEFFECTIVE)
    if gen_know_measured and "gen_know" in values and \
            _genknow_collapsed(values["gen_know"], comp["gen_know"], thresholds, gen_know_n):
        tags.append(CATASTROPHIC)
    overgen = [gap_progress(values[k], comp[k], clean[k]) for k in thresholds.overgen_keys if k in values]
    if any(g is not None and g > 1 + thresholds.overgen_margin for g in overgen):
        tags.append(OVER_GENERALISED)
    return tags


def unmeasured_tags(gen_know_measured: bool) -> list[str]:
    """The tags a method row cannot be tested for: ``catastrophic`` without GenKnow."""
    return [] if gen_know_measured else [CATASTROPHIC]


def _genknow_collapsed(value: float, comp: float, t: Thresholds, n: int | None) -> bool:
    drop = comp - value
    if comp <= 0 or drop / comp <= t.catastrophic_genknow_drop:
        return False
    return not n or drop > t.catastrophic_se_mult * math.sqrt(comp * (1 - comp) / n)


def rank(scores: Sequence[float]) -> list[int]:
    """Competition ranks (1 = best; ties share a rank) of scores, higher is better."""
    return [1 + sum(other > s for other in scores) for s in scores]

