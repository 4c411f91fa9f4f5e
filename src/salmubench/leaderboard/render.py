"""Render leaderboard data as Markdown, CSV and JSON (deterministic: no timestamps)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from salmubench.evaluation.protocol import METRICS
from salmubench.io_utils import atomic_write_bytes, atomic_write_json
from salmubench.leaderboard.sequential import sequential_markdown

DISPLAY = {m.key: m.display for m in METRICS}  # metric key -> the paper's name (RetFail, ...)


def fmt(x: float | None, nd: int = 4) -> str:
    """Fixed-point number, '-' for None; negative zero printed as zero."""
    if x is None:
        return "-"
    s = f"{x:.{nd}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def fmt_value(row: dict, key: str) -> str:
    """``mean`` or ``mean ±h`` (h = the larger half-width of the 95% CI)."""
    v, ci = row["values"][key], row["ci"].get(key)
    if not ci:
        return fmt(v)
    return f"{fmt(v)} ±{fmt(max(v - ci['lo'], ci['hi'] - v))}"


def fmt_cost(row: dict) -> str:
    """Unlearning wall seconds (methods) or training seconds (references), plus sample passes."""
    c = row["cost"]
    sec = c.get("unlearn_seconds") if row["role"] not in ("compromised", "clean") else c.get("train_seconds")
    if sec is None:
        return "-"
    passes = (c.get("fwd_passes") or 0) + (c.get("bwd_passes") or 0)
    return f"{sec:.1f} s" + (f" / {passes / 1000:.1f}k passes" if passes else "")


def fmt_tags(row: dict) -> str:
    """The row's tags, then the tags it could not be tested for marked ``n/m`` (not measured), or '-'."""
    return ", ".join([*row["tags"], *(f"{t} n/m" for t in row.get("tags_unmeasured") or [])]) or "-"


def finding_mark(finding: dict) -> str:
    """``[x]`` holds, ``[ ]`` does not, ``[?]`` unmeasured (``holds`` None)."""
    return "[?]" if finding["holds"] is None else ("[x]" if finding["holds"] else "[ ]")


def label(row: dict) -> str:
    """Display name with the number of seeds when more than one."""
    n = len(row["seeds"])
    return f"{row['name']} (n={n})" if n > 1 else row["name"]


def to_markdown(lb: dict) -> str:
    """The leaderboard as a Markdown page: table, findings, definitions pointer."""
    keys = [m["key"] for m in lb["metrics"]]
    rob = bool(lb.get("attacks"))  # Robustness pillar and its ranking only when attack files exist
    head = ["Rank", "Model", *[_head(m) for m in lb["metrics"]], "Eff.", "Util.", *(["Rob."] if rob else []),
            "Score", *(["Rob. score", "Rob. rank"] if rob else []), "Tags", "Cost"]
    lines = [
        "# SALMUBench leaderboard",
        "",
        f"Protocol {lb['protocol']['name']} {lb['protocol']['version']} ({lb['protocol']['hash']}), "
        f"dataset {lb['dataset']['fingerprint'][:12]}"
        + (f" (preset {lb['dataset']['preset']})" if lb["dataset"].get("preset") else "")
        + f", GenKnow source: {', '.join(lb['gen_know_source'])}, {lb['n_files']} result files.",
        "",
        *[line for text in lb.get("unmeasured") or [] for line in (f"**{text}**", "")],
        "Efficacy metrics (↘ Clean) score closeness to the Clean value, utility metrics (= Compromised) "
        "closeness to the Compromised value; Score = harmonic mean of the two pillar scores "
        "(docs/leaderboard.md). Values: mean over seeds ±half-width of the 95% CI.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---:", "---"] + ["---:"] * (len(keys) + 3 + 3 * rob) + ["---", "---:"]) + "|",
    ]
    for row in lb["rows"]:
        s = row["scores"]
        cells = [str(row["rank"]) if row["rank"] else "ref", label(row),
                 *["n/m" if k == "gen_know" and lb.get("gen_know_measured") is False else fmt_value(row, k)
                   for k in keys],
                 fmt(s["efficacy"], 3), fmt(s["utility"], 3), *([fmt(row.get("robustness"), 3)] if rob else []),
                 fmt(s["combined"], 3),
                 *([fmt(s.get("robust"), 3), str(row.get("robust_rank") or ("ref" if not row["rank"] else "-"))]
                   if rob else []),
                 fmt_tags(row), fmt_cost(row)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Paper findings on this run", ""]
    lines += [f"- {finding_mark(f)} {f['claim']}: {f['detail']}" for f in lb["findings"]]
    t = lb["thresholds"]
    lines += ["", "## Failure-mode thresholds", "",
              f"- ineffective: RetFail closes < {t['ineffective_progress']:.0%} of the Compromised→Clean gap",
              f"- catastrophic: GenKnow drops > {t['catastrophic_genknow_drop']:.0%} of the Compromised value"
              + (f" and > {t['catastrophic_se_mult']:g} standard errors (GenKnow n = {lb['gen_know_n']})"
                 if lb.get("gen_know_n") else ""),
              f"- over-generalised: {', '.join(DISPLAY[k] for k in t['overgen_keys'])} past Clean by more "
              f"than {t['overgen_margin']:g}× the Compromised→Clean gap (gap closed > {1 + t['overgen_margin']:g})",
              "- tags describe methods; the reference rows get none"]
    if any(row.get("tags_unmeasured") for row in lb["rows"]):
        lines.append("- n/m: not measured on this run (catastrophic: GenKnow not measured); [?]: unmeasured finding")
    if rob:
        lines += ["", *robustness_markdown(lb)]
    lines += ["", "## Recipes", "",
              f"Method hyperparameters from: {', '.join(lb.get('recipes') or ['none'])}"
              + (" (mixed, allowed: rows are labelled)" if lb.get("mixed_recipes") else "")
              + " (docs/tuning.md)."]
    lines += agreement_markdown(lb.get("agreement"))
    lines += sequential_markdown(lb.get("sequential"))
    if lb["notes"]:
        lines += ["", "## Notes", "", *[f"- {n}" for n in lb["notes"]]]
    return "\n".join(lines) + "\n"


def _pair(ours: dict, paper: dict | None, key: str, pct: bool = False) -> str:
    """``ours / paper`` of one agreement value (``-`` when the paper gives no number)."""
    def one(x: float | None) -> str:
        return "n/m" if x is None else f"{100 * x:+.1f}%" if pct else f"{x:.2f}"

    return f"{one(ours[key])} / {'-' if paper is None else one(paper[key])}"


def agreement_markdown(agreement: dict | None) -> list[str]:
    """The "Agreement with the paper" section: one row per paper baseline found on the board."""
    if not agreement or not agreement.get("baselines"):
        return []
    lines = ["", "## Agreement with the paper", "",
             "Positions `(x − Clean)/(Compromised − Clean)` (0 = Clean, 1 = Compromised) and the relative "
             "GenKnow drop, ours / the paper's 5× table; tags under one rule on both sides "
             "(docs/paper_agreement.md).", "",
             "| paper baseline | row | RetFail pos. | InterIdSim pos. | IntraIdSim pos. | GenKnow drop | "
             "our tags | paper tags | agree |",
             "|---|---|---:|---:|---:|---:|---|---|---|"]
    for e in agreement["baselines"]:
        ours, paper = e["ours"]["profile"], e["paper"]["profile"]
        cells = [_pair(ours, paper, k) for k in ("pos_ret_fail", "pos_inter_id_sim", "pos_intra_id_sim")]
        cells.append(_pair(ours, paper, "gen_know_drop", pct=True))
        lines.append(f"| {e['paper_name']} | {e['row']} | {' | '.join(cells)} | "
                     f"{', '.join(e['ours']['tags']) or 'none'} | {', '.join(e['paper']['tags']) or 'none'} | "
                     f"{'yes' if e['agree'] else 'no'}"
                     + "".join(f" ({t} n/m)" for t in e.get("unmeasured") or []) + " |")
    counts = ", ".join(f"{b}: {c['agree']} of {c['of']}" for b, c in agreement["count"].items())
    lines += ["", f"In the paper's mode: {counts}."]
    return lines


def robustness_markdown(lb: dict) -> list[str]:
    """The recovery-attack section: position after each attack (recovery), MIA leak, findings."""
    meta = lb["attacks"]
    names = meta["names"]
    lines = ["## Robustness: recovery attacks", "",
             "Position after each attack between the references attacked the same way (0 = Clean-like, "
             "1 = Compromised-like), recovery (position after − before) in brackets; MIA: leak = position of the "
             "AUC. Rob. = clip(1 − mean of these, 0, 1); Rob. score = harmonic mean of Eff., Util. and Rob.; "
             f"`shallow`: not ineffective, yet some attack at position ≥ {meta['shallow_position']:g} "
             "(docs/attacks.md, docs/leaderboard.md). "
             f"Attack suite v{meta['suite']['version']} ({meta['suite']['hash']}), seed {meta['seed']}.", "",
             "| Model | " + " | ".join(names) + " | Rob. | Rob. rank | Tags |",
             "|---|" + "---:|" * (len(names) + 2) + "---|"]
    for row in lb["rows"]:
        atts = row.get("attacks") or {}
        cells = [label(row)] + [_attack_cell(atts.get(n)) for n in names]
        cells += [fmt(row.get("robustness"), 3), str(row.get("robust_rank") or ("ref" if not row["rank"] else "-")),
                  fmt_tags(row)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Attacked values (each attack's headline value before → after the attack; MIA: AUC):", "",
              "| Model | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for row in lb["rows"]:
        atts = row.get("attacks") or {}
        lines.append("| " + " | ".join([label(row)] + [_value_cell(atts.get(n)) for n in names]) + " |")
    lines += ["", "### Findings", "", *[f"- {_mark(f)}{f['text']}" for f in lb.get("attack_findings", [])]]
    return lines


def _value_cell(entry: dict | None) -> str:
    if not entry or not entry["available"] or not entry["headline"] or not entry["headline"]["key"]:
        return "n/a" if entry and not entry["available"] else "-"
    v = entry["values"][entry["headline"]["key"]]
    head = f"{entry['headline']['key']} "
    return head + (f"{v['before']:.4f} → {v['after']:.4f}" if v["before"] is not None else f"{v['after']:.4f}")


def _attack_cell(entry: dict | None) -> str:
    if not entry:
        return "-"
    if not entry["available"]:
        return "n/a"
    h = entry["headline"]
    if h["position"] is None:
        return "-"
    if entry["kind"] == "measure":
        return f"{h['position']:.2f}"
    rec = h.get("recovery")
    return f"{h['position']:.2f} ({rec:+.2f})" if rec is not None else f"{h['position']:.2f}"


def _mark(finding: dict) -> str:
    return "" if finding.get("holds") is None else ("[x] " if finding["holds"] else "[ ] ")


def _head(m: dict) -> str:
    return f"{m['display']} {'↘' if m['pillar'] == 'efficacy' else '='}"


def csv_rows(lb: dict) -> list[dict]:
    """One flat dict per leaderboard row (means, CI bounds, scores, tags, cost)."""
    out = []
    for row in lb["rows"]:
        flat = {"rank": row["rank"] or "", "name": row["name"], "role": row["role"],
                "method": row["method"] or "", "budget": "" if row["budget"] is None else row["budget"],
                "seeds": " ".join(map(str, row["seeds"]))}
        for m in lb["metrics"]:
            k, ci = m["key"], row["ci"].get(m["key"])
            flat[k] = row["values"][k]
            flat[f"{k}_lo"], flat[f"{k}_hi"] = (ci["lo"], ci["hi"]) if ci else ("", "")
        flat["ret_fail_r_at_1"] = "" if row.get("r_at_1") is None else row["r_at_1"]
        flat |= {f"score_{k}": row["scores"][k] for k in ("efficacy", "utility", "combined")}
        if lb.get("attacks"):  # Robustness pillar, robust score and rank, per-attack headline
            flat["robustness"] = "" if row.get("robustness") is None else row["robustness"]
            flat["score_robust"] = "" if row["scores"].get("robust") is None else row["scores"]["robust"]
            flat["robust_rank"] = row.get("robust_rank") or ""
            for name in lb["attacks"]["names"]:
                h = ((row.get("attacks") or {}).get(name) or {}).get("headline") or {}
                vals = ((row.get("attacks") or {}).get(name) or {}).get("values") or {}
                flat[f"{name}_value"] = vals[h["key"]]["after"] if h.get("key") in vals else ""
                flat[f"{name}_position"] = "" if h.get("position") is None else h["position"]
                flat[f"{name}_recovery"] = "" if h.get("recovery") is None else h["recovery"]
        flat["tags"] = ";".join(row["tags"])
        if lb.get("gen_know_measured") is False:  # the column only then: other boards' CSV is as it was
            flat["tags_unmeasured"] = ";".join(row.get("tags_unmeasured") or [])
        flat |= {k: "" if v is None else v for k, v in row["cost"].items()}
        out.append(flat)
    return out


def to_csv(lb: dict) -> str:
    """CSV text of :func:`csv_rows`."""
    rows = csv_rows(lb)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_outputs(lb: dict, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write leaderboard.{md,csv,json} and report.html atomically into ``out_dir``."""
    from salmubench.leaderboard.report import to_html

    out = Path(out_dir)
    paths = {ext: out / f"leaderboard.{ext}" for ext in ("md", "csv", "json")}
    atomic_write_bytes(paths["md"], to_markdown(lb).encode())
    atomic_write_bytes(paths["csv"], to_csv(lb).encode())
    atomic_write_json(paths["json"], lb)
    paths["html"] = out / "report.html"
    atomic_write_bytes(paths["html"], to_html(lb).encode())
    return paths


def dumps(lb: dict) -> str:
    """Canonical JSON text (for hashing and tests)."""
    return json.dumps(lb, sort_keys=True)
