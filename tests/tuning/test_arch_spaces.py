"""Tuning per architecture (issue 21): the space of a large-image architecture, ``tuned_on`` in the tune
and recipe files, and the refusal of an output folder tuned on another architecture."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest

from salmubench import recipes
from salmubench.cli.main import main
from salmubench.config import build_config
from salmubench.errors import ConfigError
from salmubench.models import model_architecture
from salmubench.tuning import search
from salmubench.tuning.spaces import LARGE_IMAGE_LRS, grid, method_space, size_class
from salmubench.unlearning.registry import get_method, method_names


@pytest.fixture(scope="module")
def vit():
    return model_architecture(arch="ViT-B-16")


def declared(method: str) -> list[dict]:
    space = get_method(method).search_space
    return [dict(zip(space, values, strict=True)) for values in itertools.product(*space.values())]


def test_the_32_px_grids_are_the_declared_ones(vit):
    small = [None, model_architecture(arch="salmu-tiny"), model_architecture(arch="salmu-test")]
    for method in method_names():
        assert all(grid(method, arch) == declared(method) for arch in small), method
    assert grid("multidelete") == [{"lr": v} for v in (1e-5, 3e-5, 1e-4, 2e-4, 3e-4, 4.5e-4)]  # as before issue 21
    assert size_class(vit) == "large" and size_class(small[1]) == size_class(None) == "small"


def test_a_224_px_architecture_searches_lr_from_1e_7_to_1e_5(vit):
    for method in method_names():
        cls, trials = get_method(method), grid(method, vit)
        if "lr" not in cls.search_space:
            assert trials == declared(method), method  # training-free knobs: unchanged
            continue
        assert sorted({t["lr"] for t in trials}) == LARGE_IMAGE_LRS == [1e-7, 3e-7, 1e-6, 3e-6, 1e-5], method
        others = {k: v for k, v in cls.search_space.items() if k != "lr"}
        assert all({k: t[k] for k in others} in [dict(zip(others, vs, strict=True))
                                                 for vs in itertools.product(*others.values())] for t in trials)
        assert len(trials) == len(LARGE_IMAGE_LRS) * len(declared(method)) // len(cls.search_space["lr"])
        for overrides in trials:
            build_config(cls.config_cls, overrides)


def test_a_method_may_declare_its_large_image_space(vit):
    class Declares:
        search_space = {"lr": [1e-4, 3e-4], "tau": [0.1]}
        search_space_by_arch = {"large": {"lr": [2e-7, 2e-6]}}

    assert method_space(Declares, vit) == ({"lr": [2e-7, 2e-6]}, "search_space_by_arch[large]")
    assert method_space(Declares, None) == ({"lr": [1e-4, 3e-4], "tau": [0.1]}, "search_space")


def test_tune_records_the_architecture_and_its_space(tune_setup, tmp_path, vit):
    assert tune_setup.arch == model_architecture(tune_setup.bundle)  # prepare() reads the Compromised model
    large = dataclasses.replace(tune_setup, arch=vit)  # the same references, as if they were 224 px
    result = search.tune_method(large, "neg_grad", tmp_path)
    assert result["grid"] == grid("neg_grad", vit) and result["tuned_on"] == vit
    assert result["search_space"]["size_class"] == "large" and result["search_space"]["rule"].startswith("search_space, lr")
    recipe = recipes.parse_recipe(search.write_recipes(tmp_path, large)["structured"].read_bytes(), "r")
    assert recipe.tuned_on.model_dump() == vit and recipe.tuning["search_space"] == "large"
    assert recipe.overrides_for("neg_grad")["lr"] in LARGE_IMAGE_LRS
    # the recipes of the 32-px setup in the same folder do not take the ViT record
    small = search.tune_method(tune_setup, "label_correction", tmp_path, space=[{"tau": 0.05}])
    assert small["search_space"] == {"rule": "given by the caller"} and small["tuned_on"] == tune_setup.arch
    mixed = recipes.parse_recipe(search.write_recipes(tmp_path, tune_setup)["structured"].read_bytes(), "r")
    assert sorted(mixed.methods) == ["label_correction"] and mixed.tuned_on.model_dump() == tune_setup.arch


def test_tune_refuses_an_out_folder_tuned_on_another_architecture(tune_models, tiny_dataset_dir, tmp_path, capsys):
    comp, clean = tune_models
    out = tmp_path / "tune"
    out.mkdir()
    (out / "recipe_structured@1x.json").write_text(json.dumps({"tuned_on": recipes.CODE_DEFAULTS_TUNED_ON}))
    with pytest.raises(ConfigError) as exc:
        search.tune("neg_grad", comp, clean, tiny_dataset_dir, out)
    message = str(exc.value)
    assert "\n" not in message and "recipe_structured@1x.json was tuned on salmu-tiny (32 px)" in message
    assert "not on this model's architecture salmu-test (32 px)" in message and "another output folder" in message
    assert not (out / "references.json").exists()  # refused before the models were loaded
    code = main(["tune", "--method", "neg_grad", "--model", str(comp), "--clean", str(clean), "--data",
                 str(tiny_dataset_dir), "--out", str(out), "--no-progress"])
    assert code == 2 and capsys.readouterr().err.count("\n") == 1
