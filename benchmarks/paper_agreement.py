"""Agreement with the paper across recipes: the tables of docs/paper_agreement.md, from leaderboards.

    python benchmarks/paper_agreement.py RUN_DIR [RUN_DIR ...] [--json OUT.json]

Each RUN_DIR holds a ``leaderboard.json`` (``salmubench run`` / ``salmubench leaderboard``) built from
one recipe. For every run: the paper's eight baselines with our positions, GenKnow drop and tags
against the paper's (``salmubench.leaderboard.agreement``, one rule on both sides), and the count of
baselines in the paper's mode. Prints Markdown; ``--json`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    from salmubench.leaderboard.agreement import BASELINES, paper_side
    from salmubench.leaderboard.render import agreement_markdown

    out, summary = [], {}
    for run in args.run_dirs:
        lb = json.loads((Path(run) / "leaderboard.json").read_text())
        recipes = ", ".join(lb.get("recipes") or ["none"])
        found = {e["method"] for e in lb["agreement"]["baselines"]}
        missing = [b.method for b in BASELINES if b.method not in found]
        out += [f"### {recipes} ({run})", *agreement_markdown(lb["agreement"])[2:]]
        if missing:
            out.append(f"Not on this board: {', '.join(missing)}.")
        # diagnostic, not the agreement count: the same comparison with the catastrophic tag left out on
        # both sides (how much of the disagreement is the GenKnow axis alone)
        no_cat = sum(set(e["ours"]["tags"]) - {"catastrophic"} == set(e["paper"]["tags"]) - {"catastrophic"}
                     for e in lb["agreement"]["baselines"])
        out.append(f"Diagnostic (not the count): with `catastrophic` left out on both sides, {no_cat} of "
                   f"{len(lb['agreement']['baselines'])} tag sets match.")
        out.append("")
        summary[recipes] = {"count": lb["agreement"]["count"], "baselines": lb["agreement"]["baselines"]}
    out += ["### The paper's side (SALMUBENCH.md section 5, 5x)", "",
            "| baseline | method | tags |", "|---|---|---|"]
    out += [f"| {b.paper_name} | `{b.method}` | {', '.join(paper_side(b)['tags']) or 'none'} |" for b in BASELINES]
    print("\n".join(out))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
