"""`salmubench run` on given references and data (the real tier): no generation, no training, the same
pipeline after that, its own run folder (pipeline/given.py). Fake stage functions after the inputs are
resolved; the inputs themselves are real (a dataset and two model folders made here)."""

from __future__ import annotations

import json

import pytest

from salmubench.errors import ConfigError
from salmubench.models import create_model, save_model
from salmubench.pipeline import RunConfig, run_benchmark


@pytest.fixture(scope="module")
def given_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("given-models")
    for kind, seed in (("compromised", 1), ("clean", 2)):
        save_model(create_model("salmu-test", seed=seed), root / kind)
    return root


def given_cfg(tmp_path, data, models, **kw):
    kw.setdefault("out", str(tmp_path / "run"))
    kw.setdefault("recipe", None)  # the shipped recipes were tuned on salmu-tiny, these models are salmu-test
    return RunConfig(data=str(data), compromised=str(models / "compromised"), clean=str(models / "clean"),
                     budgets=(5.0,), **kw)


def test_a_given_run_skips_generation_and_training_and_reads_the_given_models(tmp_path, tiny_dataset_dir,
                                                                             given_models, fakes):
    report = run_benchmark(given_cfg(tmp_path, tiny_dataset_dir, given_models), fakes.fns())
    assert report.ok
    ids = [s.id for s in report.statuses]
    assert ids[:3] == ["data", "ref-compromised", "ref-clean"] and not any(i.startswith("train-") for i in ids)
    assert fakes.calls["generate"] == 0 and not any(k.startswith("train:") for k in fakes.calls)
    assert str(given_models / "compromised") in fakes.model_dirs and str(given_models / "clean") in fakes.model_dirs
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["tier"] == "given" and run["given"]["data"]["root"] == str(tiny_dataset_dir.resolve())
    shas = {r: m["checkpoint_sha256"] for r, m in run["given"]["models"].items()}
    assert len(set(shas.values())) == 2 and all(len(s) == 64 for s in shas.values())
    assert not (tmp_path / "run" / "data").exists() and not (tmp_path / "run" / "models" / "compromised").exists()
    assert (tmp_path / "run" / "leaderboard.md").is_file()
    again = run_benchmark(given_cfg(tmp_path, tiny_dataset_dir, given_models), fakes.fns())
    assert {s.state for s in again.statuses} == {"cached"}


def test_another_checkpoint_is_another_run(tmp_path, tiny_dataset_dir, given_models, fakes):
    run_benchmark(given_cfg(tmp_path, tiny_dataset_dir, given_models), fakes.fns())
    other = tmp_path / "other"
    save_model(create_model("salmu-test", seed=3), other / "compromised")
    (other / "clean").symlink_to(given_models / "clean")
    report = run_benchmark(given_cfg(tmp_path, tiny_dataset_dir, other), fakes.fns())
    state = {s.id: s.state for s in report.statuses}
    assert state["ref-compromised"] == "done" and state["ref-clean"] == "cached"
    assert state["eval-clean"] == "done"  # its key reads the Compromised reference (the KS and data chain)


def test_the_default_folder_is_named_after_the_data_and_tiers_never_share_one(tmp_path, tiny_dataset_dir,
                                                                              given_models, fakes, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = run_benchmark(given_cfg(tmp_path, tiny_dataset_dir, given_models, out=None), fakes.fns())
    fingerprint = json.loads((report.run_dir / "run.json").read_text())["given"]["data"]["fingerprint"]
    assert report.run_dir == (tmp_path / "runs" / f"given-{fingerprint[:8]}").resolve()
    run_benchmark(RunConfig(out=str(tmp_path / "embedded"), budgets=(5.0,), attacks=False), fakes.fns())
    with pytest.raises(ConfigError, match="holds a run of the embedded tier"):
        run_benchmark(given_cfg(tmp_path, tiny_dataset_dir, given_models, out=str(tmp_path / "embedded")),
                      fakes.fns())


def test_arch_and_imagenet_reach_the_stages_that_need_them(tmp_path, tiny_dataset_dir, given_models, fakes):
    cfg = given_cfg(tmp_path, tiny_dataset_dir, given_models, imagenet=str(tmp_path / "imagenet"), arch="salmu-test")
    assert run_benchmark(cfg, fakes.fns()).ok
    by_stage = {e["stage"]: e for e in fakes.extra}
    assert by_stage["eval:compromised"] == {"stage": "eval:compromised", "arch": "salmu-test",
                                           "imagenet": str(tmp_path / "imagenet")}
    assert by_stage["unlearn:finetune"].get("arch") == "salmu-test"
    assert by_stage["eval:finetune@5x/s0"] == {"stage": "eval:finetune@5x/s0", "imagenet": str(tmp_path / "imagenet")}
    assert by_stage["attack:compromised"].get("arch") == "salmu-test"


@pytest.mark.parametrize("kw,message", [
    ({"compromised": None}, "data, compromised and clean go together"),
    ({"data": None, "compromised": None, "clean": None, "arch": "ViT-B-16"}, "arch is for given"),
])
def test_incomplete_given_inputs_are_one_line_errors(tmp_path, tiny_dataset_dir, given_models, kw, message):
    from pydantic import ValidationError

    args = {"data": str(tiny_dataset_dir), "compromised": str(given_models / "compromised"),
            "clean": str(given_models / "clean"), **kw}
    with pytest.raises(ValidationError, match=message):
        RunConfig(out=str(tmp_path / "run"), **args)


def test_a_recipe_of_another_architecture_is_refused_before_anything_is_written(tmp_path, tiny_dataset_dir,
                                                                               given_models, fakes):
    for recipe in ("default", "structured@1x"):
        with pytest.raises(ConfigError, match=r"was tuned on salmu-tiny \(32 px\), not on this model's architecture "
                                              r"salmu-test"):
            run_benchmark(given_cfg(tmp_path, tiny_dataset_dir, given_models, recipe=recipe), fakes.fns())
    assert not (tmp_path / "run").exists() and not fakes.calls


def test_an_embedded_preset_runs_the_recipe_made_for_its_architecture(tmp_path, fakes):
    from salmubench.pipeline.runner import run_recipe

    assert run_recipe(RunConfig(preset="mini")) == "default"  # the shipped recipes' architecture
    assert run_recipe(RunConfig(preset="tiny")) == "none"  # salmu-test: no recipe was tuned on it
    assert run_recipe(RunConfig(preset="tiny", recipe="forget-retain")) == "forget-retain"  # as given: checked
    with pytest.raises(ConfigError, match="not on this model's architecture salmu-test"):
        run_benchmark(RunConfig(preset="tiny", recipe="forget-retain", out=str(tmp_path / "t"), budgets=(1.0,)),
                      fakes.fns())
    report = run_benchmark(RunConfig(preset="tiny", out=str(tmp_path / "t"), budgets=(1.0,), attacks=False),
                           fakes.fns())
    assert report.ok and json.loads((tmp_path / "t" / "run.json").read_text())["recipe"] == "none"


def test_missing_given_inputs_fail_before_anything_is_written(tmp_path, tiny_dataset_dir, given_models, fakes):
    from salmubench.errors import SalmuError

    with pytest.raises(SalmuError, match="model not found"):
        run_benchmark(given_cfg(tmp_path, tiny_dataset_dir, tmp_path / "nope"), fakes.fns())
    with pytest.raises(SalmuError, match="not found"):
        run_benchmark(given_cfg(tmp_path, tmp_path / "no-data", given_models), fakes.fns())
    assert not (tmp_path / "run").exists()
