"""Markdown tables of tuned recipes (docs/tuning.md, "Recipes on the v8 references").

    python benchmarks/recipe_tables.py TUNE_DIR [TUNE_DIR ...]

Each TUNE_DIR is a ``salmubench tune`` output folder (``tune_<method>.json`` per method). For every
selection protocol and budget found: the chosen overrides per method, their validation proxies, E / U /
score under that protocol, the trial count, and whether the choice sits on an edge of a numeric grid
axis (the grid rule of docs/tuning.md). Reads only the tuning records.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def edges(record: dict, overrides: dict) -> list[str]:
    """Axes of the record's grid on whose first or last value ``overrides`` sits."""
    out = []
    axes: dict[str, set] = {}
    for point in record["grid"]:
        for key, value in point.items():
            axes.setdefault(key, set()).add(value)
    for key, values in axes.items():
        numeric = sorted(v for v in values if isinstance(v, (int, float)))
        if len(numeric) < 2 or key not in overrides:
            continue
        if overrides[key] == numeric[0]:
            out.append(f"{key} bottom")
        elif overrides[key] == numeric[-1]:
            out.append(f"{key} top")
    return out


def fmt(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def table(records: list[dict], selection: str) -> list[str]:
    """One protocol's table over ``records`` (one budget)."""
    utility = "GenKnow, Inter(O), Intra(V_B)" if selection == "structured" else "GenKnow, retain_sim"
    lines = [f"Utility proxies: {utility}.", "",
             "| method | chosen | RetFail(V_A) | AssocStr(V_A) | GenKnow | Inter(O) | Intra(V_B) | retain_sim "
             "| E | U | score | trials | grid edge |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for rec in records:
        c = rec["chosen_by_selection"][selection]
        p, s = c["proxies"], c["scores"]
        chosen = ", ".join(f"{k}={fmt(v)}" for k, v in c["overrides"].items())
        lines.append(
            f"| {rec['method']} | {chosen} | {p['ret_fail']:.3f} | {p['assoc_str']:.3f} | {p['gen_know']:.3f} "
            f"| {p['inter_id_sim']:.3f} | {p['intra_id_sim']:.3f} | {p.get('retain_sim', float('nan')):.3f} "
            f"| {s['efficacy']:.3f} | {s['utility']:.3f} | {s['score']:.3f} | {len(rec['trials'])} "
            f"| {', '.join(edges(rec, c['overrides'])) or '-'} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tune_dirs", nargs="+")
    args = ap.parse_args(argv)
    for folder in args.tune_dirs:
        records = [json.loads(f.read_text()) for f in sorted(Path(folder).glob("tune_*.json"))
                   if f.name != "tune_summary.json"]
        if not records:
            continue
        budget = records[0]["budget"]
        seconds = sum(float(t.get("seconds", 0.0)) for r in records for t in r["trials"])
        trials = sum(len(r["trials"]) for r in records)
        for selection in records[0]["chosen_by_selection"]:
            print(f"#### {selection}@{budget:g}x ({folder}: {len(records)} methods, {trials} trials, "
                  f"{seconds:.0f} s of trials)\n")
            print("\n".join(table(records, selection)))
            print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
