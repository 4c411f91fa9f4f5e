"""Robustness pillar, shallow tag and robust ranking from hand-made attack files (lb_factory.ATTACK_RAW)."""

import json

import pytest
from lb_factory import make_attack, write_run

from salmubench.attacks.results import read_attack, write_attack
from salmubench.errors import ResultError
from salmubench.evaluation.results import read_result
from salmubench.leaderboard import build_leaderboard, rebuild, to_csv, to_markdown


def rows_of(lb):
    return {r["name"]: r for r in lb["rows"]}


def test_positions_robustness_and_tags_known_answers(tmp_path):
    lb = build_leaderboard([write_run(tmp_path / "run", attacks=True)])
    rows = rows_of(lb)
    ft = rows["finetune@5x"]["attacks"]["relearn"]
    # seeds 0, 1: raw (0.003 + 0.001 s, 0.05 + 0.001 s) -> mean (0.0035, 0.0505); Compromised (0.24, 0.22),
    # Clean (0.001, 0.02): position before 0.0025 / 0.239, after 0.0305 / 0.2
    assert ft["values"]["ret_fail"]["position_before"] == pytest.approx(0.0025 / 0.239)
    assert ft["headline"]["position"] == pytest.approx(0.0305 / 0.2)
    assert ft["headline"]["recovery"] == pytest.approx(0.0305 / 0.2 - 0.0025 / 0.239)
    q = rows["finetune@5x"]["attacks"]["quantize"]["headline"]  # worst of 8 and 4 bits
    assert q["key"] == "ret_fail@4bit" and q["position"] == pytest.approx((0.0045 - 0.002) / 0.198)
    leak = rows["finetune@5x"]["attacks"]["mia"]["headline"]["leak"]
    assert leak == pytest.approx((0.5505 - 0.5) / 0.49)
    assert rows["finetune@5x"]["robustness"] == pytest.approx(1 - (0.0305 / 0.2 + 0.0025 / 0.198 + leak) / 3)
    assert not rows["finetune@5x"]["attacks"]["paraphrase"]["available"]  # left out of the mean
    assert rows["Compromised"]["robustness"] == 0.0 and rows["Clean"]["robustness"] == 1.0
    # shallow: forgotten (not ineffective) but relearn brings it back; ineffective methods never shallow
    assert "shallow" in rows["delete_salmu@5x"]["tags"] and "shallow" not in rows["finetune@5x"]["tags"]
    assert rows["generic_captions@5x"]["tags"] == ["ineffective"]
    s = rows["finetune@5x"]["scores"]
    assert s["robust"] == pytest.approx(3 / (1 / s["efficacy"] + 1 / s["utility"] + 1 / rows["finetune@5x"]["robustness"]))
    assert rows["finetune@5x"]["robust_rank"] == 1 and rows["Compromised"]["robust_rank"] is None
    assert lb["attacks"]["names"] == ["relearn", "quantize", "paraphrase", "mia"]
    text = " ".join(f["text"] for f in lb["attack_findings"])
    assert "delete_salmu@5x is shallow" in text and "finetune@5x is robust" in text and "paraphrase: not available" in text
    md, csv = to_markdown(lb), to_csv(lb)
    assert "## Robustness: recovery attacks" in md and "| Util. | Rob. | Score | Rob. score | Rob. rank |" in md
    assert "robustness,score_robust,robust_rank,relearn_value,relearn_position,relearn_recovery" in csv.splitlines()[0]
    # the score's definition and ranking are unchanged by the attacks
    plain = rows_of(build_leaderboard([write_run(tmp_path / "plain")]))
    assert {n: (r["rank"], r["scores"]["combined"]) for n, r in plain.items()} == \
        {n: (r["rank"], r["scores"]["combined"]) for n, r in rows.items()}
    assert "attacks" not in build_leaderboard([tmp_path / "plain"])


def test_refuses_stale_or_mixed_attack_files(tmp_path):
    run = write_run(tmp_path / "run", attacks=True)
    res_dir = run / "results" / "finetune@5x-s0"
    foreign = make_attack(read_result(run / "results" / "clean"), {"mia": {"auc": (None, 0.5)}})
    write_attack(foreign, res_dir)  # attack file of another checkpoint next to this result
    with pytest.raises(ResultError, match="stale file"):
        build_leaderboard([run])
    run2 = write_run(tmp_path / "run2", attacks=True)
    other = read_attack(run2 / "results" / "clean")
    other.suite.hash = "b" * 16
    write_attack(other, run2 / "results" / "clean")
    with pytest.raises(ResultError, match="mixed attack suites"):
        build_leaderboard([run2])


def test_missing_attack_file_is_a_note_not_an_error(tmp_path):
    run = write_run(tmp_path / "run", attacks=True)
    (run / "results" / "finetune@5x-s1" / "attack.json").unlink()
    lb, _ = rebuild([run], run)
    assert rows_of(lb)["finetune@5x"]["robustness"] is None
    assert any("finetune@5x: attack.json missing for some seeds" in n for n in lb["notes"])
    assert json.loads((run / "leaderboard.json").read_text())["attacks"]["seed"] == 0
