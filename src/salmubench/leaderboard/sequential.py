"""The sequential-unlearning section of the leaderboard, from ``sequential.json`` files only (pure Python).

For every request split (K, unit, request seed) found, one group per method@budget (and θ0 setting),
seeds averaged step by step:

* ``last``: each metric after the last request (for the row-view metrics the requested rows are then
  the whole forget split, so the value is the evaluator's on the same rows as a one-shot run);
* ``drift``: last − the one-shot run's value of the same metric (the leaderboard row of the same method,
  budget and hyperparameters), None without that row; PendingSim has no last value (nothing pending);
* ``worst``: the step whose value scores lowest against its own target on its own rows (the leaderboard's
  per-metric scores, ``scoring.efficacy_metric_score`` → Clean, ``utility_metric_score`` → Compromised,
  with the references' values on the same rows); ties go to the earlier step;
* ``cost``: sample passes and unlearning seconds against the one-shot row's.

The curves per step (and the references' per step) feed the report's line charts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from salmubench.config import config_hash
from salmubench.errors import ResultError
from salmubench.evaluation import scoring
from salmubench.evaluation.scoring import position
from salmubench.sequential.results import SEQ_METRICS, SequentialSummary, find_summaries, read_summary


def load_sequential(paths: Iterable) -> list[tuple[Path, SequentialSummary]]:
    """Every valid ``sequential.json`` under ``paths`` (an empty list when there is none)."""
    return [(p, read_summary(p)) for p in find_summaries(paths)]


def build_sequential(found: Sequence[tuple[Path, SequentialSummary]], rows: list[dict], protocol: dict,
                     fingerprint: str) -> dict | None:
    """The ``sequential`` block of the leaderboard data (module docstring); None without summaries."""
    if not found:
        return None
    for path, s in found:
        if s.protocol.hash != protocol["hash"]:
            raise ResultError(f"{path}: protocol {s.protocol.hash}, the results' is {protocol['hash']}")
        if s.dataset.fingerprint != fingerprint:
            raise ResultError(f"{path}: dataset {s.dataset.fingerprint[:12]}, the results' is {fingerprint[:12]}")
    one_shot = {r["key"]: r for r in rows if r["role"] not in ("compromised", "clean")}
    splits: dict[str, list[tuple[Path, SequentialSummary]]] = {}
    for path, s in found:
        splits.setdefault(s.requests.digest, []).append((path, s))
    out = []
    for digest, members in sorted(splits.items(), key=lambda kv: (kv[1][0][1].requests.k, kv[1][0][1].requests.unit, kv[0])):
        first = members[0][1]
        groups: dict[tuple, list[tuple[Path, SequentialSummary]]] = {}
        for path, s in members:
            key = (s.run.method, s.run.budget, config_hash(s.run.params, length=8), s.theta0.setting)
            groups.setdefault(key, []).append((path, s))
        out.append({"k": first.requests.k, "unit": first.requests.unit, "seed": first.requests.seed, "digest": digest,
                    "rows": first.requests.rows, "references": _references(members),
                    "groups": sorted((_group(key, g, one_shot) for key, g in groups.items()),
                                     key=lambda g: g["name"])})
    return {"metrics": [{"key": m.key, "display": m.display, "rows": m.rows, "target": m.target,
                         "description": m.description} for m in SEQ_METRICS],
            "splits": out}


def _references(members) -> dict:
    """The references' values per step on each metric's rows (the same for every run of one split)."""
    s = members[0][1]
    out = {"clean": {}, "compromised": {}}
    for m in SEQ_METRICS:
        for role in out:
            out[role][m.key] = [_ref(step, m.key, role) for step in s.steps]
    return out


def _ref(step, key: str, role: str) -> float | None:
    v = (step.metrics or {}).get(key)
    return None if v is None else getattr(v, role)


def _group(key: tuple, members, one_shot: dict[str, dict]) -> dict:
    method, budget, params_hash, theta0 = key
    members = sorted(members, key=lambda ps: ps[1].run.seed)
    summaries = [s for _, s in members]
    k = summaries[0].requests.k
    curves, positions = {}, {}
    for m in SEQ_METRICS:
        curves[m.key] = [_mean([(s.steps[i].metrics or {}).get(m.key) and s.steps[i].metrics[m.key].value
                                for s in summaries]) for i in range(k)]
        positions[m.key] = [_mean([(s.steps[i].metrics or {}).get(m.key) and s.steps[i].metrics[m.key].position
                                   for s in summaries]) for i in range(k)]
    refs = _references(members)
    row = one_shot.get(f"{method}@{budget:g}x#{params_hash}")
    last = {m.key: curves[m.key][-1] for m in SEQ_METRICS}
    drift = {mk: (None if v is None or row is None or mk not in row["values"] else v - row["values"][mk])
             for mk, v in last.items()}
    name = f"{method}@{budget:g}x" + (" [θ0 original]" if theta0 == "original" else "")
    return {"name": name, "method": method, "budget": budget, "theta0": theta0,
            "theta0_role": summaries[0].theta0.role, "seeds": [s.run.seed for s in summaries],
            "files": [str(p) for p, _ in members], "one_shot_row": None if row is None else row["name"],
            "curves": curves, "positions": positions, "last": last, "drift": drift,
            "worst": {m.key: _worst(m, curves[m.key], refs) for m in SEQ_METRICS},
            "cost": _cost(summaries, row)}


def _worst(m, curve: list[float | None], refs: dict) -> dict | None:
    """The step (1-based) whose value is furthest from its target on its own rows (lowest score)."""
    best = None
    for i, v in enumerate(curve):
        comp, clean = refs["compromised"][m.key][i], refs["clean"][m.key][i]
        if v is None or comp is None:
            continue
        if clean is None:  # no Clean model: distance to the target when it is Compromised, else unknown
            if m.target != "compromised":
                continue
            score = -abs(v - comp)
        elif m.target == "clean":
            score = scoring.efficacy_metric_score(v, comp, clean)
        else:
            score = scoring.utility_metric_score(v, comp, clean)
        if best is None or score < best[0] - 1e-12:
            best = (score, i)
    if best is None:
        return None
    i = best[1]
    comp, clean = refs["compromised"][m.key][i], refs["clean"][m.key][i]
    pos = position(curve[i], comp, clean)
    return {"step": i + 1, "value": curve[i], "position": pos, "score": best[0] if clean is not None else None}


def _cost(summaries: list[SequentialSummary], row: dict | None) -> dict:
    passes = float(np.mean([s.cost.fwd_passes + s.cost.bwd_passes for s in summaries]))
    seconds = float(np.mean([s.cost.unlearn_seconds for s in summaries]))
    out = {"passes": passes, "seconds": seconds,
           "optimizer_steps": float(np.mean([s.cost.optimizer_steps for s in summaries])),
           "one_shot_steps": float(np.mean([s.cost.one_shot_steps for s in summaries])),
           "one_shot_passes": None, "one_shot_seconds": None, "passes_ratio": None, "seconds_ratio": None}
    if row is not None:
        c = row["cost"]
        if c.get("fwd_passes") is not None and c.get("bwd_passes") is not None:
            out["one_shot_passes"] = c["fwd_passes"] + c["bwd_passes"]
            out["passes_ratio"] = passes / out["one_shot_passes"] if out["one_shot_passes"] else None
        if c.get("unlearn_seconds"):
            out["one_shot_seconds"] = c["unlearn_seconds"]
            out["seconds_ratio"] = seconds / c["unlearn_seconds"]
    return out


def _mean(values: list[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def sequential_markdown(seq: dict | None) -> list[str]:
    """The "Sequential unlearning" section of leaderboard.md (nothing without sequential runs)."""
    if not seq:
        return []
    metrics = seq["metrics"]
    last_keys = [m for m in metrics if m["rows"] != "pending"]
    lines = ["", "## Sequential unlearning: deletion requests over time", "",
             "The forget set arrives as K requests; each run starts from the previous output and sees only its "
             "request's rows (docs/sequential.md). Row-view metrics: RetFail, AssocStr, CoreAssoc on the rows "
             "requested so far (target: Clean on the same rows), PendingSim = AssocStr on the rows not requested yet "
             "(target: Compromised on the same rows); the others on the evaluator's full splits. Drift = after the "
             "last request − the one-shot run of the same method, budget and hyperparameters; worst = the request "
             "after which the value is furthest from its target (value @ request)."]
    for split in seq["splits"]:
        lines += ["", f"### {split['k']} {split['unit']} requests (request seed {split['seed']}, split "
                      f"{split['digest']}; rows per request: {', '.join(map(str, split['rows']))})", "",
                  "After the last request (drift vs one shot):", "",
                  "| Method | " + " | ".join(f"{m['display']} {'↘' if m['target'] == 'clean' else '='}" for m in last_keys)
                  + " |", "|---|" + "---:|" * len(last_keys)]
        for g in split["groups"]:
            cells = [f"{_f(g['last'][m['key']])} ({_signed(g['drift'][m['key']])})" for m in last_keys]
            lines.append(f"| {_label(g)} | " + " | ".join(cells) + " |")
        lines += ["", "Worst request (value @ request; PendingSim: position, 1 = Compromised):", "",
                  "| Method | " + " | ".join(m["display"] for m in metrics) + " |", "|---|" + "---:|" * len(metrics)]
        for g in split["groups"]:
            lines.append(f"| {_label(g)} | " + " | ".join(_worst_cell(g["worst"][m["key"]], m) for m in metrics) + " |")
        lines += ["", "Cost against one shot (unlearning only; evaluation excluded):", "",
                  "| Method | optimiser steps (one shot) | sample passes (one shot) | × | seconds (one shot) | × |",
                  "|---|---:|---:|---:|---:|---:|"]
        for g in split["groups"]:
            c = g["cost"]
            lines.append(f"| {_label(g)} | {c['optimizer_steps']:g} ({c['one_shot_steps']:g}) | "
                         f"{c['passes'] / 1000:.1f}k ({_k(c['one_shot_passes'])}) | {_f(c['passes_ratio'], 2)} | "
                         f"{c['seconds']:.1f} ({_f(c['one_shot_seconds'], 1)}) | {_f(c['seconds_ratio'], 2)} |")
    return lines


def _label(g: dict) -> str:
    n = len(g["seeds"])
    return g["name"] + (f" (n={n})" if n > 1 else "")


def _f(x: float | None, nd: int = 4) -> str:
    if x is None:
        return "-"
    s = f"{x:.{nd}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def _signed(x: float | None) -> str:
    return "Δ -" if x is None else f"Δ {'+' if x >= 0 else ''}{_f(x)}"


def _k(x: float | None) -> str:
    return "-" if x is None else f"{x / 1000:.1f}k"


def _worst_cell(w: dict | None, m: dict) -> str:
    if w is None:
        return "-"
    if m["rows"] == "pending":
        return f"{_f(w['position'], 2)} @{w['step']}" if w["position"] is not None else f"{_f(w['value'])} @{w['step']}"
    return f"{_f(w['value'])} @{w['step']}"
