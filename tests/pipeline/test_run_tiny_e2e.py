"""The real pipeline end to end on the tiny preset (slow: trains two tiny CLIPs on the CPU)."""

import json
import time

import pytest

from salmubench.cli.main import main
from salmubench.evaluation.protocol import METRIC_KEYS


@pytest.mark.slow
def test_tiny_run_end_to_end_and_cached_rerun(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # embedding cache
    out = tmp_path / "run"
    args = ["run", "--preset", "tiny", "--out", str(out), "--methods", "finetune,neg_grad", "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    lb = json.loads((out / "leaderboard.json").read_text())
    names = [r["name"] for r in lb["rows"]]
    assert names[:2] == ["Compromised", "Clean"] and set(names[2:]) == {"finetune@1x", "neg_grad@1x"}
    assert all(set(r["values"]) == set(METRIC_KEYS) for r in lb["rows"])
    assert all(r["cost"]["unlearn_seconds"] is not None for r in lb["rows"][2:])
    assert (out / "report.html").stat().st_size > 10_000
    markers = sorted(p.name for p in (out / ".stages").glob("*.json"))
    assert len(markers) == 1 + 2 + 2 + 2 * 2 + 1 and not any("started" in m for m in markers)
    capsys.readouterr()
    t0 = time.perf_counter()
    assert main(args) == 0
    assert "(10 cached)" in capsys.readouterr().out and time.perf_counter() - t0 < 30
