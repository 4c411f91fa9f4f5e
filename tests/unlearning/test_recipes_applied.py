"""Recipes: resolution rules, and that ``unlearn`` / ``run`` apply and record them (docs/tuning.md)."""

from __future__ import annotations

import json

import pytest

from salmubench import recipes
from salmubench.cli.main import main
from salmubench.cli.run_cmd import add_parser, build_run_config
from salmubench.errors import ConfigError
from salmubench.io_utils import read_json
from salmubench.unlearning.api import UNLEARN_FILE


def _recipe(name: str, methods: dict) -> dict:
    selection, _, budget = name.partition("@")
    return {"schema": recipes.RECIPE_SCHEMA, "name": name, "selection": selection,
            "budget": float(budget.removesuffix("x")), "version": 1,
            "methods": {m: {"overrides": o} for m, o in methods.items()}}


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """Replace the package's recipe files by two hand-made ones."""
    folder = tmp_path / "recipes"
    folder.mkdir()
    files = {}
    for name, methods in {"structured@1x": {"finetune": {"lr": 3e-4, "retain_batch_size": 8}},
                          "forget-retain@5x": {"finetune": {"lr": 1e-5}}}.items():
        files[name] = folder / f"{name}.json"
        files[name].write_text(json.dumps(_recipe(name, methods)))
    monkeypatch.setattr(recipes, "_files", lambda: dict(files))
    recipes.load_recipe.cache_clear()
    yield files
    recipes.load_recipe.cache_clear()


def test_resolution_rules(shipped):
    assert recipes.resolve_for("default", 1.0).name == "structured@1x"
    assert recipes.resolve_for("default", 2.0) is None  # no structured@2x shipped: code defaults
    assert recipes.resolve_for("none", 1.0) is None and recipes.resolve_for(None, 5.0) is None
    assert recipes.resolve_for("forget-retain", 5.0).name == "forget-retain@5x"
    assert recipes.resolve_for("forget-retain@5x", 1.0).name == "forget-retain@5x"  # a full name wins
    with pytest.raises(ConfigError, match="unknown recipe 'forget-retain@1x'"):
        recipes.resolve_for("forget-retain", 1.0)
    overrides, record = recipes.apply("default", "finetune", 1.0, {"lr": 1e-3})
    assert overrides == {"lr": 1e-3, "retain_batch_size": 8}  # the user's --set wins over the recipe
    assert record["name"] == "structured@1x" and record["covers_method"] and len(record["sha256"]) == 64
    assert recipes.apply("default", "npo", 1.0, None) == ({}, {**record, "covers_method": False})


def test_unlearn_applies_and_records_the_recipe(shipped, compromised_dir, unlearn_data_dir, tmp_path, capsys):
    base = ["unlearn", "--method", "finetune", "--model", str(compromised_dir), "--data", str(unlearn_data_dir),
            "--budget", "0.5", "--threads", "1", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "a"), "--recipe", "structured@1x"]) == 0
    assert "recipe structured@1x" in capsys.readouterr().out
    a = read_json(tmp_path / "a" / UNLEARN_FILE)
    assert a["params"]["lr"] == 3e-4 and a["params"]["retain_batch_size"] == 8
    assert a["recipe"]["name"] == "structured@1x" and a["recipe"]["covers_method"] is True
    assert main([*base, "--out", str(tmp_path / "b"), "--recipe", "none"]) == 0
    b = read_json(tmp_path / "b" / UNLEARN_FILE)
    assert b["recipe"] is None and b["params"]["lr"] != 3e-4 and b["config_hash"] != a["config_hash"]
    assert main([*base, "--out", str(tmp_path / "c"), "--recipe", "holdout@1x"]) == 2
    assert "unknown recipe" in capsys.readouterr().err


def test_run_recipe_sets_budget_and_out_dir(shipped):
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    cfg = build_run_config(parser.parse_args(["run", "--recipe", "forget-retain@5x"]))
    assert cfg.budgets == (5.0,) and cfg.recipe == "forget-retain@5x" and cfg.out == "runs/mini_forget-retain@5x"
    cfg = build_run_config(parser.parse_args(["run"]))
    assert cfg.budgets == (1.0,) and cfg.recipe == "default" and cfg.out == "runs/mini"
    cfg = build_run_config(parser.parse_args(["run", "--recipe", "none", "--budgets", "1,5"]))
    assert cfg.recipe is None and cfg.budgets == (1.0, 5.0)
