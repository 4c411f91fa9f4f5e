"""Agreement with the paper: the one rule reproduces the paper's modes from its own table."""

from __future__ import annotations

import pytest

from salmubench.leaderboard import agreement as A


def test_paper_table_gives_the_paper_modes():
    modes = {b.paper_name: A.paper_side(b)["tags"] for b in A.BASELINES}
    assert modes == {
        "CLIPErase": [A.OVER_GENERALISED], "DELETE": [A.OVER_GENERALISED],
        "VLUnlearn (MultiDelete)": [], "Finetuning": [], "Neg. Gradient": [],
        "Shuffled Captions": [A.CATASTROPHIC], "Direct Sim. Min.": [A.CATASTROPHIC, A.OVER_GENERALISED],
        "Generic Captions": [A.INEFFECTIVE],
    }


def test_position_and_profile_known_answer():
    comp = {"ret_fail": 0.6, "gen_know": 0.5, "inter_id_sim": 0.9, "intra_id_sim": 0.9}
    clean = {"ret_fail": 0.0, "gen_know": 0.5, "inter_id_sim": 0.4, "intra_id_sim": 0.4}
    prof = A.profile({"ret_fail": 0.3, "gen_know": 0.45, "inter_id_sim": 0.0, "intra_id_sim": 0.65}, comp, clean)
    assert prof["pos_ret_fail"] == pytest.approx(0.5)
    assert prof["pos_inter_id_sim"] == pytest.approx(-0.8)
    assert prof["pos_intra_id_sim"] == pytest.approx(0.5)
    assert prof["gen_know_drop"] == pytest.approx(0.1)
    assert A.tags(prof) == [A.CATASTROPHIC, A.OVER_GENERALISED]  # progress exactly 0.5 is not ineffective


def test_compare_counts_exact_tag_matches_per_budget():
    comp = {"ret_fail": 0.6, "gen_know": 0.5, "inter_id_sim": 0.9, "intra_id_sim": 0.9}
    clean = {"ret_fail": 0.0, "gen_know": 0.5, "inter_id_sim": 0.4, "intra_id_sim": 0.4}
    forgot = {"ret_fail": 0.01, "gen_know": 0.5, "inter_id_sim": 0.8, "intra_id_sim": 0.8}
    rows = [{"method": "finetune", "name": "finetune@5x", "budget": 5.0, "values": forgot},  # none = paper
            {"method": "delete_salmu", "name": "delete_salmu@5x", "budget": 5.0, "values": forgot},  # paper: OG
            {"method": "generic_captions", "name": "g@5x", "budget": 5.0, "values": comp},  # ineffective = paper
            {"method": "npo", "name": "npo@5x", "budget": 5.0, "values": forgot}]  # not a paper baseline
    out = A.compare(rows, comp, clean)
    assert [e["method"] for e in out["baselines"]] == ["delete_salmu", "finetune", "generic_captions"]
    assert [e["agree"] for e in out["baselines"]] == [False, True, True]
    assert out["count"] == {"5x": {"agree": 2, "of": 3}}
