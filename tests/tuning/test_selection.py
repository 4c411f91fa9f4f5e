"""Selection protocols (structured vs forget-retain), recipe files and Pareto data (docs/tuning.md)."""

from __future__ import annotations

import json

import pytest

from salmubench import recipes
from salmubench.cli.main import main
from salmubench.errors import ConfigError
from salmubench.tuning import search
from salmubench.tuning.selection import SELECTIONS, score_proxies

COMP = {"ret_fail": 0.6, "assoc_str": 0.9, "gen_know": 0.5, "inter_id_sim": 0.9, "intra_id_sim": 0.9,
        "retain_sim": 0.8}
CLEAN = {"ret_fail": 0.0, "assoc_str": 0.4, "gen_know": 0.5, "inter_id_sim": 0.4, "intra_id_sim": 0.4,
         "retain_sim": 0.8}


def test_forget_retain_does_not_see_the_holdout_stand_ins():
    # forgets fully, keeps GenKnow and retain pairs, wipes the other people's associations
    overgeneralised = {**CLEAN, "inter_id_sim": 0.0, "intra_id_sim": 0.0}
    fr = score_proxies(overgeneralised, COMP, CLEAN, "forget-retain")
    st = score_proxies(overgeneralised, COMP, CLEAN, "structured")
    assert fr["efficacy"] == st["efficacy"] == 1.0
    assert fr["utility"] == 1.0 and fr["score"] == 1.0
    assert st["utility"] == pytest.approx(1 / 3)  # only GenKnow survives among three
    assert set(k for k in fr if k.startswith("s_")) == {"s_ret_fail", "s_assoc_str", "s_gen_know", "s_retain_sim"}


def test_retain_sim_counts_only_under_forget_retain():
    hurt = {**COMP, "retain_sim": 0.4}  # retain similarity halved, everything else Compromised-like
    assert score_proxies(hurt, COMP, CLEAN, "structured")["utility"] == 1.0
    assert score_proxies(hurt, COMP, CLEAN, "forget-retain")["utility"] == 0.5


def test_unknown_selection_is_a_config_error():
    with pytest.raises(ConfigError, match="forget-retain"):
        score_proxies(COMP, COMP, CLEAN, "holdout")


def test_choose_by_selection_differs_when_the_protocols_disagree():
    def trial(st, fr):
        return {"scores": {"score": st}, "cost": {"fwd_passes": 1, "bwd_passes": 0},
                "scores_by_selection": {"structured": {"score": st}, "forget-retain": {"score": fr}}}

    trials = [trial(0.7, 0.6), trial(0.5, 0.9)]
    assert search.choose(trials, "structured") == 0
    assert search.choose(trials, "forget-retain") == 1


def test_pareto_front_known_answer():
    points = [[0.1, 0.9], [0.5, 0.5], [0.4, 0.4], [0.9, 0.1], [0.5, 0.5]]
    assert search.pareto_front(points) == [0, 1, 3, 4]  # [0.4, 0.4] is dominated; equal points both kept


def test_tune_records_both_protocols_and_writes_recipes(tune_setup, tmp_path):
    result = search.tune_method(tune_setup, "label_correction", tmp_path, space=[{"tau": 0.01}, {"tau": 0.5}])
    for sel in SELECTIONS:
        k = result["chosen_by_selection"][sel]["index"]
        assert k == search.choose(result["trials"], sel)
        assert result["chosen_by_selection"][sel]["scores"] == result["trials"][k]["scores_by_selection"][sel]
    paths = search.write_recipes(tmp_path, tune_setup)
    for sel, path in paths.items():
        recipe = recipes.parse_recipe(path.read_bytes(), str(path))
        assert recipe.name == f"{sel}@1x" and recipe.selection == sel and recipe.budget == 1.0
        assert recipe.overrides_for("label_correction") == result["chosen_by_selection"][sel]["overrides"]
        assert recipe.overrides_for("npo") is None
    pareto = json.loads((tmp_path / "pareto@1x.json").read_text())
    entry = pareto["methods"]["label_correction"]["selections"]["structured"]
    assert len(entry["points"]) == 2 and entry["chosen"] == result["chosen_by_selection"]["structured"]["index"]


def test_cli_tune_selection_flag(tune_models, tiny_dataset_dir, tmp_path, capsys):
    comp, clean = tune_models
    out = tmp_path / "tune"
    args = ["tune", "--method", "label_correction", "--model", str(comp), "--clean", str(clean),
            "--data", str(tiny_dataset_dir), "--out", str(out), "--no-progress"]
    assert main([*args, "--selection", "forget-retain"]) == 0
    record = json.loads((out / "tune_label_correction.json").read_text())
    assert record["selection"] == "forget-retain"
    assert record["chosen"]["index"] == record["chosen_by_selection"]["forget-retain"]["index"]
    assert (out / "recipe_forget-retain@1x.json").is_file() and (out / "recipe_structured@1x.json").is_file()
    capsys.readouterr()
    assert main([*args, "--selection", "holdout"]) == 2
    assert "forget-retain" in capsys.readouterr().err


def test_recipe_lookup_and_resolution(tmp_path):
    with pytest.raises(ConfigError, match="unknown recipe"):
        recipes.load_recipe("structured@3x")
    with pytest.raises(ConfigError, match="not a valid recipe"):
        recipes.parse_recipe(b'{"schema": "other"}', "x.json")
    assert recipes.resolve(None) is None and recipes.resolve(recipes.NO_RECIPE) is None
    recipe = recipes.Recipe.model_validate({"schema": recipes.RECIPE_SCHEMA, "name": "structured@1x",
                                            "selection": "structured", "budget": 1.0, "version": 1,
                                            "methods": {"npo": {"overrides": {"lr": 1e-3, "alpha": 2.0}}}})
    assert recipes.method_overrides(recipe, "npo", {"lr": 5e-4}) == {"lr": 5e-4, "alpha": 2.0}
    assert recipes.method_overrides(recipe, "scrub", None) == {}
    assert recipes.method_overrides(None, "npo", {"lr": 1.0}) == {"lr": 1.0}
