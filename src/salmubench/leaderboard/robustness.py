"""The Robustness pillar, the ``shallow`` tag and the robustness-aware ranking (docs/leaderboard.md).

Read from the ``attack.json`` files next to the results (docs/attacks.md). Per row (mean of the raw
attacked values over its seeds), against the two reference rows *under the same attacks*:

* every value's position ``(x - x_clean) / (x_comp - x_clean)`` before and after the attack, and the
  ``recovery = position_after - position_before``; per attack the headline (worst case among its
  headline keys; the MIA AUC's position is the ``leak``): ``salmubench.attacks.scoring``;
* **Robustness** ``R = clip(1 - mean(headline positions of the recovery attacks, MIA leak), 0, 1)``
  (attacks not available on the data are left out): 1 for the Clean reference, 0 for Compromised;
* tag **shallow**: a method that is not ``ineffective`` (it looks forgotten) while some attack puts it
  at position >= 0.5 (a recovery attack's position after the attack, or the MIA leak);
* the **robust score** ``3 / (1/E + 1/U + 1/R)``, the harmonic mean of the three pillars (0 when any
  is 0), ranks the methods in a second column; the score and its ranking keep their definition.

Pure Python (no torch). Rows without attack files get ``None`` and a note.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from salmubench.attacks.scoring import (
    SHALLOW_POSITION,
    attack_headline,
    is_shallow,
    ordered,
    place,
    summarise,
)
from salmubench.evaluation.scoring import MIN_GAP
from salmubench.leaderboard import scoring
from salmubench.leaderboard.collect import Group

SHALLOW = "shallow"


def harmonic3(e: float, u: float, r: float) -> float:
    """Harmonic mean of three scores in [0, 1]; 0 if any is 0."""
    return 0.0 if min(e, u, r) <= 0 else 3.0 / (1.0 / e + 1.0 / u + 1.0 / r)


def attach_robustness(rows: list[dict], groups: Sequence[Group], notes: list[str]) -> dict | None:
    """Fill ``row["attacks"]``, ``row["robustness"]``, ``row["scores"]["robust"]`` and the shallow tag.

    ``rows`` and ``groups`` are aligned (references first). Returns the leaderboard's ``attacks``
    block (suite, seed, the attacks and their kinds), or None when no row has attack files (the
    leaderboard is then exactly as without attacks).
    """
    files = [[m.attack for m in g.members] for g in groups]
    if not any(a is not None for fs in files for a in fs):
        return None
    first = next(a for fs in files for a in fs if a is not None)
    specs = {n: (e.kind, e.headline_keys) for fs in files for a in fs if a is not None for n, e in a.attacks.items()}
    reasons = {n: e.reason for fs in files for a in fs if a is not None for n, e in a.attacks.items() if not e.available}
    raws = [_mean_raw(fs, g.name, notes) for fs, g in zip(files, groups, strict=True)]
    comp, clean = raws[0], raws[1]
    if comp is None or clean is None:
        notes.append("recovery attacks: a reference has no attack.json; no positions, no Robustness pillar")
    for row, raw in zip(rows, raws, strict=True):
        row["attacks"], row["robustness"], row["worst_attack"], row["worst_position"] = None, None, None, None
        row["scores"]["robust"] = None
        if raw is None or comp is None or clean is None:
            continue
        entries, headlines = {}, {}
        for name, (kind, keys) in sorted(specs.items()):
            if name not in raw:
                entries[name] = {"kind": kind, "available": False, "reason": reasons.get(name, "not run"),
                                 "values": {}, "headline": None}
                continue
            placed = place(raw[name], comp.get(name, {}), clean.get(name, {}))
            head = attack_headline(kind, keys, placed)
            headlines[name] = head
            entries[name] = {"kind": kind, "available": True, "reason": None, "headline": head,
                             "values": {k: {"before": b, "after": a, **placed[k]} for k, (b, a) in raw[name].items()}}
        summary = summarise(headlines)
        row["attacks"] = entries
        row["robustness"] = summary["robustness"]
        row["worst_attack"], row["worst_position"] = summary["worst_attack"], summary["worst_position"]
        s = row["scores"]
        if row["robustness"] is not None:
            s["robust"] = harmonic3(s["efficacy"], s["utility"], row["robustness"])
        if row["role"] not in ("compromised", "clean") and \
                is_shallow(row["worst_position"], scoring.INEFFECTIVE in row["tags"]):
            row["tags"].append(SHALLOW)
    return {"suite": first.suite.model_dump(), "seed": first.seed, "names": ordered(specs),
            "kinds": {n: k for n, (k, _) in sorted(specs.items())},
            "headline_keys": {n: list(h) for n, (_, h) in sorted(specs.items())},
            "unavailable": reasons, "shallow_position": SHALLOW_POSITION}


def _mean_raw(files: list, name: str, notes: list[str]) -> dict | None:
    """Mean (over seeds) of every attack's raw (before, after) values; None unless every seed has a file."""
    if any(a is None for a in files):
        if any(a is not None for a in files):
            notes.append(f"{name}: attack.json missing for some seeds; no robustness shown")
        else:
            notes.append(f"{name}: no attack.json (recovery attacks not run on it)")
        return None
    raws = [a.raw() for a in files]
    out: dict[str, dict[str, tuple[float | None, float]]] = {}
    for attack in set.intersection(*(set(r) for r in raws)):
        keys = set.intersection(*(set(r[attack]) for r in raws))
        out[attack] = {}
        for k in sorted(keys):
            before = [r[attack][k][0] for r in raws]
            out[attack][k] = (None if any(b is None for b in before) else float(np.mean(before)),
                              float(np.mean([r[attack][k][1] for r in raws])))
    return out


def rank_robust(rows: list[dict]) -> None:
    """``row["robust_rank"]``: competition rank of the methods by the robust score (None: refs / no score)."""
    methods = [r for r in rows if r["role"] not in ("compromised", "clean") and r["scores"].get("robust") is not None]
    ranks = scoring.rank([r["scores"]["robust"] for r in methods])
    for row in rows:
        row["robust_rank"] = None
    for row, rk in zip(methods, ranks, strict=True):
        row["robust_rank"] = rk


def robustness_findings(rows: list[dict], meta: dict) -> list[dict]:
    """One sentence per finding: do the attacks separate the references; which methods are robust, which
    shallow, and under which attack."""
    comp, clean, methods = rows[0], rows[1], rows[2:]
    out = []
    for name in meta["names"]:
        c, k = (comp.get("attacks") or {}).get(name), (clean.get("attacks") or {}).get(name)
        if not c or not c["available"]:
            reason = (c or {}).get("reason") or meta["unavailable"].get(name, "no attack file")
            out.append({"kind": "attack", "holds": None, "text": f"{name}: not available ({reason})."})
            continue
        pairs = [(key, c["values"][key]["after"], k["values"][key]["after"]) for key in meta["headline_keys"][name]
                 if key in c["values"] and key in (k or {}).get("values", {})]
        sep = bool(pairs) and all(vc - vk >= MIN_GAP for _, vc, vk in pairs)
        detail = ", ".join(f"{key} {vc:.4f} vs {vk:.4f}" for key, vc, vk in pairs)
        blind = c["values"].get("blind_auc", {}).get("after") if name == "mia" else None
        extra = f"; blind caption-only baseline AUC {blind:.3f} (should be near 0.5)" if blind is not None else ""
        out.append({"kind": "attack", "holds": sep,
                    "text": f"{name}: Compromised {'stays above' if sep else 'does NOT stay above'} Clean after the "
                            f"attack ({detail}){extra}."})
    for m in methods:
        if m.get("robustness") is None:
            continue
        above = sorted(((n, a["headline"]["position"]) for n, a in m["attacks"].items()
                        if a["available"] and a["headline"]["position"] is not None
                        and a["headline"]["position"] >= SHALLOW_POSITION), key=lambda t: -t[1])
        worst = f"{m['worst_attack']} at {m['worst_position']:.2f}" if m["worst_position"] is not None else "none"
        if SHALLOW in m["tags"]:
            under = ", ".join(f"{n} ({p:.2f})" for n, p in above)
            text = (f"{m['name']} is shallow: it looks forgotten, yet {under} put{'s' if len(above) == 1 else ''} "
                    f"it at position >= {SHALLOW_POSITION:g} (robustness {m['robustness']:.2f}).")
        elif scoring.INEFFECTIVE in m["tags"]:
            text = f"{m['name']} is ineffective (never looked forgotten); worst attack position {worst}."
        else:
            text = (f"{m['name']} is robust: no attack brings it back to position {SHALLOW_POSITION:g} "
                    f"(worst: {worst}; robustness {m['robustness']:.2f}).")
        out.append({"kind": "method", "holds": None, "method": m["name"], "text": text})
    return out
