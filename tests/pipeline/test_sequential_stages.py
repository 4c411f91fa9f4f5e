"""``salmubench run --requests K`` with fake stage functions: off by default, one cached stage per method x
budget x seed whose key holds K, the unit, the request seed and θ0; resumed after Ctrl-C; on the leaderboard."""

from __future__ import annotations

import json

import pytest

from salmubench.cli.main import build_parser
from salmubench.cli.run_cmd import build_run_config
from salmubench.pipeline import RunConfig, run_benchmark


def cfg(tmp_path, **kw):
    return RunConfig(out=str(tmp_path / "run"), budgets=(5.0,), attacks=False, **kw)


def test_off_by_default_then_added_cached_and_keyed(tmp_path, fakes):
    report = run_benchmark(cfg(tmp_path), fakes.fns())
    assert report.ok and not any(s.id.startswith("sequential-") for s in report.statuses)
    assert "sequential" not in json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    report = run_benchmark(cfg(tmp_path, requests=3), fakes.fns())
    done = {s.id for s in report.statuses if s.state == "done"}
    assert done == {f"sequential-{m}@5x-s0-K3-identity" for m in fakes.method_list} | {"leaderboard"}
    lb = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    (split,) = lb["sequential"]["splits"]
    assert {g["name"] for g in split["groups"]} == {f"{m}@5x" for m in fakes.method_list}
    assert all(g["one_shot_row"] == g["name"] for g in split["groups"])  # drift against the one-shot rows
    assert "## Sequential unlearning" in (tmp_path / "run" / "leaderboard.md").read_text()
    again = run_benchmark(cfg(tmp_path, requests=3), fakes.fns())
    assert again.ok and again.count("cached") == len(again.statuses)
    # θ0 / K / unit are other runs (other folders); the one-shot stages stay cached
    report = run_benchmark(cfg(tmp_path, requests=3, theta0="original", methods=("finetune",)), fakes.fns())
    assert {s.id for s in report.statuses if s.state == "done"} == {
        "sequential-finetune@5x-s0-K3-identity-theta0-original", "leaderboard"}
    report = run_benchmark(cfg(tmp_path, requests=2, request_unit="association", request_seed=4,
                               methods=("finetune",)), fakes.fns())
    assert "sequential-finetune@5x-s0-K2-association-r4" in {s.id for s in report.statuses if s.state == "done"}
    assert fakes.calls["sequential:finetune@5/0/K2/association/previous"] == 1


def test_a_changed_method_config_redoes_its_sequential_stage_and_ctrl_c_resumes(tmp_path, fakes):
    run_benchmark(cfg(tmp_path, requests=3, methods=("finetune",)), fakes.fns())
    report = run_benchmark(cfg(tmp_path, requests=3, methods=("finetune",), overrides={"finetune": {"lr": 1e-3}}),
                           fakes.fns())
    assert {s.id: s.state for s in report.statuses}["sequential-finetune@5x-s0-K3-identity"] == "done"
    fakes.interrupt_on = {"sequential:finetune@5/0/K4/identity/previous"}
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg(tmp_path, requests=4, methods=("finetune",)), fakes.fns())
    out = tmp_path / "run" / "sequential" / "finetune@5x-s0-K4-identity"
    assert (out / "partial.txt").is_file()  # a started stage of the same key keeps its outputs (the steps)
    fakes.interrupt_on = set()
    report = run_benchmark(cfg(tmp_path, requests=4, methods=("finetune",)), fakes.fns())
    assert report.ok and (out / "partial.txt").is_file() and (out / "sequential.json").is_file()


def test_cli_flags(tmp_path):
    args = build_parser().parse_args(["run", "--preset", "tiny", "--requests", "5", "--request-unit", "association",
                                      "--theta0", "original"])
    c = build_run_config(args)
    assert (c.requests, c.request_unit, c.request_seed, c.theta0) == (5, "association", 0, "original")
    assert build_run_config(build_parser().parse_args(["run"])).requests is None
