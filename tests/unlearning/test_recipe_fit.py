"""Recipes and architectures (issue 21, item 2): what a recipe was tuned on, the refusal of a recipe made
for another architecture, ``none`` recorded as such, recipe files by path, and ``harness@vitb16``."""

from __future__ import annotations

import argparse
import hashlib
import json

import pytest

from salmubench import recipes
from salmubench.cli.main import main
from salmubench.cli.run_cmd import add_parser, build_run_config
from salmubench.config import build_config
from salmubench.errors import CheckpointError, ConfigError
from salmubench.io_utils import read_json
from salmubench.models import create_model, model_architecture
from salmubench.sequential.api import unlearn_sequential
from salmubench.training.config import train_config
from salmubench.unlearning.api import UNLEARN_FILE, unlearn
from salmubench.unlearning.job import check_recipe_fits, prepare_job
from salmubench.unlearning.registry import get_method

TUNED = ("structured@1x", "forget-retain@1x", "structured@5x", "forget-retain@5x")
HARNESS = {"lr": 1e-7, "weight_decay": 0.001, "forget_batch_size": 16, "retain_batch_size": 16}


def _recipe_file(path, tuned_on, methods):
    path.write_text(json.dumps({"schema": recipes.RECIPE_SCHEMA, "name": "structured@1x", "selection": "structured",
                                "budget": 1.0, "version": 1, "tuned_on": tuned_on,
                                "methods": {m: {"overrides": o} for m, o in methods.items()}}, indent=2))
    return path


def test_shipped_recipes_record_the_mini_preset_architecture():
    mini = model_architecture(arch=train_config("mini").arch)  # salmu-tiny, from open_clip's registered config
    assert mini == recipes.CODE_DEFAULTS_TUNED_ON and mini["name"] == "salmu-tiny" and mini["image_size"] == 32
    for name in TUNED:
        recipe = recipes.load_recipe(name)
        assert recipe.tuned_on.model_dump() == mini and recipe.tuned and not recipe.fixed_budget, name
    harness = recipes.load_recipe("harness@vitb16")
    assert harness.tuned_on.model_dump() == model_architecture(arch="ViT-B-16")
    assert harness.tuned_on.image_size == 224 and harness.tuned is False and harness.fixed_budget


def test_model_architecture_reads_the_config_not_the_weights(compromised_dir, tmp_path):
    expected = model_architecture(arch="salmu-test")
    assert expected["name"] == "salmu-test" and expected["image_size"] == 32 and len(expected["digest"]) == 16
    assert expected["digest"] != recipes.CODE_DEFAULTS_TUNED_ON["digest"]
    assert model_architecture(compromised_dir) == model_architecture(f"local-dir:{compromised_dir}") == expected
    assert model_architecture(create_model("salmu-test", seed=0)) == expected
    # a folder holding only a config without our provenance block: read, named by the registered config it equals
    config = json.loads((compromised_dir / "open_clip_config.json").read_text())
    config.pop("salmubench")
    (tmp_path / "released").mkdir()
    (tmp_path / "released" / "open_clip_config.json").write_text(json.dumps(config))
    assert model_architecture(tmp_path / "released") == expected
    # a bare checkpoint (never opened) with its architecture, a name or a config file
    weights = tmp_path / "open_clip_pytorch_model.bin"
    weights.write_bytes(b"not a checkpoint: never read")
    assert model_architecture(weights, arch="salmu-test") == expected
    vit_file = tmp_path / "my-vit.json"
    vit_file.write_text(json.dumps(create_model_cfg("ViT-B-16")))
    vit = model_architecture(weights, arch=str(vit_file))
    assert vit == {**model_architecture(arch="ViT-B-16"), "name": "my-vit"} and vit["image_size"] == 224
    with pytest.raises(CheckpointError, match="needs an architecture name"):
        model_architecture(weights)
    with pytest.raises(CheckpointError, match="model not found"):
        model_architecture(tmp_path / "missing")
    config["model_cfg"]["vision_cfg"]["image_size"] = 64  # another config: another digest, no name
    (tmp_path / "released" / "open_clip_config.json").write_text(json.dumps(config))
    other = model_architecture(tmp_path / "released")
    assert other["digest"] != expected["digest"] and other["name"] is None and other["image_size"] == 64


def create_model_cfg(name: str) -> dict:
    import open_clip

    return open_clip.get_model_config(name)


@pytest.mark.parametrize("spec", ["default", "structured@1x"])
def test_unlearn_refuses_a_recipe_of_another_architecture_in_one_line(spec, compromised_dir, unlearn_data_dir,
                                                                      tmp_path, capsys):
    out = tmp_path / "refused"
    with pytest.raises(ConfigError) as exc:
        unlearn("finetune", compromised_dir, unlearn_data_dir, out, recipe=spec)
    message = str(exc.value)
    assert "\n" not in message and "recipe " in message and "structured@1x" in message
    assert "was tuned on salmu-tiny (32 px), not on this model's architecture salmu-test (32 px)" in message
    assert "recipe file path.json" in message and "'none'" in message and "--" not in message
    assert not out.exists()  # refused before anything ran or was written
    with pytest.raises(ConfigError, match="salmu-test \\(32 px\\)"):  # sequential: the same check
        unlearn_sequential("finetune", compromised_dir, unlearn_data_dir, out, requests=2, recipe=spec)
    code = main(["unlearn", "--method", "finetune", "--model", str(compromised_dir), "--data", str(unlearn_data_dir),
                 "--out", str(out), "--recipe", spec, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "salmu-tiny (32 px)" in err and "salmu-test (32 px)" in err


def test_default_without_a_shipped_recipe_refuses_too(compromised_dir, unlearn_data_dir, tmp_path):
    # budget 0.5: no structured@0.5x is shipped, so default means the code defaults, tuned on salmu-tiny
    with pytest.raises(ConfigError, match=r"recipe default \(the code defaults: no recipe is shipped at budget 0.5\)"
                                          r" was tuned on salmu-tiny \(32 px\)"):
        unlearn("neg_grad", compromised_dir, unlearn_data_dir, tmp_path / "x", budget=0.5)
    # on the architecture they were tuned on, the default is the default (no recipe at 0.5: the code defaults)
    fit = check_recipe_fits("default", 0.5, None, arch="salmu-tiny")
    assert fit["fits"] is True and fit["recipe"] == "none"
    assert check_recipe_fits("default", 1.0, None, arch="salmu-tiny")["recipe"] == "structured@1x"


def test_none_runs_and_records_that_the_code_defaults_were_tuned_elsewhere(compromised_dir, unlearn_data_dir,
                                                                          tmp_path, capsys):
    out = unlearn("neg_grad", compromised_dir, unlearn_data_dir, tmp_path / "none", budget=0.5, recipe="none",
                  threads=1)
    record = read_json(out / UNLEARN_FILE)
    assert record["recipe"] is None
    assert record["recipe_fit"] == {"recipe": "none", "tuned_on": recipes.CODE_DEFAULTS_TUNED_ON,
                                    "model": model_architecture(compromised_dir), "fits": False,
                                    "note": "code defaults tuned on salmu-tiny@32px, not on salmu-test (32 px)"}
    # the check is recorded, not hashed: None and "none" are one run (the second call is skipped)
    mtime = (out / "open_clip_model.safetensors").stat().st_mtime_ns
    unlearn("neg_grad", compromised_dir, unlearn_data_dir, tmp_path / "none", budget=0.5, recipe=None, threads=1)
    assert (out / "open_clip_model.safetensors").stat().st_mtime_ns == mtime
    job = prepare_job("neg_grad", tmp_path / "j", 0.5, recipe=None, model=compromised_dir)
    assert job.recipe_fit == record["recipe_fit"] and "recipe_fit" not in job.identity("sha", "fp")
    seq = unlearn_sequential("neg_grad", compromised_dir, unlearn_data_dir, tmp_path / "seq", requests=2,
                             budget=0.5, recipe=None, evaluate_steps=False, threads=1)
    assert read_json(seq / UNLEARN_FILE)["recipe_fit"] == record["recipe_fit"]
    capsys.readouterr()
    assert main(["unlearn", "--method", "neg_grad", "--model", str(compromised_dir), "--data", str(unlearn_data_dir),
                 "--out", str(tmp_path / "none"), "--budget", "0.5", "--recipe", "none", "--no-progress"]) == 0
    assert "note: code defaults tuned on salmu-tiny@32px, not on salmu-test (32 px)" in capsys.readouterr().out


def test_a_recipe_file_made_for_the_model_is_used_and_recorded(compromised_dir, unlearn_data_dir, tmp_path, capsys):
    (tmp_path / "tuned").mkdir()
    path = _recipe_file(tmp_path / "tuned" / "recipe_structured@1x.json", model_architecture(compromised_dir),
                        {"neg_grad": {"lr": 2.5e-4}})
    out = unlearn("neg_grad", compromised_dir, unlearn_data_dir, tmp_path / "file", budget=0.5, recipe=str(path),
                  threads=1)
    record = read_json(out / UNLEARN_FILE)
    assert record["params"]["lr"] == 2.5e-4
    assert record["recipe"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["recipe"]["covers_method"] is True
    assert record["recipe_fit"]["fits"] is True and record["recipe_fit"]["path"] == str(path.resolve())
    # the same recipe made for salmu-tiny is refused, naming the file and both architectures
    other = _recipe_file(tmp_path / "tiny.json", recipes.CODE_DEFAULTS_TUNED_ON, {"neg_grad": {"lr": 2.5e-4}})
    with pytest.raises(ConfigError, match=r"recipe file .*tiny\.json \(structured@1x\) was tuned on salmu-tiny "
                                          r"\(32 px\), not on this model's architecture salmu-test \(32 px\)"):
        unlearn("neg_grad", compromised_dir, unlearn_data_dir, tmp_path / "x", budget=0.5, recipe=str(other))
    with pytest.raises(ConfigError, match="recipe file .*missing.json: not found"):
        recipes.resolve_for(str(tmp_path / "missing.json"), 1.0)
    (tmp_path / "bad.json").write_text('{"schema": "salmubench.recipe/1"}')
    with pytest.raises(ConfigError, match="bad.json: not a valid recipe"):
        recipes.resolve_for(str(tmp_path / "bad.json"), 1.0)
    # salmubench run: a recipe file fixes the budget (its own) and names the run folder
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    cfg = build_run_config(parser.parse_args(["run", "--recipe", str(path)]))
    assert cfg.budgets == (1.0,) and cfg.recipe == str(path) and cfg.out == "runs/mini_recipe_structured@1x"


def test_harness_recipe_maps_the_published_settings_onto_the_three_methods():
    recipe = recipes.resolve_for("harness@vitb16", 10.0)
    assert recipe.name == "harness@vitb16" and recipe.budget == 10.0 and sorted(recipe.methods) == [
        "cliperase_salmu", "delete_salmu", "multidelete"]
    for method in recipe.methods:
        cfg = build_config(get_method(method).config_cls, recipes.method_overrides(recipe, method, None))
        assert {k: getattr(cfg, k) for k in HARNESS} == HARNESS, method
        assert cfg.warmup_fraction > 0  # linear warm-up then cosine: the shared runner's schedule
    assert recipes.budget_of("harness@vitb16") == 10.0
    with pytest.raises(ConfigError, match="recipe harness@vitb16 is for budget 10 only"):
        recipes.resolve_for("harness@vitb16", 1.0)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    cfg = build_run_config(parser.parse_args(["run", "--recipe", "harness@vitb16"]))
    assert cfg.budgets == (10.0,) and cfg.out == "runs/mini_harness@vitb16"
    vit = model_architecture(arch="ViT-B-16")
    fit = recipes.check_fit("harness@vitb16", 10.0, vit)
    assert fit["fits"] is True and "untuned" in fit["note"]
    with pytest.raises(ConfigError, match=r"was tuned on ViT-B-16 \(224 px\), not on this model's architecture "
                                          r"salmu-tiny \(32 px\)"):
        check_recipe_fits("harness@vitb16", 10.0, None, arch="salmu-tiny")


def test_default_on_a_vit_b_16_refuses_and_points_to_the_harness_recipe():
    vit = model_architecture(arch="ViT-B-16")
    for budget in (1.0, 10.0):  # a shipped default recipe, and the code defaults
        with pytest.raises(ConfigError) as exc:
            recipes.check_fit("default", budget, vit)
        message = str(exc.value)
        assert "not on this model's architecture ViT-B-16 (224 px)" in message
        assert "shipped: harness@vitb16 (budget 10 only)" in message and "'none'" in message
    fit = recipes.check_fit("none", 10.0, vit)
    assert fit["fits"] is False and fit["note"] == "code defaults tuned on salmu-tiny@32px, not on ViT-B-16 (224 px)"
