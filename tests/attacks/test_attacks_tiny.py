"""The attacks end to end on the tiny data: references, positions, caching, determinism, holdouts, unseen."""

import shutil

import pytest

from salmubench.attacks.api import attack, load_attack_data, run_attacks
from salmubench.attacks.results import read_attack
from salmubench.data import schema as S
from salmubench.errors import ConfigError, ResultError
from salmubench.models import create_model, load_model

CHEAP = "quantize,paraphrase,mia"  # no fine-tuning: the tests that only need some attacks run these


def copy_refs(tiny_refs, tmp_path):
    shutil.copytree(tiny_refs / "results", tmp_path / "results")
    return tmp_path / "results"


def test_references_sit_at_1_and_0_and_are_computed_once(tiny_refs, tiny_dataset_dir, tmp_path):
    results = copy_refs(tiny_refs, tmp_path)
    comp = attack(str(tiny_refs / "models/compromised"), tiny_dataset_dir, tmp_path / "a_comp", references=results,
                  attacks=CHEAP, role="compromised")
    assert comp.references["compromised"].file == "self"  # the attacked model is that reference
    assert (results / "clean/attack.json").is_file()  # computed on the fly from clean/result.json's model
    for name, entry in comp.attacks.items():
        for key, v in entry.values.items():
            if v.position_after is not None:
                assert v.position_after == pytest.approx(1.0), (name, key)
    assert comp.summary.robustness == pytest.approx(0.0)
    clean = attack(str(tiny_refs / "models/clean"), tiny_dataset_dir, tmp_path / "a_clean", references=results,
                   attacks=CHEAP)
    assert (results / "compromised/attack.json").is_file() and clean.summary.robustness == pytest.approx(1.0)
    assert clean.attacks["quantize"].headline.position == pytest.approx(0.0)
    stamps = {r: (results / r / "attack.json").stat().st_mtime_ns for r in ("compromised", "clean")}
    other = create_model("salmu-test", seed=3)
    res = attack(other, tiny_dataset_dir, tmp_path / "a_other", references=results, attacks=CHEAP)
    assert {r: (results / r / "attack.json").stat().st_mtime_ns for r in stamps} == stamps  # reused, not recomputed
    assert res.references["clean"].file == str(results / "clean/attack.json")
    assert read_attack(tmp_path / "a_other").attacks.keys() == {"quantize", "paraphrase", "mia"}
    assert res.suite.constants["attacks"]["quantize"]["bits"] == [8, 4]


def test_all_attacks_deterministic_for_a_seed(tiny_refs, tiny_dataset_dir):
    bundle = load_model(tiny_refs / "models/compromised")
    data = load_attack_data(tiny_dataset_dir)
    first, _ = run_attacks(bundle, data, ["relearn", "benign_finetune", "quantize", "paraphrase", "mia"], seed=0)
    second, _ = run_attacks(bundle, data, ["relearn", "benign_finetune"], seed=0)
    for name in ("relearn", "benign_finetune"):
        assert first[name].values == second[name].values and first[name].info == second[name].info
    assert all(o.available for o in first.values())
    other, _ = run_attacks(bundle, data, ["relearn"], seed=1)  # another seed: another R/P split
    assert other["relearn"].info["r_rows"] != first["relearn"].info["r_rows"] or \
        other["relearn"].values != first["relearn"].values
    # the fine-tuning attacks work on a copy: the attacked model is unchanged
    assert load_model(tiny_refs / "models/compromised").checkpoint_sha256 == bundle.checkpoint_sha256
    before = first["relearn"].values["ret_fail"].before
    assert 0 < before <= 1 and first["quantize"].values["ret_fail@8bit"].before == \
        first["benign_finetune"].values["ret_fail"].before


def test_attacks_never_read_the_holdout_splits(tiny_dataset_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset_dir, data)
    for shard in (data / S.DATA_DIR).glob("holdout_*.parquet"):
        shard.write_bytes(b"garbage, not parquet")
    model = create_model("salmu-test", seed=0)
    garbled = attack(model, data, tmp_path / "out", attacks="relearn,paraphrase,mia")
    intact = attack(model, tiny_dataset_dir, tmp_path / "out2", attacks="relearn,paraphrase,mia")
    # values identical: the holdouts play no part
    assert {n: (e.values, e.info) for n, e in garbled.attacks.items()} == \
        {n: (e.values, e.info) for n, e in intact.attacks.items()}
    assert not set(garbled.dataset.split_counts) & {S.HOLDOUT_ASSOCIATION, S.HOLDOUT_IDENTITY}


def test_mia_not_available_without_unseen(tiny_dataset_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset_dir, data)
    for shard in (data / S.EXTRA_DIR).glob(f"{S.UNSEEN}-*.parquet"):
        shard.unlink()
    res = attack(create_model("salmu-test", seed=0), data, tmp_path / "out", attacks="mia,quantize")
    assert not res.attacks["mia"].available and "unseen" in res.attacks["mia"].reason
    assert res.attacks["quantize"].available and not res.dataset.has_unseen


def test_bad_inputs_are_one_line_errors(tiny_dataset_dir, tmp_path, capsys):
    from salmubench.cli.main import main

    with pytest.raises(ConfigError, match="Did you mean: relearn"):
        attack(create_model("salmu-test", seed=0), tiny_dataset_dir, tmp_path / "o", attacks="relern")
    with pytest.raises(ResultError, match="no such results folder"):
        attack(create_model("salmu-test", seed=0), tiny_dataset_dir, tmp_path / "o", references=tmp_path / "nope")
    empty = tmp_path / "results"
    (empty / "compromised").mkdir(parents=True)
    with pytest.raises(ResultError, match="evaluate the references first"):
        attack(create_model("salmu-test", seed=0), tiny_dataset_dir, tmp_path / "o", references=empty, attacks="mia")
    cases = [["--model", str(tmp_path / "missing"), "--data", str(tiny_dataset_dir)],
             ["--model", str(tmp_path / "missing"), "--data", str(tmp_path / "nodata")],
             ["--model", str(tmp_path), "--data", str(tiny_dataset_dir), "--attacks", "relern"],
             ["--model", str(tmp_path), "--data", str(tiny_dataset_dir), "--threads", "0"]]
    for args in cases:
        assert main(["attack", *args, "--out", str(tmp_path / "o"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err


def test_cli_attack_writes_attack_json(tiny_refs, tiny_dataset_dir, tmp_path, capsys):
    from salmubench.cli.main import main

    results = copy_refs(tiny_refs, tmp_path)
    args = ["attack", "--model", str(tiny_refs / "models/clean"), "--data", str(tiny_dataset_dir), "--references",
            str(results), "--out", str(tmp_path / "out"), "--attacks", "quantize", "--seed", "0", "--threads", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "quantize" in out and "robustness 1.000" in out and "attack.json" in out
    res = read_attack(tmp_path / "out")
    assert res.model.role == "clean" and res.seed == 0 and res.summary.worst_attack == "quantize"
