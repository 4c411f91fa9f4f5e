"""Leaderboard and report built from result files only (pure Python: never imports torch).

``build_leaderboard(run_dirs)`` -> data; ``write_outputs(data, out_dir)`` -> leaderboard.{md,csv,json}
and report.html. Score and failure-mode definitions: :mod:`salmubench.leaderboard.scoring`.
"""

from salmubench.leaderboard.build import build_leaderboard
from salmubench.leaderboard.render import to_csv, to_markdown, write_outputs
from salmubench.leaderboard.report import to_html

__all__ = ["build_leaderboard", "to_csv", "to_html", "to_markdown", "write_outputs", "rebuild"]


def rebuild(run_dirs, out_dir, allow_mixed_recipes: bool = False):
    """Build from every result.json under ``run_dirs`` and write all outputs into ``out_dir``."""
    from salmubench.io_utils import check_out_dir

    out_dir = check_out_dir(out_dir, "out_dir")
    data = build_leaderboard(run_dirs, allow_mixed_recipes=allow_mixed_recipes)
    return data, write_outputs(data, out_dir)
