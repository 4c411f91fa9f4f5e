"""Leaderboards of the authors' evaluator's files alone (evaluation_<model>.json, no result.json)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lb_factory import CLEAN, COMPROMISED, METHODS, write_run

from salmubench.cli.main import main
from salmubench.errors import ResultError
from salmubench.leaderboard import build_leaderboard
from salmubench.leaderboard.collect import load_results

EFFICACY = ("ret_fail", "assoc_str", "acs", "id_zsc", "core_assoc")
UTILITY = ("gen_know", "inter_id_sim", "intra_id_sim", "vis_id_int", "frag_sim")


def official_json(v: dict, n: int = 40, seed: int = 0, gen_know: dict | None = None) -> dict:
    """The original evaluator's schema (SALMUBENCH.md section 4), written by hand, with per-row arrays
    whose means are the headline values."""
    rng = np.random.default_rng(seed)
    scores = v["assoc_str"] + rng.normal(0, 0.02, n)
    scores += v["assoc_str"] - scores.mean()
    core = v["core_assoc"] + rng.normal(0, 0.02, n)
    core += v["core_assoc"] - core.mean()
    rr = np.full(n, v["ret_fail"])
    return {
        "efficacy": {"1.1_RetFail": {"R@1": v["ret_fail"] / 2, "MRR": v["ret_fail"], "outcomes": rr.tolist()},
                     "1.2_AssocStr": {"mean": v["assoc_str"], "scores": scores.tolist()},
                     "1.3_ACS": {"acs_accuracy": v["acs"]},
                     "1.4_IdZSC": {"identity_classification_accuracy": v["id_zsc"]},
                     "1.5_CoreAssoc": {"mean": v["core_assoc"], "scores": core.tolist()}},
        "utility": {"2.1_GenKnow": gen_know or {"ImageNet1k_Accuracy": v["gen_know"]},
                    "2.2_InterIdSim": {"mean": v["inter_id_sim"]}, "2.3_IntraIdSim": {"mean": v["intra_id_sim"]},
                    "2.4_VisIdInt": {"mean": v["vis_id_int"]}, "2.5_FragSim": {"mean": v["frag_sim"]}},
    }


def write_official(folder: Path, name: str, values: dict, **kw) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"evaluation_{name}.json"
    path.write_text(json.dumps(official_json(values, **kw)))
    return path


def expected_combined(v: dict) -> float:
    """Our score by its definition (docs/leaderboard.md, "Score"), computed here from scratch."""
    c, k = COMPROMISED, CLEAN
    e = [min(1, max(0, 1 - abs(v[m] - k[m]) / max(abs(c[m] - k[m]), 0.001))) for m in EFFICACY]
    u = [min(1, max(0, 1 - abs(v[m] - c[m]) / max(abs(c[m] - k[m]), 0.1 * abs(c[m]), 0.001))) for m in UTILITY]
    big_e, big_u = sum(e) / 5, sum(u) / 5
    return 2 * big_e * big_u / (big_e + big_u) if big_e + big_u else 0.0


@pytest.fixture
def official_dir(tmp_path) -> Path:
    """Four files of the authors' evaluator in nested folders, as they might be collected."""
    root = tmp_path / "official"
    write_official(root / "refs", "compromised", COMPROMISED, seed=1)
    write_official(root / "refs", "clean", CLEAN, seed=2)
    write_official(root / "methods", "finetune", METHODS["finetune"], seed=3)
    write_official(root / "methods", "shuffled_captions", METHODS["shuffled_captions"], seed=4)
    return root


def test_official_files_alone_are_ranked_by_our_score(official_dir):
    lb = build_leaderboard([official_dir])
    rows = {r["name"]: r for r in lb["rows"]}
    assert set(rows) == {"Compromised", "Clean", "finetune", "shuffled_captions"}
    assert rows["Compromised"]["role"] == "compromised" and rows["Clean"]["role"] == "clean"
    for name in ("finetune", "shuffled_captions"):
        assert rows[name]["values"] == pytest.approx(METHODS[name], abs=1e-12)
        assert rows[name]["scores"]["combined"] == pytest.approx(expected_combined(METHODS[name]), abs=1e-9)
    assert rows["finetune"]["r_at_1"] == pytest.approx(METHODS["finetune"]["ret_fail"] / 2)
    ranked = [r["name"] for r in lb["rows"][2:]]
    by_score = sorted(("finetune", "shuffled_captions"), key=lambda n: -expected_combined(METHODS[n]))
    assert ranked == by_score and [r["rank"] for r in lb["rows"][2:]] == [1, 2]
    assert "catastrophic" in rows["shuffled_captions"]["tags"]  # GenKnow 0.548 vs 0.638 (-14%)
    assert lb["protocol"]["name"] == "official" and lb["n_files"] == 4


def test_per_row_arrays_of_official_files_are_used_without_identities(official_dir):
    loaded = {x.result.model.name: x for x in load_results([official_dir])}
    item = loaded["finetune"]
    assert item.result.model.role == "unlearned" and item.result.model.checkpoint_sha256 is None
    assert item.rows["assoc_str"].mean() == pytest.approx(METHODS["finetune"]["assoc_str"])
    assert set(item.rows) == {"ret_fail", "assoc_str", "core_assoc"} and item.identities is None


def test_cli_leaderboard_of_official_files(official_dir, tmp_path, capsys):
    out = tmp_path / "lb"
    assert main(["leaderboard", str(official_dir), "--out", str(out), "--quiet"]) == 0
    lb = json.loads((out / "leaderboard.json").read_text())
    assert [r["name"] for r in lb["rows"]][:2] == ["Compromised", "Clean"] and len(lb["rows"]) == 4
    assert (out / "report.html").is_file()


def test_a_set_without_recognised_references_is_one_line_saying_how_to_name_them(tmp_path, capsys):
    root = tmp_path / "o"
    write_official(root, "vit_compromised_model", COMPROMISED)
    write_official(root, "clean", CLEAN)
    write_official(root, "finetune", METHODS["finetune"])
    with pytest.raises(ResultError, match="no Compromised reference among the official evaluator files"):
        build_leaderboard([root])
    assert main(["leaderboard", str(root), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "evaluation_compromised.json and evaluation_clean.json" in err
    (root / "evaluation_vit_compromised_model.json").rename(root / "evaluation_Compromised.json")
    assert {r["name"] for r in build_leaderboard([root])["rows"]} == {"Compromised", "Clean", "finetune"}


def test_gen_know_minus_one_falls_back_to_our_zeroshot_value(tmp_path):
    root = tmp_path / "o"
    write_official(root, "compromised", COMPROMISED,
                   gen_know={"ImageNet1k_Accuracy": -1, "salmubench_zeroshot_accuracy": 0.4})
    write_official(root, "clean", CLEAN, gen_know={"ImageNet1k_Accuracy": -1, "salmubench_zeroshot_accuracy": 0.41})
    write_official(root, "finetune", METHODS["finetune"],
                   gen_know={"ImageNet1k_Accuracy": -1, "salmubench_zeroshot_accuracy": 0.3})
    lb = build_leaderboard([root])
    rows = {r["name"]: r for r in lb["rows"]}
    assert rows["finetune"]["values"]["gen_know"] == 0.3 and lb["gen_know_source"] == ["zeroshot"]
    assert "catastrophic" in rows["finetune"]["tags"]  # 0.3 vs 0.4


def test_result_folders_keep_their_result_files_and_a_mix_is_refused(tmp_path, official_dir):
    run = write_run(tmp_path / "run", seeds=(0,))  # each result.json has an evaluation_x.json beside it
    lb = build_leaderboard([run])
    assert lb["n_files"] == 2 + len(METHODS) and lb["protocol"]["name"] == "salmubench"
    with pytest.raises(ResultError, match="mixed protocols"):
        build_leaderboard([run, official_dir])


def test_a_bad_official_file_is_one_line(tmp_path, capsys):
    root = tmp_path / "o"
    write_official(root, "compromised", COMPROMISED)
    write_official(root, "clean", CLEAN)
    data = official_json(METHODS["finetune"])
    del data["efficacy"]["1.3_ACS"]
    (root / "evaluation_broken.json").write_text(json.dumps(data))
    with pytest.raises(ResultError, match=r"evaluation_broken.json: missing efficacy.1.3_ACS \(ACS\)"):
        build_leaderboard([root])
    (root / "evaluation_broken.json").write_text('{"efficacy": {"1.1_RetFail": {"MRR": "high"}}}')
    assert main(["leaderboard", str(root), "--quiet"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_official_files_build_without_torch(official_dir):
    code = ("import sys\nfrom salmubench.leaderboard import build_leaderboard\n"
            f"build_leaderboard([{str(official_dir)!r}])\n"
            "heavy = sorted(m for m in ('torch', 'open_clip') if m in sys.modules)\nassert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
