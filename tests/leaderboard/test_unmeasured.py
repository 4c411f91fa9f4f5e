"""A leaderboard without GenKnow (-1: no ImageNet-1K, no zeroshot split, as the released data) says so:
header, utility pillar over the four other utility metrics, catastrophic unmeasured on every row, the
headline finding unmeasured; without the unseen split the membership attack is said unavailable."""

from __future__ import annotations

import csv
import io
import json

import pytest
from lb_factory import METHODS, write_run

from salmubench.evaluation.scoring import pillar
from salmubench.leaderboard import build_leaderboard, to_csv, to_html, to_markdown
from salmubench.leaderboard import scoring as S


def drop_gen_know(run_dir):
    """Every result.json as the evaluator writes it without GenKnow: value -1, source none."""
    for path in sorted(run_dir.rglob("result.json")):
        data = json.loads(path.read_text())
        data["metrics"]["gen_know"]["value"] = -1.0
        data["gen_know_source"] = "none"
        path.write_text(json.dumps(data))
    return run_dir


@pytest.fixture
def measured(tmp_path):
    return build_leaderboard([write_run(tmp_path / "a", seeds=(0,))])


@pytest.fixture
def unmeasured(tmp_path):
    return build_leaderboard([drop_gen_know(write_run(tmp_path / "b", seeds=(0,)))])


def test_measured_board_is_unchanged_and_says_nothing(measured):
    assert measured["gen_know_measured"] is True and measured["unmeasured"] == []
    assert all(r["tags_unmeasured"] == [] for r in measured["rows"])
    shuffled = next(r for r in measured["rows"] if r["method"] == "shuffled_captions")
    assert S.CATASTROPHIC in shuffled["tags"]  # GenKnow 0.548 vs 0.638: the tag fires when measured
    assert "GenKnow not measured" not in to_markdown(measured) and "tags_unmeasured" not in to_csv(measured)


def test_utility_pillar_leaves_gen_know_out(unmeasured):
    keys = S.UTILITY_KEYS_WITHOUT_GEN_KNOW
    assert keys == ("inter_id_sim", "intra_id_sim", "vis_id_int", "frag_sim")
    for row in unmeasured["rows"]:
        per = row["scores"]["per_metric"]
        assert "gen_know" not in per
        assert row["scores"]["utility"] == pillar(per, keys)
        assert row["scores"]["combined"] == S.harmonic(row["scores"]["efficacy"], row["scores"]["utility"])
    comp = unmeasured["rows"][0]
    assert comp["scores"]["utility"] == 1.0  # -1 no longer counts as a perfect GenKnow: it is not counted


def test_catastrophic_is_unmeasured_on_every_method_row(unmeasured):
    methods = unmeasured["rows"][2:]
    assert len(methods) == len(METHODS)
    assert all(r["tags_unmeasured"] == [S.CATASTROPHIC] and S.CATASTROPHIC not in r["tags"] for r in methods)
    assert all(r["tags_unmeasured"] == [] for r in unmeasured["rows"][:2])
    findings = {f["claim"]: f for f in unmeasured["findings"]}
    assert findings["at least one method is catastrophic"]["holds"] is None
    headline = findings[">99% RetFail reduction with <1% relative GenKnow drop"]
    assert headline["holds"] is None and headline["detail"].startswith("unmeasured")
    assert findings["at least one method is ineffective"]["holds"] is True  # measured ones still checked
    # the paper agreement leaves catastrophic out on both sides (Shuffled Captions is catastrophic in the paper)
    entry = next(e for e in unmeasured["agreement"]["baselines"] if e["method"] == "shuffled_captions")
    assert entry["ours"]["profile"]["gen_know_drop"] is None and entry["unmeasured"] == [S.CATASTROPHIC]
    assert entry["agree"] == (S.CATASTROPHIC not in entry["ours"]["tags"] and
                              sorted(entry["ours"]["tags"]) == sorted(t for t in entry["paper"]["tags"]
                                                                      if t != S.CATASTROPHIC))


def test_header_and_marks_in_every_rendering(unmeasured):
    assert unmeasured["gen_know_measured"] is False and unmeasured["gen_know_n"] is None
    header = unmeasured["unmeasured"][0]
    assert header.startswith("GenKnow not measured: 7 of 7 result files")
    md = to_markdown(unmeasured)
    head = md.split("| Rank")[0]
    assert "GenKnow not measured" in head and "U = mean of InterIdSim, IntraIdSim, VisIdInt, FragSim" in head
    board = md.split("## Paper findings")[0]
    assert board.count("| catastrophic n/m |") + board.count(", catastrophic n/m |") == len(METHODS)
    assert "| -1.0000 |" not in board and board.count("| n/m |") >= 2  # GenKnow column: n/m, not -1
    assert "| yes (catastrophic n/m) |" in md
    assert "- [?] >99% RetFail reduction" in md and "- n/m: not measured" in md
    assert "| n/m /" in md  # our GenKnow drop in the agreement table
    rows = list(csv.DictReader(io.StringIO(to_csv(unmeasured))))
    assert [r["tags_unmeasured"] for r in rows] == ["", ""] + [S.CATASTROPHIC] * len(METHODS)
    html = to_html(unmeasured)
    assert "GenKnow not measured" in html and "tags_unmeasured" in html


def test_no_unseen_split_says_the_membership_attack_is_unavailable(tmp_path):
    run = write_run(tmp_path / "run", seeds=(0,), attacks=True)
    assert not any("Membership" in t for t in build_leaderboard([run])["unmeasured"])
    for path in run.rglob("attack.json"):  # as the attacks write it on data without the unseen split
        data = json.loads(path.read_text())
        data["dataset"]["has_unseen"] = False
        data["attacks"]["mia"] = {**data["attacks"]["mia"], "available": False, "values": {},
                                  "reason": "the data has no unseen split (non-members)"}
        path.write_text(json.dumps(data))
    lb = build_leaderboard([run])
    assert lb["gen_know_measured"] is True
    assert [t for t in lb["unmeasured"] if t.startswith("Membership attack unavailable")]
    assert "Membership attack unavailable" in to_markdown(lb).split("| Rank")[0]
