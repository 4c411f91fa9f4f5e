"""``salmubench run --preset tiny --requests 3`` end to end (slow: trains two tiny CLIPs): sequential stages
for two methods, killed (Ctrl-C) after request 2 of the first and resumed at request 3; the leaderboard's
sequential table and the report's charts."""

from __future__ import annotations

import json

import pytest

from salmubench.cli.main import main
from salmubench.pipeline import RunConfig, run_benchmark
from salmubench.progress import ProgressEvent
from salmubench.sequential.results import read_summary, step_dir


class KillAfterRequest2:
    """A run view that presses Ctrl-C once the first sequential run has finished its second request."""

    def __init__(self) -> None:
        self.fired = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def begin(self, stage, index, stages, cache) -> None:
        return None

    def end(self, stage, status) -> None:
        return None

    def on_progress(self, event: ProgressEvent) -> None:
        if not self.fired and event.task.startswith("requests ") and event.done == 2:
            self.fired = True
            raise KeyboardInterrupt


@pytest.mark.slow
def test_tiny_run_with_requests_killed_and_resumed(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    # recipe none: the tiny preset's salmu-test is not the architecture the shipped recipes were tuned on
    cfg = RunConfig(preset="tiny", out=str(out), methods=("npo", "ssd"), attacks=False, requests=3, recipe=None)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg, view=KillAfterRequest2())
    seq = out / "sequential" / "npo@1x-s0-K3-identity"
    assert step_dir(seq, 2).is_dir() and not step_dir(seq, 3).exists() and not (seq / "sequential.json").exists()
    kept = {k: (step_dir(seq, k) / "step.json").stat().st_mtime_ns for k in (1, 2)}
    args = ["run", "--preset", "tiny", "--out", str(out), "--methods", "npo,ssd", "--no-attacks", "--requests", "3",
            "--recipe", "none", "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    assert {k: (step_dir(seq, k) / "step.json").stat().st_mtime_ns for k in (1, 2)} == kept  # resumed at request 3
    summary = read_summary(seq)
    assert [s.step for s in summary.steps] == [1, 2, 3] and summary.steps[-1].metrics["pending_sim"].value is None
    assert summary.cost.optimizer_steps >= summary.cost.one_shot_steps
    lb = json.loads((out / "leaderboard.json").read_text())
    (split,) = lb["sequential"]["splits"]
    groups = {g["name"]: g for g in split["groups"]}
    assert set(groups) == {"npo@1x", "ssd@1x"} and all(g["one_shot_row"] for g in groups.values())
    for g in groups.values():  # all forget rows requested at the end: the same rows as the one-shot evaluation
        assert all(g["drift"][k] is not None for k in ("ret_fail", "assoc_str", "gen_know", "inter_id_sim"))
        assert g["worst"]["pending_sim"]["step"] in (1, 2) and g["cost"]["passes_ratio"] > 0
    assert "## Sequential unlearning" in (out / "leaderboard.md").read_text()
    assert 'id="leaderboard-data"' in (out / "report.html").read_text()
    capsys.readouterr()
    assert main(args) == 0 and "cached" in capsys.readouterr().out
