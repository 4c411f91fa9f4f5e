"""Trials: step matching, scoring against the references, resume, choice of the best trial."""

from __future__ import annotations

from salmubench.cli.main import main
from salmubench.config import build_config
from salmubench.tuning import search
from salmubench.tuning.selection import score_proxies
from salmubench.tuning.spaces import grid
from salmubench.tuning.validation import PROXY_KEYS
from salmubench.unlearning.base import Budget
from salmubench.unlearning.registry import get_method, method_names


def test_every_builtin_method_has_a_small_valid_space():
    for method in method_names():
        assert get_method(method).search_space, f"{method}: no search_space beside its config"
        trials = grid(method)
        assert 3 <= len(trials) <= 20, method  # small grids; the edge rule grew a few (docs/tuning.md)
        cls = get_method(method)
        for overrides in trials:
            build_config(cls.config_cls, overrides)  # every key and value is valid


def test_trial_makes_the_real_number_of_steps(tune_setup):
    record = search.run_trial(tune_setup, "neg_grad", {"lr": 1e-4})
    real = Budget(1.0).steps(tune_setup.n_forget, 32)
    assert len(tune_setup.data.forget) < tune_setup.n_forget
    assert record["steps"] == record["steps_run"] == real
    assert set(record["proxies"]) == set(PROXY_KEYS)
    refs = tune_setup.references
    assert record["scores"] == score_proxies(record["proxies"], refs["compromised"], refs["clean"])
    assert 0.0 <= record["scores"]["score"] <= 1.0


def test_reference_scores_are_the_extremes(tune_setup):
    comp, clean = tune_setup.references["compromised"], tune_setup.references["clean"]
    assert score_proxies(comp, comp, clean)["efficacy"] == 0.0
    assert score_proxies(clean, comp, clean)["efficacy"] == 1.0
    assert score_proxies(comp, comp, clean)["utility"] == 1.0


def test_choose_is_argmax_then_cheaper_then_first():
    def t(score, passes):
        return {"scores": {"score": score}, "cost": {"fwd_passes": passes, "bwd_passes": 0}}

    assert search.choose([t(0.2, 1), t(0.5, 9), t(0.4, 1)]) == 1
    assert search.choose([t(0.5, 9), t(0.50001, 3), t(0.3, 1)]) == 1  # tie at 4 decimals -> cheaper
    assert search.choose([t(0.5, 3), t(0.5, 3)]) == 0


def test_tune_method_resumes_and_chooses_the_best(tune_setup, tmp_path, monkeypatch):
    space = [{"lr": 1e-4}, {"lr": 1e-3}]
    first = search.tune_method(tune_setup, "label_correction", tmp_path, space=[{"tau": 0.01}, {"tau": 0.05}])
    scores = [t["scores"]["score"] for t in first["trials"]]
    assert first["chosen"]["index"] == max(range(2), key=lambda k: (round(scores[k], 4), -k))
    assert (tmp_path / "tune_label_correction.json").is_file()

    calls = []
    real_trial = search.run_trial

    def counting(setup, method, overrides):
        calls.append(overrides)
        return real_trial(setup, method, overrides)

    monkeypatch.setattr(search, "run_trial", counting)
    search.tune_method(tune_setup, "finetune", tmp_path, space=space)
    assert calls == space
    # "killed half-way": one finished trial is lost, the re-run only redoes that one
    trial_files = sorted((tmp_path / "trials" / "finetune").glob("*.json"))
    assert len(trial_files) == 2
    trial_files[1].unlink()
    calls.clear()
    again = search.tune_method(tune_setup, "finetune", tmp_path, space=space)
    assert len(calls) == 1
    assert [t["key"] for t in again["trials"]] == [search.trial_key(tune_setup, "finetune", t["params"])
                                                   for t in again["trials"]]


def test_cli_unknown_method_is_one_line_error(tmp_path, capsys):
    code = main(["tune", "--method", "neg_gradd", "--model", "m", "--clean", "c", "--data", "d",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and "neg_grad" in err


def test_cli_tune_writes_the_result(tune_models, tiny_dataset_dir, tmp_path, capsys):
    comp, clean = tune_models
    out = tmp_path / "tune"
    assert main(["tune", "--method", "label_correction", "--model", str(comp), "--clean", str(clean),
                 "--data", str(tiny_dataset_dir), "--out", str(out), "--no-progress"]) == 0
    assert "label_correction: chosen" in capsys.readouterr().out
    assert (out / "tune_label_correction.json").is_file() and (out / "tune_summary.json").is_file()


def test_new_clean_reference_rescores_cached_trials(tune_setup, tmp_path, monkeypatch):
    import dataclasses

    space = [{"tau": 0.01}, {"tau": 0.05}]
    first = search.tune_method(tune_setup, "label_correction", tmp_path, space=space)
    clean = {**tune_setup.references["clean"], "ret_fail": tune_setup.references["clean"]["ret_fail"] + 0.05}
    other = dataclasses.replace(tune_setup, references={**tune_setup.references, "clean": clean})

    def fail(*args, **kwargs):
        raise AssertionError("a cached trial was re-run")

    monkeypatch.setattr(search, "run_trial", fail)
    again = search.tune_method(other, "label_correction", tmp_path, space=space)
    for old, new in zip(first["trials"], again["trials"], strict=True):
        assert old["proxies"] == new["proxies"]
        assert new["scores"] == score_proxies(new["proxies"], other.references["compromised"], clean)
