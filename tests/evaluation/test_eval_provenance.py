"""``salmubench eval`` of unlearned model folders keeps their provenance (unlearn.json), so a leaderboard
over CLI evaluations ranks several seeds and methods (issue 21, item 3)."""

from __future__ import annotations

import json

import pytest

from salmubench.cli.main import main
from salmubench.evaluation.results import read_result
from salmubench.io_utils import read_json
from salmubench.unlearning.api import UNLEARN_FILE, unlearn

RUNS = (("finetune", 0), ("finetune", 1), ("neg_grad", 0))


@pytest.fixture(scope="module")
def cli_results(tiny_dataset_dir, tmp_path_factory):
    """Compromised / Clean stand-ins and three unlearned models (two seeds of finetune, one neg_grad),
    each evaluated with ``salmubench eval`` into ``results/<name>``."""
    import torch

    from salmubench.models import create_model, save_model

    root = tmp_path_factory.mktemp("provenance")
    for name, seed in (("compromised", 0), ("clean", 1)):
        save_model(create_model("salmu-test", seed=seed), root / "models" / name)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for method, seed in RUNS:
            unlearn(method, root / "models" / "compromised", tiny_dataset_dir, root / "models" / f"{method}-s{seed}",
                    budget=0.5, seed=seed, recipe=None, threads=1)
        for name in ("compromised", "clean", *(f"{m}-s{s}" for m, s in RUNS)):
            role = ["--role", name] if name in ("compromised", "clean") else []
            assert main(["eval", "--model", str(root / "models" / name), "--data", str(tiny_dataset_dir), "--out",
                         str(root / "results" / name), "--quiet", "--cache-dir", str(root / "cache"), *role]) == 0
    finally:
        torch.set_num_threads(before)
    return root


def test_eval_records_the_unlearn_json_provenance(cli_results):
    folder = cli_results / "models" / "finetune-s1"
    record = read_json(folder / UNLEARN_FILE)
    result = read_result(cli_results / "results" / "finetune-s1")
    run = result.run
    assert (run.method, run.budget, run.seed) == ("finetune", 0.5, 1) and run.recipe is None
    assert run.params == record["params"] and run.config_hash == record["config_hash"]
    assert run.cost == record["cost"] and run.record == str(folder / UNLEARN_FILE)
    assert run.recipe_fit == record.get("recipe_fit")
    assert result.cost.unlearn_seconds == record["cost"]["unlearn_seconds"]
    assert (result.cost.fwd_passes, result.cost.bwd_passes) == (record["cost"]["fwd_passes"], record["cost"]["bwd_passes"])
    assert result.model.role == "unlearned" and result.model.base_checkpoint_sha256 == record["base_checkpoint_sha256"]
    # references have no unlearn.json: their run block is empty, written as before
    ref = json.loads((cli_results / "results" / "compromised" / "result.json").read_text())
    assert ref["run"] == {"method": None, "budget": None, "seed": None, "params": {}, "config_hash": None,
                          "recipe": None}


def test_an_explicit_run_info_is_written_as_before(cli_results, tiny_dataset_dir, tmp_path):
    """The pipeline passes run_info: that path ignores unlearn.json and writes the same keys as before."""
    from salmubench.evaluation.evaluator import evaluate

    given = {"method": "finetune", "budget": 0.5, "seed": 1, "params": {"lr": 1.0}, "config_hash": "x", "recipe": None}
    evaluate(cli_results / "models" / "finetune-s1", tiny_dataset_dir, tmp_path, run_info=given,
             cache_dir=cli_results / "cache")
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["run"] == given
    assert data["cost"]["unlearn_seconds"] is None


def test_leaderboard_over_cli_evaluations_groups_seeds(cli_results, tmp_path):
    from salmubench.leaderboard import build_leaderboard

    lb = build_leaderboard([cli_results / "results"])
    methods = {r["name"]: r for r in lb["rows"][2:]}
    assert set(methods) == {"finetune@0.5x", "neg_grad@0.5x"}
    assert methods["finetune@0.5x"]["seeds"] == [0, 1] and methods["finetune@0.5x"]["n_results"] == 2
    assert methods["neg_grad@0.5x"]["seeds"] == [0]
    assert all(r["cost"]["unlearn_seconds"] is not None for r in methods.values())
    assert lb["gen_know_measured"] is True and lb["unmeasured"] == []  # the tiny data has a zeroshot split
    assert main(["leaderboard", str(cli_results / "results"), "--out", str(tmp_path / "lb"), "--quiet"]) == 0
    assert "finetune@0.5x (n=2)" in (tmp_path / "lb" / "leaderboard.md").read_text()
