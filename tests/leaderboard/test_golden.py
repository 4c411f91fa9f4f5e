"""Golden Markdown for a fixed set of hand-made result files (EvalResult objects built in code).

Regenerate after an intended change with ``SALMU_UPDATE_GOLDEN=1 pytest tests/leaderboard/test_golden.py``
and review the diff.
"""

import os
from pathlib import Path

from lb_factory import write_run

from salmubench.leaderboard import build_leaderboard, to_markdown

GOLDEN = Path(__file__).parent / "golden" / "leaderboard.md"


def test_markdown_matches_golden(tmp_path):
    text = to_markdown(build_leaderboard([write_run(tmp_path / "run", seeds=(0, 1))]))
    if os.environ.get("SALMU_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
