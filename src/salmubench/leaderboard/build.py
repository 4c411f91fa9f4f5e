"""Build the leaderboard (plain JSON-ready data) from validated result files.

``build_leaderboard(paths)`` = collect -> group over seeds -> mean and 95% CI per metric -> our
scores and failure tags against the Compromised / Clean references -> ranking -> checks of the
paper's qualitative findings. Renderers (render.py, report.py) only format this data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from salmubench.errors import ResultError
from salmubench.evaluation.protocol import METRIC_KEYS, METRICS
from salmubench.leaderboard import agreement, scoring
from salmubench.leaderboard.bootstrap import clustered_bootstrap_ci, seed_bootstrap_ci
from salmubench.leaderboard.collect import HIST_KEY, Group, Loaded, group_results, load_results, per_attribute
from salmubench.leaderboard.robustness import attach_robustness, rank_robust, robustness_findings
from salmubench.version import __version__

LEADERBOARD_SCHEMA = "salmubench.leaderboard/1"
HIST_BINS = 30
HEADLINE_CLAIM = ">99% RetFail reduction with <1% relative GenKnow drop"
UNMEASURED = "unmeasured (GenKnow not measured)"
DISPLAY = {m.key: m.display for m in METRICS}


def build_leaderboard(paths: Iterable[str | os.PathLike], allow_mixed_recipes: bool = False) -> dict:
    """Leaderboard data from every result.json under ``paths`` (see module docstring).

    ``allow_mixed_recipes``: rank rows made with different selection protocols (recipes) together,
    each row labelled with its recipe; otherwise such a mix is a ResultError.
    """
    paths = list(paths)
    data = build_from_loaded(load_results(paths), allow_mixed_recipes=allow_mixed_recipes)
    from salmubench.leaderboard.sequential import build_sequential, load_sequential

    seq = build_sequential(load_sequential(paths), data["rows"], data["protocol"], data["dataset"]["fingerprint"])
    if seq is not None:  # only with sequential runs: the leaderboard is otherwise unchanged
        data["sequential"] = seq
    return data


def build_from_loaded(loaded: Sequence[Loaded], allow_mixed_recipes: bool = False) -> dict:
    """Leaderboard data from already loaded results (references required)."""
    mixed = recipes_of(loaded, allow_mixed_recipes)
    comp, clean, methods = group_results(loaded)
    if mixed:
        for group in methods:
            group.name = f"{group.name} [{recipe_label(group.members[0].result.run.recipe)}]"
    notes: list[str] = []
    rows = [summarise(g, notes) for g in (comp, clean, *methods)]
    ref_c, ref_k = rows[0]["values"], rows[1]["values"]
    measured = gen_know_measured(loaded)  # False: GenKnow -1 somewhere (docs/leaderboard.md, "Unmeasured")
    gk_n = comp.members[0].result.metrics["gen_know"].extra.get("n")
    gk_n = gk_n if isinstance(gk_n, int) and gk_n > 0 and measured else None
    utility_keys = scoring.UTILITY_KEYS if measured else scoring.UTILITY_KEYS_WITHOUT_GEN_KNOW
    for row in rows:
        s = scoring.score_row(row["values"], ref_c, ref_k, utility_keys=utility_keys)
        row["scores"] = {"efficacy": s.efficacy, "utility": s.utility, "combined": s.combined,
                         "per_metric": s.per_metric}
        is_ref = row["role"] in ("compromised", "clean")
        row["tags"] = [] if is_ref else scoring.failure_tags(row["values"], ref_c, ref_k, gen_know_n=gk_n,
                                                             gen_know_measured=measured)
        row["tags_unmeasured"] = [] if is_ref else scoring.unmeasured_tags(measured)
        row["retfail_gap_closed"] = scoring.gap_progress(row["values"]["ret_fail"], ref_c["ret_fail"],
                                                         ref_k["ret_fail"])
    attacks = attach_robustness(rows, [comp, clean, *methods], notes)
    _rank(rows)
    if attacks is not None:
        rank_robust(rows)
    _attach_histograms(rows, [comp, clean, *methods])
    for row, group in zip(rows, (comp, clean, *methods), strict=True):
        row["recipe"] = group.members[0].result.run.recipe
    first = loaded[0].result
    extra = {"attacks": attacks, "attack_findings": robustness_findings(rows, attacks)} if attacks else {}
    return {
        "schema": LEADERBOARD_SCHEMA,
        "salmubench_version": __version__,
        "protocol": first.protocol.model_dump(),
        "dataset": {"fingerprint": first.dataset.fingerprint, "preset": first.dataset.preset,
                    "split_counts": first.dataset.split_counts},
        "gen_know_source": sorted({x.result.gen_know_source for x in loaded}),
        "metrics": [{"key": m.key, "display": m.display, "pillar": m.pillar, "target": m.target}
                    for m in METRICS],
        "thresholds": scoring.Thresholds().as_dict(),
        "score": {"eps": scoring.EPS, "tau": scoring.TAU},
        "gen_know_n": gk_n,
        "gen_know_measured": measured,
        "unmeasured": unmeasured_notes(loaded, measured, attacks),
        "rows": rows,
        "findings": findings(rows, gen_know=measured),
        "recipes": sorted({recipe_label(r["recipe"]) for r in rows[2:]}),
        "mixed_recipes": mixed,
        "agreement": agreement.compare(rows[2:], ref_c, ref_k, gen_know_measured=measured),
        "pareto": pareto_for(rows[2:]),
        "notes": notes,
        "n_files": len(loaded),
        **extra,
    }


def gen_know_measured(loaded: Sequence[Loaded]) -> bool:
    """False when some result has no GenKnow: value -1 (``gen_know_source == "none"``: evaluated
    without an ImageNet-1K folder on data without a zeroshot split, as the released data)."""
    return all(x.result.gen_know_source != "none" and x.result.value("gen_know") >= 0 for x in loaded)


def unmeasured_notes(loaded: Sequence[Loaded], gen_know: bool, attacks: dict | None) -> list[str]:
    """The header's lines on what this board could not measure (empty when everything was measured)."""
    out = []
    if not gen_know:
        n = sum(x.result.gen_know_source == "none" or x.result.value("gen_know") < 0 for x in loaded)
        others = ", ".join(DISPLAY[k] for k in scoring.UTILITY_KEYS_WITHOUT_GEN_KNOW)
        out.append(f"GenKnow not measured: {n} of {len(loaded)} result files have no GenKnow (evaluated without an "
                   f"ImageNet-1K folder on data without a zeroshot split); it is left out of the utility pillar "
                   f"(U = mean of {others}), the catastrophic tag and the headline finding are unmeasured.")
    no_unseen = [x for x in loaded if x.attack is not None and not x.attack.dataset.has_unseen]
    if no_unseen or (attacks and "mia" in attacks.get("unavailable", {})):
        out.append("Membership attack unavailable: the data has no unseen split (the MIA's non-members); "
                   "Robustness is computed without it.")
    return out


def recipe_label(recipe: dict | None) -> str:
    """``structured@1x`` for a recorded recipe, ``none`` for code defaults."""
    return str(recipe.get("name")) if isinstance(recipe, dict) and recipe.get("name") else "none"


def recipe_family(recipe: dict | None) -> str:
    """What must agree across the rows of one leaderboard: the selection protocol and recipe version.

    Rows of one protocol at different budgets (``structured@1x``, ``structured@5x``) are one family:
    the budget is already part of every row's name.
    """
    if not isinstance(recipe, dict) or not recipe.get("name"):
        return "none"
    return f"{recipe.get('selection')} v{recipe.get('version')}"


def recipes_of(loaded: Sequence[Loaded], allow_mixed: bool) -> bool:
    """True when the method rows come from more than one recipe family; a ResultError then, unless
    ``allow_mixed`` (docs/leaderboard.md, "Recipes")."""
    families: dict[str, Loaded] = {}
    for item in loaded:
        if item.role not in ("compromised", "clean"):
            families.setdefault(recipe_family(item.result.run.recipe), item)
    if len(families) <= 1:
        return False
    if not allow_mixed:
        (a, ia), (b, ib) = list(families.items())[:2]
        raise ResultError(f"rows of different recipes: {a} ({ia.path}) and {b} ({ib.path}); rank them together "
                          f"with allow_mixed_recipes=True, which labels every row")
    return True


def pareto_for(rows: list[dict]) -> list[dict]:
    """The tuning Pareto data of the shipped recipes the rows used (salmubench.recipes), one per budget."""
    from salmubench.recipes import pareto_data

    out, seen = [], set()
    for row in rows:
        recipe = row.get("recipe")
        if not isinstance(recipe, dict) or recipe.get("budget") in seen:
            continue
        data = pareto_data(recipe.get("budget"))
        if data is not None:
            seen.add(recipe.get("budget"))
            out.append(data)
    return out


def summarise(group: Group, notes: list[str]) -> dict:
    """Mean, 95% CI and method of the CI for every metric of a group, plus cost and extras."""
    members = sorted(group.members, key=lambda m: (m.seed is None, m.seed))
    values, ci = {}, {}
    for key in METRIC_KEYS:
        per_seed = [m.result.value(key) for m in members]
        values[key] = float(np.mean(per_seed))
        ci[key] = _interval(group, members, key, per_seed, notes)
    r1 = [m.result.metrics["ret_fail"].extra.get("r_at_1") for m in members]
    first = members[0].result
    return {
        "name": group.name, "role": group.role, "key": group.key,
        "method": first.run.method, "budget": first.run.budget,
        "seeds": [m.seed for m in members if m.seed is not None], "n_results": len(members),
        "values": values, "ci": ci,
        "r_at_1": float(np.mean(r1)) if all(isinstance(v, (int, float)) for v in r1) else None,
        "cost": _cost(members),
        "per_attribute": _mean_nested([per_attribute(m.result) for m in members]),
        "files": [str(m.path) for m in members],
    }


def _interval(group: Group, members: list[Loaded], key: str, per_seed: list[float],
              notes: list[str]) -> dict | None:
    rows = [m.rows.get(key) for m in members]
    ids = [m.identities for m in members]
    name = f"{group.key}:{key}"
    if all(r is not None for r in rows) and all(i is not None for i in ids) and _aligned(rows, ids):
        lo, hi = clustered_bootstrap_ci(rows, ids[0], name=name)
        return {"lo": lo, "hi": hi, "method": "identity-bootstrap"}
    ci = seed_bootstrap_ci(per_seed, name=name)
    if ci is None:
        return None
    if key in ("ret_fail", "assoc_str", "core_assoc"):
        notes.append(f"{group.name} {key}: no per-row arrays with identities; seed-level bootstrap used")
    return {"lo": ci[0], "hi": ci[1], "method": "seed-bootstrap"}


def _aligned(rows, ids) -> bool:
    n = len(rows[0])
    return all(len(r) == n for r in rows) and all(len(i) == n and (i == ids[0]).all() for i in ids)


def _cost(members: list[Loaded]) -> dict:
    out = {}
    for fld in ("unlearn_seconds", "train_seconds", "eval_seconds", "fwd_passes", "bwd_passes"):
        vals = [getattr(m.result.cost, fld) for m in members]
        out[fld] = float(np.mean(vals)) if all(v is not None for v in vals) else None
    return out


def _mean_nested(dicts: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for metric in sorted(set().union(*dicts)) if dicts else []:
        attrs = set.intersection(*(set(d.get(metric, {})) for d in dicts))
        out[metric] = {a: float(np.mean([d[metric][a] for d in dicts])) for a in sorted(attrs)}
    return {k: v for k, v in out.items() if v}


def _rank(rows: list[dict]) -> None:
    methods = [r for r in rows if r["role"] not in ("compromised", "clean")]
    ranks = scoring.rank([r["scores"]["combined"] for r in methods])
    for row in rows:
        row["rank"] = None
    for row, rk in zip(methods, ranks, strict=True):
        row["rank"] = rk
    refs, rest = rows[:2], sorted(methods, key=lambda r: (r["rank"], r["name"]))
    rows[:] = refs + rest


def _attach_histograms(rows: list[dict], groups: list[Group]) -> None:
    by_key = {g.key: g for g in groups}
    arrays = {r["key"]: [m.rows[HIST_KEY] for m in by_key[r["key"]].members if HIST_KEY in m.rows]
              for r in rows}
    pooled = [a for arrs in arrays.values() for a in arrs]
    if not pooled:
        for row in rows:
            row["hist"] = None
        return
    allv = np.concatenate(pooled)
    edges = np.linspace(float(allv.min()), float(allv.max()) + 1e-9, HIST_BINS + 1)
    for row in rows:
        arrs = arrays[row["key"]]
        if not arrs:
            row["hist"] = None
            continue
        counts = np.histogram(np.concatenate(arrs), bins=edges)[0]
        row["hist"] = {"edges": [float(e) for e in edges], "density": [float(c) / counts.sum() for c in counts]}


def findings(rows: list[dict], gen_know: bool = True) -> list[dict]:
    """The paper's qualitative findings (SALMUBENCH.md section 5), checked with numbers (``holds`` None:
    unmeasured, when ``gen_know`` is False for the findings that read GenKnow)."""
    comp, clean, methods = rows[0], rows[1], rows[2:]
    ratio = comp["values"]["ret_fail"] / max(clean["values"]["ret_fail"], 1e-12)
    out = [{
        "claim": "Compromised RetFail MRR >= 20x Clean's",
        "holds": ratio >= 20,
        "detail": f"{comp['values']['ret_fail']:.4f} vs {clean['values']['ret_fail']:.4f} (x{ratio:.1f})",
    }]
    for tag in scoring.TAGS:
        hit = [m["name"] for m in methods if tag in m["tags"]]
        if tag == scoring.CATASTROPHIC and not gen_know:
            out.append({"claim": f"at least one method is {tag}", "holds": None, "detail": UNMEASURED})
            continue
        out.append({"claim": f"at least one method is {tag}", "holds": bool(hit),
                    "detail": ", ".join(hit) or "none"})
    clean_ok = [m["name"] for m in methods if not set(m["tags"]) & set(scoring.TAGS)]  # shallow is not a failure mode
    out.append({"claim": "at least one method has none of the three failure tags",
                "holds": bool(clean_ok) if gen_know or not clean_ok else None,
                "detail": (", ".join(clean_ok) or "none") if gen_know or not clean_ok else
                f"{UNMEASURED}; none of the other two: {', '.join(clean_ok)}"})
    out.append(_headline(comp, methods) if gen_know else
               {"claim": HEADLINE_CLAIM, "holds": None, "detail": f"{UNMEASURED}; " + _lowest_retfail(comp, methods)})
    return out


def _lowest_retfail(comp: dict, methods: list[dict]) -> str:
    """RetFail reduction of the method of lowest RetFail (what the headline can say without GenKnow)."""
    best = max(methods, key=lambda m: -m["values"]["ret_fail"], default=None)
    if best is None:
        return "no method"
    red = 1 - best["values"]["ret_fail"] / max(comp["values"]["ret_fail"], 1e-12)
    return f"lowest RetFail {best['name']}: {best['values']['ret_fail']:.4f} ({100 * red:.1f}% reduction)"


def _headline(comp: dict, methods: list[dict]) -> dict:
    """Paper: >99% leakage (RetFail) reduction with <1% GenKnow drop is feasible."""
    gk = comp["values"]["gen_know"]
    hits = []
    for m in methods:
        red = 1 - m["values"]["ret_fail"] / max(comp["values"]["ret_fail"], 1e-12)
        drop = (gk - m["values"]["gen_know"]) / gk if gk > 0 else 0.0
        if red > 0.99 and drop < 0.01:
            hits.append(f"{m['name']} ({100 * red:.1f}% / {100 * drop:+.1f}%)")
    best = max(methods, key=lambda m: -m["values"]["ret_fail"], default=None)
    detail = ", ".join(hits) if hits else (
        "none" if best is None else
        f"none; lowest RetFail {best['name']}: {best['values']['ret_fail']:.4f} "
        f"(GenKnow {best['values']['gen_know']:.4f} vs {gk:.4f})")
    return {"claim": HEADLINE_CLAIM, "holds": bool(hits), "detail": detail}
