"""The fine-tuning attacks' constants: the rule that chooses them (attacks/calibration.py), the constants as
run parameters (attack(..., constants=...)), the record of where they were chosen, the refusal of references
of another architecture, and the calibration itself on the tiny references (a 1 x 1 / 2 x 1 grid)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from salmubench.attacks.api import attack
from salmubench.attacks.base import suite_hash
from salmubench.attacks.calibration import (
    DEFAULTS_CHOSEN_ON,
    SALMU_TEST,
    SALMU_TINY,
    calibrate,
    choose,
    resolve_constants,
)
from salmubench.attacks.results import read_attack
from salmubench.errors import ConfigError
from salmubench.evaluation.results import read_result, write_result
from salmubench.models import create_model, load_model, save_model
from salmubench.models.identity import arch_name_identity

REPO = Path(__file__).resolve().parents[2]


def rows_of(table: dict[tuple[float, int], tuple[float, float, float]], comp_r_before: float = 0.6,
            p_before: tuple[float, float] = (0.3, 0.01)) -> list[dict]:
    """Grid rows from ``{(lr, steps): (Clean R after, Compromised P after, Clean P after)}``."""
    rows = []
    for (lr, steps), (clean_r, comp_p, clean_p) in table.items():
        rows.append({"role": "compromised", "lr": lr, "steps": steps, "P_before": p_before[0], "P_after": comp_p,
                     "R_before": comp_r_before, "R_after": 0.9})
        rows.append({"role": "clean", "lr": lr, "steps": steps, "P_before": p_before[1], "P_after": clean_p,
                     "R_before": 0.01, "R_after": clean_r})
    return rows


def test_the_rule_takes_the_fewest_steps_then_the_smallest_lr():
    # gap before 0.29; Clean must reach 0.3 on R, the gap must stay >= 0.145
    table = {(1e-4, 5): (0.10, 0.28, 0.01), (3e-4, 5): (0.20, 0.25, 0.01),
             (1e-4, 10): (0.35, 0.20, 0.01), (3e-4, 10): (0.50, 0.18, 0.01),  # both meet it: the smaller lr
             (1e-4, 20): (0.60, 0.19, 0.01), (3e-4, 20): (0.70, 0.17, 0.01)}
    choice = choose(rows_of(table), lrs=[3e-4, 1e-4], steps=[20, 5, 10])
    assert (choice["lr"], choice["steps"], choice["satisfied"]) == (1e-4, 10, True)
    assert choice["gap_P_before"] == pytest.approx(0.29) and choice["gap_P_after"] == pytest.approx(0.19)
    # a larger lr that teaches R but collapses the gap does not count
    table[(1e-4, 10)] = (0.20, 0.20, 0.01)
    table[(3e-4, 10)] = (0.50, 0.10, 0.01)
    assert (choose(rows_of(table), [1e-4, 3e-4], [5, 10, 20])["lr"],
            choose(rows_of(table), [1e-4, 3e-4], [5, 10, 20])["steps"]) == (1e-4, 20)


def test_the_rule_on_the_committed_grids_gives_the_documented_choices():
    for name, expected in (("choose_constants_mini_v8.json", (3e-4, 20)), ("choose_constants_mini.json", (3e-4, 40))):
        record = json.loads((REPO / "benchmarks/results/attacks" / name).read_text())
        lrs = sorted({r["lr"] for r in record["grid"]})
        steps = sorted({r["steps"] for r in record["grid"]})
        choice = choose(record["grid"], lrs, steps)
        assert (choice["lr"], choice["steps"], choice["satisfied"]) == (*expected, True), name
        assert choice["clean_R_after"] == pytest.approx(record["choice"]["clean_R_after"])


def test_unsatisfied_rule_falls_back_and_says_so():
    # nothing teaches Clean enough: the separated point that teaches it most (fewer steps first on ties)
    table = {(1e-4, 5): (0.05, 0.28, 0.01), (1e-3, 5): (0.20, 0.05, 0.01),  # 1e-3 collapses the gap
             (1e-4, 10): (0.12, 0.25, 0.01), (1e-3, 10): (0.25, 0.04, 0.01)}
    choice = choose(rows_of(table), [1e-4, 1e-3], [5, 10])
    assert (choice["lr"], choice["steps"], choice["satisfied"]) == (1e-4, 10, False)
    assert not choice["learned"] and choice["separated"]
    # nothing keeps the gap: the smallest budget
    table = {k: (0.9, 0.02, 0.01) for k in table}
    choice = choose(rows_of(table), [1e-4, 1e-3], [5, 10])
    assert (choice["lr"], choice["steps"], choice["satisfied"], choice["separated"]) == (1e-4, 5, False, False)
    with pytest.raises(ConfigError, match="no clean row at lr 0.001, 10 steps"):
        choose([r for r in rows_of(table) if not (r["role"] == "clean" and r["lr"] == 1e-3 and r["steps"] == 10)],
               [1e-4, 1e-3], [5, 10])


def test_the_module_defaults_name_the_embedded_v8_references():
    assert arch_name_identity("salmu-tiny") == SALMU_TINY and arch_name_identity("salmu-test") == SALMU_TEST
    tuning = json.loads((REPO / "src/salmubench/recipes/structured@1x.json").read_text())["tuning"]
    refs = DEFAULTS_CHOSEN_ON["references"]
    assert (refs["compromised"], refs["clean"], refs["data_fingerprint"]) == (
        tuning["compromised_sha256"], tuning["clean_sha256"], tuning["data_fingerprint"])
    assert resolve_constants(None).values == {} and suite_hash(resolve_constants(None).values) == suite_hash()


@pytest.mark.parametrize(("spec", "message"), [
    ({"relern": {"lr": 1e-3}}, "Did you mean: relearn"),
    ({"relearn": {"batch": 8}}, "relearn has no tunable constant 'batch'"),
    ({"quantize": {"bits": [8]}}, "quantize has no tunable constant 'bits' \\(tunable: none\\)"),
    ({"relearn": {"steps": 0}}, "steps must be an integer >= 1"),
    ({"relearn": {"steps": 2.5}}, "steps must be an integer >= 1"),
    ({"benign_finetune": {"lr": -1}}, "lr must be a number > 0"),
    ({"schema": "other"}, "is not a calibration record"),
    ("missing.json", "no such file"),
])
def test_bad_constants_are_one_line_errors(spec, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message) as err:
        resolve_constants(spec)
    assert "\n" not in str(err.value)


def test_calibrated_constants_reach_the_attack_and_are_recorded(tiny_dataset_dir, tmp_path):
    model = create_model("salmu-test", seed=0)
    given = {"relearn": {"lr": 1e-3, "steps": 1}}
    res = attack(model, tiny_dataset_dir, tmp_path / "out", attacks="relearn,benign_finetune", constants=given)
    info = res.attacks["relearn"].info
    assert (info["steps"], info["lr"]) == (1, 1e-3)
    assert res.attacks["benign_finetune"].info["steps"] == 20  # not given: the module constants
    assert res.suite.constants["attacks"]["relearn"]["steps"] == 1
    assert res.suite.hash == suite_hash(given) != suite_hash()
    assert res.suite.chosen_on["source"] == "given" and res.suite.chosen_on["references"] is None
    again = attack(model, tiny_dataset_dir, tmp_path / "out2", attacks="relearn")
    assert again.attacks["relearn"].info["steps"] == 20 and again.suite.hash == suite_hash()
    assert again.suite.chosen_on == DEFAULTS_CHOSEN_ON
    assert read_attack(tmp_path / "out").suite.chosen_on["source"] == "given"  # written and read back


def copy_results(tiny_refs, tmp_path) -> Path:
    shutil.copytree(tiny_refs / "results", tmp_path / "results")
    return tmp_path / "results"


def test_a_reference_attacked_with_other_constants_is_not_reused(tiny_refs, tiny_dataset_dir, tmp_path):
    results = copy_results(tiny_refs, tmp_path)
    other = create_model("salmu-test", seed=3)
    one, two = {"relearn": {"steps": 1}}, {"relearn": {"steps": 2}}
    attack(other, tiny_dataset_dir, tmp_path / "a", references=results, attacks="relearn", constants=one)
    stamps = {r: (results / r / "attack.json").stat().st_mtime_ns for r in ("compromised", "clean")}
    res = attack(other, tiny_dataset_dir, tmp_path / "b", references=results, attacks="relearn", constants=two)
    for role in ("compromised", "clean"):  # made with 1 step: attacked again with 2
        ref = read_attack(results / role)
        assert (results / role / "attack.json").stat().st_mtime_ns != stamps[role]
        assert ref.suite.hash == suite_hash(two) and ref.attacks["relearn"].info["steps"] == 2
    assert res.references["clean"].file == str(results / "clean/attack.json")
    stamps = {r: (results / r / "attack.json").stat().st_mtime_ns for r in ("compromised", "clean")}
    attack(other, tiny_dataset_dir, tmp_path / "c", references=results, attacks="relearn", constants=two)
    assert {r: (results / r / "attack.json").stat().st_mtime_ns for r in stamps} == stamps  # same constants: reused


def references_of(arch: str, tiny_refs, tmp_path) -> Path:
    """A copy of the tiny references' results whose result.json files name two models of ``arch``."""
    results = tmp_path / f"results-{Path(arch).stem}"
    shutil.copytree(tiny_refs / "results", results)
    for seed, role in enumerate(("compromised", "clean")):
        folder = tmp_path / f"models-{Path(arch).stem}" / role
        sha = save_model(create_model(arch, seed=seed), folder)
        res = read_result(results / role)
        res.model = res.model.model_copy(update={"source": str(folder), "arch": Path(arch).stem,
                                                 "checkpoint_sha256": sha})
        write_result(res, results / role)
    return results


@pytest.fixture(scope="module")
def wide_arch(tmp_path_factory) -> str:
    """An architecture of our own (salmu-test at 48 px): neither salmu-tiny nor salmu-test."""
    cfg = json.loads((REPO / "src/salmubench/models/model_configs/salmu-test.json").read_text())
    cfg["vision_cfg"]["image_size"] = 48
    path = tmp_path_factory.mktemp("arch") / "salmu-wide48.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_references_of_another_architecture_are_refused(tiny_refs, tiny_dataset_dir, wide_arch, tmp_path, capsys):
    from salmubench.cli.main import main

    results = references_of(wide_arch, tiny_refs, tmp_path)
    model = create_model("salmu-test", seed=0)
    with pytest.raises(ConfigError) as err:
        attack(model, tiny_dataset_dir, tmp_path / "o", references=results, attacks="relearn")
    text = str(err.value)
    assert "\n" not in text and "salmu-tiny (32 px)" in text and "salmu-wide48 (48 px)" in text
    assert "salmubench attack-calibrate" in text and not re.search(r"(^|\s)--[a-z]", text)
    assert not (tmp_path / "o").exists()  # refused before any attack ran
    # no tunable attack requested: nothing to refuse
    assert attack(model, tiny_dataset_dir, tmp_path / "q", references=results, attacks="quantize").summary
    args = ["attack", "--model", str(tiny_refs / "models/clean"), "--data", str(tiny_dataset_dir), "--references",
            str(results), "--out", str(tmp_path / "cli"), "--attacks", "relearn", "--quiet"]
    assert main(args) == 2
    err_text = capsys.readouterr().err
    assert err_text.count("\n") == 1 and "salmubench attack-calibrate --compromised M --clean M --data" in err_text
    assert "--constants constants.json" in err_text and "salmu-wide48 (48 px)" in err_text


def test_calibration_on_the_tiny_references_records_and_fits_only_them(tiny_refs, tiny_dataset_dir, tmp_path,
                                                                       capsys):
    from salmubench.cli.main import main

    out = tmp_path / "constants.json"
    args = ["attack-calibrate", "--compromised", str(tiny_refs / "models/compromised"), "--clean",
            str(tiny_refs / "models/clean"), "--data", str(tiny_dataset_dir), "--out", str(out),
            "--lrs", "1e-3,1e-4", "--steps", "2", "--threads", "1", "--quiet"]
    assert main(args) == 0 and "wrote" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert len(record["grid"]) == 4 and {r["role"] for r in record["grid"]} == {"compromised", "clean"}
    assert record["relearn"] == record["benign_finetune"] == {"lr": record["choice"]["lr"], "steps": 2}
    assert record["references"]["compromised"] == load_model(tiny_refs / "models/compromised").checkpoint_sha256
    assert record["references"]["arch"] == SALMU_TEST and record["version"] == 1
    assert record["checks"]["benign_finetune"]["clean"]["ret_fail_after"] >= 0
    direct = calibrate(tiny_refs / "models/compromised", tiny_refs / "models/clean", tiny_dataset_dir,
                       lrs=(1e-3, 1e-4), steps=(2,))
    assert [(r["role"], r["lr"], r["P_after"], r["R_after"]) for r in direct["grid"]] == \
        [(r["role"], r["lr"], r["P_after"], r["R_after"]) for r in record["grid"]]  # deterministic

    results = copy_results(tiny_refs, tmp_path)
    res = attack(tiny_refs / "models/compromised", tiny_dataset_dir, tmp_path / "a", references=results,
                 attacks="relearn", constants=out)
    assert res.suite.chosen_on["source"] == "calibration" and res.suite.chosen_on["file"] == str(out)
    assert res.attacks["relearn"].info["steps"] == 2 and res.suite.hash == suite_hash(resolve_constants(out).values)
    tiny = references_of("salmu-tiny", tiny_refs, tmp_path)  # the defaults fit salmu-tiny; this file does not
    with pytest.raises(ConfigError, match=r"constants file .* chosen on references of salmu-test \(32 px\), not of "
                                          r"the compromised reference's architecture salmu-tiny \(32 px\)"):
        attack(tiny_refs / "models/compromised", tiny_dataset_dir, tmp_path / "b", references=tiny,
               attacks="benign_finetune", constants=out)
    # the very checkpoints the constants were chosen on always fit (whatever the architecture record says)
    record["references"]["arch"] = {"digest": "0" * 16, "image_size": 32, "name": "elsewhere"}
    res = attack(tiny_refs / "models/clean", tiny_dataset_dir, tmp_path / "c", references=results,
                 attacks="relearn", constants=record)
    assert res.suite.chosen_on["source"] == "calibration" and res.suite.chosen_on["file"] is None


def test_attack_calibrate_bad_inputs_are_one_line_errors(tiny_refs, tiny_dataset_dir, tmp_path, capsys):
    from salmubench.cli.main import main

    comp, clean = str(tiny_refs / "models/compromised"), str(tiny_refs / "models/clean")
    cases = [([comp, clean, "--lrs", "1e-3,x"], "--lrs: expected comma-separated numbers"),
             ([comp, clean, "--steps", "0"], "steps must be an integer >= 1"),
             ([comp, comp], "the same checkpoint"),
             ([str(tmp_path / "missing"), clean], "model not found")]
    for (c, k, *rest), message in cases:
        args = ["attack-calibrate", "--compromised", c, "--clean", k, "--data", str(tiny_dataset_dir),
                "--out", str(tmp_path / "c.json"), "--quiet", *rest]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "c.json").exists()
