"""Collecting and validating result files; grouping, CIs, ranking and outputs."""

import csv
import io
import json

import numpy as np
import pytest
from lb_factory import CLEAN, COMPROMISED, METHODS, make_result, write, write_run

from salmubench.errors import ResultError
from salmubench.leaderboard import build_leaderboard, rebuild, to_csv
from salmubench.leaderboard.collect import load_results


def test_refuses_mixed_protocol_versions(run_dir):
    write(run_dir, "results/odd", make_result(METHODS["finetune"], method="x", budget=1, seed=0, version="2.0"))
    with pytest.raises(ResultError, match="mixed protocols"):
        build_leaderboard([run_dir])


def test_refuses_mixed_protocol_hashes(run_dir):
    write(run_dir, "results/odd", make_result(METHODS["finetune"], method="x", budget=1, seed=0, phash="0" * 16))
    with pytest.raises(ResultError, match="mixed protocols"):
        build_leaderboard([run_dir])


def test_refuses_mixed_dataset_fingerprints(run_dir):
    write(run_dir, "results/odd", make_result(METHODS["finetune"], method="x", budget=1, seed=0, fingerprint="e" * 64))
    with pytest.raises(ResultError, match="mixed dataset fingerprints"):
        build_leaderboard([run_dir])


def test_refuses_missing_metric(run_dir):
    vals = {k: v for k, v in METHODS["finetune"].items() if k != "frag_sim"}
    write(run_dir, "results/odd", make_result(vals, method="x", budget=1, seed=0))
    with pytest.raises(ResultError, match="missing metric"):
        build_leaderboard([run_dir])


@pytest.mark.parametrize("role", ["compromised", "clean"])
def test_refuses_without_reference(run_dir, role):
    (run_dir / "results" / role / "result.json").unlink()
    with pytest.raises(ResultError, match=f"no {role.capitalize()} reference"):
        build_leaderboard([run_dir])


def test_refuses_two_different_references_and_conflicting_seeds(tmp_path, run_dir):
    other = tmp_path / "other"
    write(other, "results/clean", make_result(dict(CLEAN, ret_fail=0.01), role="clean", sha="e" * 64))
    with pytest.raises(ResultError, match="two different Clean references"):
        build_leaderboard([run_dir, other])
    write(run_dir, "results/dup", make_result(METHODS["finetune"], method="finetune", budget=5.0, seed=0,
                                              sha="9" * 64))
    with pytest.raises(ResultError, match="two different results for finetune@5x seed 0"):
        build_leaderboard([run_dir])


def test_refuses_unlearned_from_another_base(run_dir):
    write(run_dir, "results/odd", make_result(METHODS["finetune"], method="x", budget=1, seed=0, base="0" * 64))
    with pytest.raises(ResultError, match="not from the Compromised"):
        build_leaderboard([run_dir])


def test_refuses_empty_or_missing_dirs(tmp_path):
    with pytest.raises(ResultError, match="no result.json"):
        build_leaderboard([tmp_path])
    with pytest.raises(ResultError, match="no such run dir"):
        build_leaderboard([tmp_path / "nope"])


def test_merge_of_two_run_dirs_deduplicates_identical_references(tmp_path):
    a = write_run(tmp_path / "a", seeds=(0,))
    b = write_run(tmp_path / "b", seeds=(1,))
    lb = build_leaderboard([a, b])
    ft = next(r for r in lb["rows"] if r["name"] == "finetune@5x")
    assert ft["seeds"] == [0, 1] and lb["n_files"] == 14
    assert [r["role"] for r in lb["rows"][:2]] == ["compromised", "clean"]


def test_means_cis_and_ranking(run_dir):
    lb = build_leaderboard([run_dir])
    rows = {r["name"]: r for r in lb["rows"]}
    ft = rows["finetune@5x"]
    loaded = {(x.result.run.method, x.seed): x for x in load_results([run_dir])}
    for key in ("ret_fail", "assoc_str", "acs"):
        per_seed = [loaded[("finetune", s)].result.value(key) for s in (0, 1)]
        assert ft["values"][key] == pytest.approx(np.mean(per_seed))
        assert ft["ci"][key]["lo"] <= ft["values"][key] <= ft["ci"][key]["hi"]
    assert ft["ci"]["assoc_str"]["method"] == "identity-bootstrap"
    assert ft["ci"]["acs"]["method"] == "seed-bootstrap"
    # identity effects dominate the per-row assoc scores, so its CI is wider than the seed spread
    assert ft["ci"]["assoc_str"]["hi"] - ft["ci"]["assoc_str"]["lo"] > 0.01
    assert rows["Compromised"]["rank"] is None and rows["Clean"]["rank"] is None
    ranked = [r for r in lb["rows"] if r["rank"]]
    assert [r["rank"] for r in ranked] == sorted(r["rank"] for r in ranked)
    assert all(a["scores"]["combined"] >= b["scores"]["combined"] for a, b in zip(ranked, ranked[1:], strict=False))
    assert rows["generic_captions@5x"]["tags"] == ["ineffective"]
    assert rows["direct_sim_min@5x"]["tags"] == ["catastrophic", "over-generalised"]
    assert rows["finetune@5x"]["per_attribute"]["assoc_str"].keys() == {"city", "job", "phone", "email"}
    assert rows["finetune@5x"]["hist"] and sum(rows["finetune@5x"]["hist"]["density"]) == pytest.approx(1)


def test_rows_are_used_only_when_they_reproduce_the_headline(run_dir):
    off = run_dir / "results" / "finetune@5x-s0" / "evaluation_x.json"
    data = json.loads(off.read_text())
    data["efficacy"]["1.2_AssocStr"]["scores"] = [0.9] * len(data["efficacy"]["1.2_AssocStr"]["scores"])
    off.write_text(json.dumps(data))
    lb = build_leaderboard([run_dir])
    ft = next(r for r in lb["rows"] if r["name"] == "finetune@5x")
    assert ft["ci"]["assoc_str"]["method"] == "seed-bootstrap"
    assert any("finetune@5x assoc_str" in n for n in lb["notes"])


def test_csv_and_json_outputs(run_dir, tmp_path):
    lb, paths = rebuild([run_dir], tmp_path / "out")
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert [r["name"] for r in rows] == [r["name"] for r in lb["rows"]]
    assert float(rows[0]["ret_fail"]) == COMPROMISED["ret_fail"] and rows[0]["rank"] == ""
    assert json.loads(paths["json"].read_text())["rows"][2]["name"] == lb["rows"][2]["name"]
    assert to_csv(lb) == paths["csv"].read_text()


def test_seeds_group_by_method_budget_and_params(tmp_path):
    run = write_run(tmp_path / "run", seeds=(0, 1), rows=False)
    # per-seed run config hashes differ (they include the seed); the params are what groups
    for i, res_path in enumerate(sorted(run.glob("results/finetune@5x-s*/result.json"))):
        data = json.loads(res_path.read_text())
        data["run"]["params"] = {"lr": 1e-5}
        data["run"]["config_hash"] = f"seedhash{i}"
        res_path.write_text(json.dumps(data))
    other = make_result(METHODS["finetune"], method="finetune", budget=5.0, seed=0, sha="7" * 64)
    other.run.params = {"lr": 1e-3}
    write(run, "results/finetune-lr", other)
    names = [r["name"] for r in build_leaderboard([run])["rows"]]
    ft = [n for n in names if n.startswith("finetune@5x")]
    assert len(ft) == 2 and all("[" in n for n in ft) and any("(n=2)" not in n for n in ft)
    lb = build_leaderboard([run])
    assert sorted(len(r["seeds"]) for r in lb["rows"] if r["name"].startswith("finetune")) == [1, 2]


def _recipe(name: str) -> dict:
    selection, _, budget = name.partition("@")
    return {"name": name, "selection": selection, "budget": float(budget.rstrip("x")), "version": 1, "sha256": "0"}


def test_mixed_recipes_are_refused_unless_allowed(tmp_path):
    import pytest
    from lb_factory import METHODS, make_result, write

    from salmubench.errors import ResultError
    from salmubench.leaderboard import build_leaderboard

    run = write_run(tmp_path / "run", seeds=(0,), rows=False)
    recipes = {"finetune": "structured@5x", "delete_salmu": "structured@1x", "shuffled_captions": "forget-retain@5x"}
    for i, method in enumerate(METHODS):
        name = recipes.get(method)
        budget = float(name.partition("@")[2].rstrip("x")) if name else 5.0
        res = make_result(METHODS[method], method=method, budget=budget, seed=0, name=f"{method}/s0",
                          sha=f"{i}0".ljust(64, "0"), recipe=_recipe(name) if name else None)
        write(run, f"results/{method}@5x-s0", res)
    with pytest.raises(ResultError, match="allow_mixed_recipes=True"):
        build_leaderboard([run])
    lb = build_leaderboard([run], allow_mixed_recipes=True)
    names = {r["method"]: r["name"] for r in lb["rows"][2:]}
    assert names["shuffled_captions"] == "shuffled_captions@5x [forget-retain@5x]"
    assert names["direct_sim_min"] == "direct_sim_min@5x [none]"
    assert lb["mixed_recipes"] and lb["recipes"] == ["forget-retain@5x", "none", "structured@1x", "structured@5x"]


def test_one_protocol_at_two_budgets_is_one_family(tmp_path):
    from lb_factory import METHODS, make_result, write

    from salmubench.leaderboard import build_leaderboard

    run = write_run(tmp_path / "run", seeds=(0,), rows=False)
    for i, method in enumerate(METHODS):
        budget = 1.0 if i % 2 else 5.0
        res = make_result(METHODS[method], method=method, budget=budget, seed=0, name=f"{method}/s0",
                          sha=f"{i}0".ljust(64, "0"), recipe=_recipe(f"structured@{budget:g}x"))
        write(run, f"results/{method}@5x-s0", res)
    lb = build_leaderboard([run])
    assert not lb["mixed_recipes"] and lb["recipes"] == ["structured@1x", "structured@5x"]
