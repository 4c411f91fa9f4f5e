"""Agreement with the paper: do our runs put the paper's eight baselines in the paper's failure modes?

One rule on both sides (issue 12; the numbers of SALMUBENCH.md section 5, the paper's 5x table):

* ``position(m) = (v_m - clean_m) / (comp_m - clean_m)`` for RetFail, InterIdSim and IntraIdSim
  (0 = at Clean, 1 = at Compromised; below 0 = past Clean; undefined, so no tag, when the
  references are closer than 1e-3: ``evaluation.scoring.position``);
* ``drop = (comp_GenKnow - v_GenKnow) / comp_GenKnow`` (relative GenKnow drop);
* **ineffective**: RetFail closes less than half the gap, ``1 - position(RetFail) < 0.5``;
* **catastrophic**: ``drop > 0.03``;
* **over-generalised**: InterIdSim or IntraIdSim past Clean by more than half the gap,
  ``position < -0.5`` (i.e. ``1 - position > 1.5``).

A baseline *lands in the paper's mode* when its set of tags equals the paper's set exactly (the
paper's "no failure" is the empty set). This rule differs from the leaderboard's tags
(``scoring.failure_tags``) in two places, on purpose: it has no standard-error floor on GenKnow and
its over-generalisation looks at the holdouts only (not AssocStr), because those are the quantities
the paper's table reports. Generic Captions is not in the paper's table; the paper's text calls it
ineffective, so its paper side has tags but no values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from salmubench.evaluation.scoring import position

INEFFECTIVE, CATASTROPHIC, OVER_GENERALISED = "ineffective", "catastrophic", "over-generalised"
RULE = {"ineffective_progress": 0.5, "catastrophic_relative_drop": 0.03, "overgen_progress": 1.5,
        "overgen_keys": ("inter_id_sim", "intra_id_sim")}
KEYS = ("ret_fail", "gen_know", "inter_id_sim", "intra_id_sim")

# SALMUBENCH.md section 5 (the paper's main table, 5x budget)
PAPER_REFERENCES = {
    "compromised": {"ret_fail": 0.236, "gen_know": 0.638, "inter_id_sim": 0.321, "intra_id_sim": 0.321},
    "clean": {"ret_fail": 0.001, "gen_know": 0.633, "inter_id_sim": 0.143, "intra_id_sim": 0.143},
}


@dataclass(frozen=True)
class Baseline:
    """A baseline of the paper and the salmubench method that implements it."""

    paper_name: str
    method: str
    values: Mapping[str, float] | None  # the paper's row; None when the paper gives no numbers
    paper_tags: tuple[str, ...] | None = None  # only when ``values`` is None: the paper's text


BASELINES: tuple[Baseline, ...] = (
    Baseline("CLIPErase", "cliperase_salmu",
             {"ret_fail": 0.001, "gen_know": 0.634, "inter_id_sim": 0.024, "intra_id_sim": 0.024}),
    Baseline("DELETE", "delete_salmu",
             {"ret_fail": 0.001, "gen_know": 0.632, "inter_id_sim": 0.023, "intra_id_sim": 0.023}),
    Baseline("VLUnlearn (MultiDelete)", "multidelete",
             {"ret_fail": 0.001, "gen_know": 0.638, "inter_id_sim": 0.210, "intra_id_sim": 0.210}),
    Baseline("Finetuning", "finetune",
             {"ret_fail": 0.003, "gen_know": 0.638, "inter_id_sim": 0.209, "intra_id_sim": 0.209}),
    Baseline("Neg. Gradient", "neg_grad",
             {"ret_fail": 0.009, "gen_know": 0.630, "inter_id_sim": 0.063, "intra_id_sim": 0.061}),
    Baseline("Shuffled Captions", "shuffled_captions",
             {"ret_fail": 0.004, "gen_know": 0.548, "inter_id_sim": 0.212, "intra_id_sim": 0.212}),
    Baseline("Direct Sim. Min.", "direct_sim_min",
             {"ret_fail": 0.001, "gen_know": 0.615, "inter_id_sim": -0.420, "intra_id_sim": -0.425}),
    Baseline("Generic Captions", "generic_captions", None, (INEFFECTIVE,)),
)


def profile(values: Mapping[str, float], comp: Mapping[str, float],
            clean: Mapping[str, float], gen_know_measured: bool = True) -> dict[str, float | None]:
    """Positions of RetFail / InterIdSim / IntraIdSim (None where the references' gap is degenerate:
    ``evaluation.scoring.position``) and the relative GenKnow drop of one row (None: not measured)."""
    out = {f"pos_{k}": position(values[k], comp[k], clean[k]) for k in ("ret_fail", "inter_id_sim", "intra_id_sim")}
    gk = comp["gen_know"]
    out["gen_know_drop"] = None if not gen_know_measured else (gk - values["gen_know"]) / gk if gk > 0 else 0.0
    return out


def tags(prof: Mapping[str, float]) -> list[str]:
    """The failure modes of a :func:`profile` under the one rule (module docstring), in a fixed order."""
    out = []
    if prof["pos_ret_fail"] is not None and 1 - prof["pos_ret_fail"] < RULE["ineffective_progress"]:
        out.append(INEFFECTIVE)
    if prof["gen_know_drop"] is not None and prof["gen_know_drop"] > RULE["catastrophic_relative_drop"]:
        out.append(CATASTROPHIC)
    positions = [prof[f"pos_{k}"] for k in RULE["overgen_keys"]]
    if any(p is not None and 1 - p > RULE["overgen_progress"] for p in positions):
        out.append(OVER_GENERALISED)
    return out


def paper_side(baseline: Baseline) -> dict:
    """The paper's profile (None without numbers) and tags of one baseline."""
    if baseline.values is None:
        return {"profile": None, "tags": list(baseline.paper_tags or ())}
    prof = profile(baseline.values, PAPER_REFERENCES["compromised"], PAPER_REFERENCES["clean"])
    return {"profile": prof, "tags": tags(prof)}


def compare(rows: Sequence[Mapping], comp: Mapping[str, float], clean: Mapping[str, float],
            gen_know_measured: bool = True) -> dict:
    """Agreement of leaderboard rows with the paper.

    Args:
        rows: leaderboard rows (``method``, ``name``, ``budget``, ``values``); rows of methods that are
            not paper baselines are ignored.
        comp / clean: the reference values of the same run.
        gen_know_measured: False when the run has no GenKnow: our GenKnow drop is None and
            ``catastrophic`` is left out of the comparison on both sides (``unmeasured`` in each entry).

    Returns:
        ``{"rule", "baselines": [...], "count": {budget: {"agree", "of"}}}``: one entry per baseline row
        with our profile and tags, the paper's, and whether the tag sets match.
    """
    by_method = {b.method: b for b in BASELINES}
    entries = []
    for row in rows:
        baseline = by_method.get(row.get("method") or "")
        if baseline is None:
            continue
        ours = profile(row["values"], comp, clean, gen_know_measured)
        our_tags, paper = tags(ours), paper_side(baseline)
        compared = [t for t in paper["tags"] if gen_know_measured or t != CATASTROPHIC]
        entry = {"paper_name": baseline.paper_name, "method": baseline.method, "row": row["name"],
                 "budget": row.get("budget"), "ours": {"profile": ours, "tags": our_tags},
                 "paper": paper, "agree": sorted(our_tags) == sorted(compared)}
        entries.append(entry if gen_know_measured else {**entry, "unmeasured": [CATASTROPHIC]})
    count: dict[str, dict[str, int]] = {}
    for e in entries:
        c = count.setdefault(f"{e['budget']:g}x" if e["budget"] is not None else "-", {"agree": 0, "of": 0})
        c["of"] += 1
        c["agree"] += int(e["agree"])
    order = {b.method: k for k, b in enumerate(BASELINES)}
    entries.sort(key=lambda e: (e["budget"] or 0, order[e["method"]]))
    return {"rule": {k: list(v) if isinstance(v, tuple) else v for k, v in RULE.items()},
            "baselines": entries, "count": count}
