"""The sequential section of the leaderboard: built from sequential.json files only, additive (nothing
changes without them), drift against the one-shot row, worst request, cost against one shot."""

from __future__ import annotations

import json

import pytest
from lb_factory import CLEAN, COMPROMISED, write_run, write_sequential

from salmubench.errors import ResultError
from salmubench.leaderboard import build_leaderboard, rebuild, to_csv, to_markdown


def test_board_is_unchanged_without_sequential_files_and_additive_with_them(tmp_path):
    run = write_run(tmp_path / "run", seeds=(0, 1))
    plain = build_leaderboard([run])
    with_seq = build_leaderboard([write_sequential(run, seeds=(0, 1))])
    assert "sequential" not in plain and "sequential" in with_seq
    assert to_csv(plain) == to_csv(with_seq)
    assert json.dumps(plain["rows"], sort_keys=True) == json.dumps(with_seq["rows"], sort_keys=True)
    md = to_markdown(with_seq)
    assert md.startswith(to_markdown(plain).rstrip("\n")) and "## Sequential unlearning" in md


def test_drift_worst_step_and_cost(tmp_path):
    run = write_sequential(write_run(tmp_path / "run", seeds=(0,)), seeds=(0,), k=3)
    lb = build_leaderboard([run])
    (split,) = lb["sequential"]["splits"]
    assert split["k"] == 3 and split["unit"] == "identity" and [m["key"] for m in lb["sequential"]["metrics"]][3] == "pending_sim"
    groups = {g["name"]: g for g in split["groups"]}
    rows = {r["name"]: r for r in lb["rows"]}
    ft = groups["finetune@5x"]
    assert ft["one_shot_row"] == "finetune@5x"
    for key in ("ret_fail", "gen_know", "inter_id_sim"):
        assert ft["drift"][key] == pytest.approx(ft["last"][key] - rows["finetune@5x"]["values"][key])
    assert ft["last"]["pending_sim"] is None and ft["drift"]["pending_sim"] is None  # nothing pending at the end
    ds = groups["delete_salmu@5x"]
    assert ds["worst"]["gen_know"]["step"] == 2 and ds["worst"]["pending_sim"]["step"] == 2  # the dip
    assert ds["worst"]["gen_know"]["value"] == pytest.approx(ds["curves"]["gen_know"][1])
    # references per step: efficacy rows vary with the requested rows, full-split ones do not
    refs = split["references"]
    assert refs["compromised"]["ret_fail"] == pytest.approx([COMPROMISED["ret_fail"] + 0.01 * s for s in (1, 2, 3)])
    assert refs["clean"]["gen_know"] == [CLEAN["gen_know"]] * 3 and refs["compromised"]["pending_sim"][-1] is None
    assert ft["cost"]["passes"] == 450 and ft["cost"]["seconds_ratio"] == pytest.approx(12.0 / 10.0)
    md = to_markdown(lb)
    assert "### 3 identity requests" in md and "| delete_salmu@5x |" in md and "@2" in md


def test_sequential_files_of_other_data_are_refused(tmp_path):
    run = write_sequential(write_run(tmp_path / "run", seeds=(0,)), seeds=(0,))
    path = next(run.rglob("sequential.json"))
    data = json.loads(path.read_text())
    data["dataset"]["fingerprint"] = "0" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(ResultError, match="sequential.json: dataset 000000000000, the results' is ffffffffffff"):
        build_leaderboard([run])
    data["steps"][0]["metrics"]["ret_fail"]["value"] = "0.1"
    path.write_text(json.dumps(data))
    with pytest.raises(ResultError, match="invalid sequential summary"):
        rebuild([run], run)
