"""The Pareto data of a tuning search (``pareto@<budget>x.json``, written beside the recipes; docs/tuning.md):
every trial's (efficacy, utility) proxy scores under each selection protocol and the non-dominated ones.

Moved out of ``search.py`` (which re-exports both names) to keep that module under the size limit.
"""

from __future__ import annotations

from typing import Any

from salmubench.tuning.selection import SELECTIONS, score_proxies


def pareto_data(records: dict[str, dict[str, Any]], setup: Any) -> dict[str, Any]:
    """Per method: every trial's (efficacy, utility) proxy scores under each protocol, the
    non-dominated trials under each, and each protocol's chosen trial (docs/tuning.md)."""
    methods = {}
    for method, record in sorted(records.items()):
        trials = record["trials"]
        entry: dict[str, Any] = {"overrides": [t["overrides"] for t in trials], "selections": {}}
        for sel in SELECTIONS:
            points = [[float(t["scores_by_selection"][sel].get("efficacy", 0.0)),
                       float(t["scores_by_selection"][sel].get("utility", 0.0))] for t in trials]
            entry["selections"][sel] = {"points": points, "front": pareto_front(points),
                                        "chosen": record["chosen_by_selection"][sel]["index"]}
        methods[method] = entry
    return {"schema": "salmubench.pareto/1", "budget": setup.budget, "seed": setup.seed,
            "axes": {"x": "utility score of the protocol's utility proxies", "y": "efficacy score"},
            "references": {"compromised": {"efficacy": 0.0, "utility": 1.0},
                           "clean": {sel: score_proxies(setup.references["clean"], setup.references["compromised"],
                                                        setup.references["clean"], sel) for sel in SELECTIONS}},
            "methods": methods}


def pareto_front(points: list[list[float]]) -> list[int]:
    """Indices of the points not dominated by another (efficacy >= and utility >=, one strictly)."""
    front = []
    for i, (e, u) in enumerate(points):
        dominated = any(e2 >= e and u2 >= u and (e2 > e or u2 > u) for j, (e2, u2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front

