"""How tuning trials are scored and chosen: the two selection protocols (docs/tuning.md).

Both protocols score the same proxy values (``tuning.validation.proxy_metrics``) with the
leaderboard's scoring primitives (``evaluation.scoring``): efficacy proxies by closeness to Clean,
utility proxies by closeness to Compromised, combined by the harmonic mean.
``structured`` (:data:`SELECTIONS`) uses the holdout stand-ins (``inter_id_sim``, ``intra_id_sim``);
``forget-retain`` models a benchmark without holdouts (utility from ``gen_know`` and ``retain_sim``
only).

The tuning run unlearns V_A with the usual retain data and the budget rescaled so that it makes
exactly as many optimiser steps as the real run on the whole forget set (:func:`tuning_budget`).
"""

from __future__ import annotations

import math

from salmubench.errors import ConfigError, DataError
from salmubench.evaluation.scoring import harmonic, metric_scores, pillar

EFFICACY_PROXIES = ("ret_fail", "assoc_str")
UTILITY_PROXIES = ("gen_know", "inter_id_sim", "intra_id_sim")
# selection protocols (docs/tuning.md, "Two selection protocols"): (efficacy proxies, utility proxies)
SELECTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "structured": (EFFICACY_PROXIES, UTILITY_PROXIES),
    "forget-retain": (EFFICACY_PROXIES, ("gen_know", "retain_sim")),
}
DEFAULT_SELECTION = "structured"


def tuning_budget(budget: float, n_forget: int, n_tune: int, forget_batch_size: int) -> float:
    """Budget for the V_A run so it makes as many optimiser steps as ``budget`` on the full forget set.

    ``budget_tune = steps(budget, |forget|) / ceil(|V_A| / B)``, i.e. ``budget · |forget| / |V_A|``
    up to the batch rounding, chosen so that ``Budget(budget_tune).steps(|V_A|, B)`` equals
    ``Budget(budget).steps(|forget|, B)`` exactly.
    """
    from salmubench.unlearning.base import Budget  # imports torch: only when a budget is rescaled

    if n_tune <= 0:
        raise DataError("tuning: the unlearning slice V_A is empty")
    steps = Budget(budget).steps(n_forget, forget_batch_size)
    return steps / max(1, math.ceil(n_tune / forget_batch_size))


def check_selection(selection: str) -> str:
    """``selection`` if it is a protocol of :data:`SELECTIONS`; else a one-line ConfigError."""
    if selection not in SELECTIONS:
        raise ConfigError(f"unknown selection protocol {selection!r}; available: {', '.join(SELECTIONS)}")
    return selection


def score_proxies(values: dict[str, float], comp: dict[str, float], clean: dict[str, float],
                  selection: str = DEFAULT_SELECTION) -> dict[str, float]:
    """Proxy values scored under one selection protocol, with the leaderboard's primitives
    (``evaluation.scoring``).

    ``E = mean(e_k)`` over the protocol's efficacy proxies (closeness to Clean), ``U = mean(u_k)``
    over its utility proxies (closeness to Compromised), ``score = 2EU / (E + U)``. structured:
    ``U = mean(u_gen_know, u_inter, u_intra)``; forget-retain: ``U = mean(u_gen_know, u_retain_sim)``.
    A proxy whose value is -1 for both references (no zeroshot split) is left out of its pillar.
    """
    efficacy_keys, utility_keys = SELECTIONS[check_selection(selection)]
    utility_keys = [k for k in utility_keys if not (comp[k] == -1 and clean[k] == -1)]  # usable ones
    per = metric_scores(values, comp, clean, efficacy_keys, utility_keys)
    eff, util = pillar(per, efficacy_keys), pillar(per, utility_keys)
    return {"efficacy": eff, "utility": util, "score": harmonic(eff, util),
            **{f"s_{k}": v for k, v in per.items()}}


def meets_effectiveness_target(values: dict[str, float], comp: dict[str, float],
                               clean: dict[str, float]) -> dict[str, bool]:
    """The effectiveness target of the method defaults (docs/tuning.md), checked on proxy values
    (informative; not used to choose).

    RetFail within 10% of the Compromised->Clean gap from Clean; GenKnow within 1 point (0.01) of
    Compromised; InterIdSim and IntraIdSim within 25% of the Compromised values.
    """
    gap = abs(comp["ret_fail"] - clean["ret_fail"])
    tol = 1e-9  # the bounds are inclusive: 246/600 vs 252/600 is exactly 1 point, not 1.0000000000000009
    checks = {"ret_fail": values["ret_fail"] <= clean["ret_fail"] + 0.1 * gap + tol,
              "gen_know": abs(values["gen_know"] - comp["gen_know"]) <= 0.01 + tol,
              "inter_id_sim": abs(values["inter_id_sim"] - comp["inter_id_sim"]) <= 0.25 * abs(comp["inter_id_sim"]),
              "intra_id_sim": abs(values["intra_id_sim"] - comp["intra_id_sim"]) <= 0.25 * abs(comp["intra_id_sim"])}
    return {**checks, "all": all(checks.values())}
