"""salmubench run with fake stage functions: caching, resume, invalidation, failures, views."""

import json

import pytest

from salmubench.cli.main import main
from salmubench.errors import ConfigError
from salmubench.evaluation.results import read_result
from salmubench.pipeline import RunConfig, run_benchmark


def cfg(tmp_path, **kw):
    return RunConfig(out=str(tmp_path / "run"), **kw)


def test_full_run_then_cached_rerun_does_nothing(tmp_path, fakes):
    c = cfg(tmp_path, budgets=(1.0, 5.0), seeds=(0, 1))
    report = run_benchmark(c, fakes.fns())
    # data, 2 trainings, 2 evaluations, 2 reference attacks, 3 methods x 2 budgets x 2 seeds x (unlearn, eval,
    # attack), leaderboard
    assert report.ok and report.count("done") == len(report.statuses) == 1 + 2 + 2 + 2 + 3 * 2 * 2 * 3 + 1
    ids = [s.id for s in report.statuses]
    assert ids.index("attack-compromised") < ids.index("attack-clean") < ids.index("unlearn-finetune@1x-s0")
    assert fakes.calls["generate"] == 1 and fakes.calls["train:compromised"] == 1
    assert sum(v for k, v in fakes.calls.items() if k.startswith("unlearn")) == 12
    run = tmp_path / "run"
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "report.html", "run.json"):
        assert (run / name).is_file()
    res = read_result(run / "results" / "finetune@5x-s1")
    assert res.cost.unlearn_seconds == 2.5 and res.cost.fwd_passes == 100
    assert read_result(run / "results" / "clean").cost.train_seconds is not None
    lb = json.loads((run / "leaderboard.json").read_text())
    assert {r["name"] for r in lb["rows"]} >= {"finetune@1x", "finetune@5x", "Compromised", "Clean"}
    assert lb["attacks"]["names"] == ["relearn", "quantize", "paraphrase", "mia"]
    rows = {r["name"]: r for r in lb["rows"]}
    assert rows["Clean"]["robustness"] == 1.0 and rows["Compromised"]["robustness"] == 0.0
    assert rows["finetune@1x"]["robustness"] > 0.8 and "shallow" not in rows["finetune@1x"]["tags"]
    before = dict(fakes.calls)
    again = run_benchmark(c, fakes.fns())
    assert again.ok and again.count("cached") == len(again.statuses)
    assert dict(fakes.calls) == before


def test_new_budget_only_adds_its_stages(tmp_path, fakes):
    run_benchmark(cfg(tmp_path), fakes.fns())
    before = dict(fakes.calls)
    report = run_benchmark(cfg(tmp_path, budgets=(1.0, 2.0)), fakes.fns())
    new = {k: v - before.get(k, 0) for k, v in fakes.calls.items() if v != before.get(k, 0)}
    assert set(new) == {f"unlearn:{m}@2/0" for m in fakes.method_list} | {f"eval:{m}@2x/s0" for m in fakes.method_list} \
        | {f"attack:{m}@2x/s0" for m in fakes.method_list}
    assert report.count("done") == 3 * 3 + 1  # + the leaderboard (new results)


def test_no_attacks_skips_the_attack_stages_and_attacks_resume_later(tmp_path, fakes):
    report = run_benchmark(cfg(tmp_path, attacks=False), fakes.fns())
    assert report.ok and not any(s.id.startswith("attack-") for s in report.statuses)
    assert not any(k.startswith("attack:") for k in fakes.calls)
    lb = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    assert "attacks" not in lb and "Rob." not in (tmp_path / "run" / "leaderboard.md").read_text()
    report = run_benchmark(cfg(tmp_path), fakes.fns())  # attacks on: only attacks + leaderboard run
    done = {s.id for s in report.statuses if s.state == "done"}
    assert done == {"leaderboard", "attack-compromised", "attack-clean"} | {f"attack-{m}@1x-s0" for m in fakes.method_list}
    assert "Rob." in (tmp_path / "run" / "leaderboard.md").read_text()


def test_upstream_change_invalidates_downstream_and_removes_stale_outputs(tmp_path, fakes):
    run_benchmark(cfg(tmp_path, methods=("finetune",)), fakes.fns())
    stale = tmp_path / "run" / "models" / "clean" / "stale.txt"
    stale.write_text("from another config")
    report = run_benchmark(cfg(tmp_path, methods=("finetune",), train_seed=7), fakes.fns())
    states = {s.id: s.state for s in report.statuses}
    assert states["data"] == "cached" and states["train-clean"] == "done" and states["eval-finetune@1x-s0"] == "done"
    assert not stale.exists() and fakes.calls["train:clean"] == 2


def test_ctrl_c_loses_nothing_finished_and_resumes(tmp_path, fakes):
    fakes.interrupt_on = {"unlearn:generic_captions@1/0"}
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg(tmp_path), fakes.fns())
    markers = {p.name for p in (tmp_path / "run" / ".stages").iterdir()}
    assert "eval-finetune@1x-s0.json" in markers and "unlearn-generic_captions@1x-s0.started.json" in markers
    assert "unlearn-generic_captions@1x-s0.json" not in markers
    fakes.interrupt_on = set()
    before = dict(fakes.calls)
    report = run_benchmark(cfg(tmp_path), fakes.fns())
    assert report.ok
    assert fakes.calls["unlearn:finetune@1/0"] == before["unlearn:finetune@1/0"] == 1
    assert fakes.calls["unlearn:generic_captions@1/0"] == 2 and fakes.calls["train:clean"] == 1


def test_interrupted_training_resumes_with_its_partial_outputs(tmp_path, fakes):
    fakes.interrupt_on = {"train:clean"}
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg(tmp_path), fakes.fns())
    assert (tmp_path / "run" / "models" / "clean" / "partial.txt").is_file()
    fakes.interrupt_on = set()
    assert run_benchmark(cfg(tmp_path), fakes.fns()).ok
    assert fakes.resumed == [False, False, True]  # compromised, clean (interrupted), clean resumed


def test_failing_method_skips_its_eval_and_keeps_the_others(tmp_path, fakes):
    fakes.fail_on = {"unlearn:direct_sim_min@1/0"}
    report = run_benchmark(cfg(tmp_path), fakes.fns())
    states = {s.id: s for s in report.statuses}
    assert not report.ok
    assert states["unlearn-direct_sim_min@1x-s0"].state == "failed"
    assert "boom" in states["unlearn-direct_sim_min@1x-s0"].message
    assert states["eval-direct_sim_min@1x-s0"].state == "skipped"
    assert states["eval-finetune@1x-s0"].state == "done" and states["leaderboard"].state == "done"
    assert (tmp_path / "run" / "logs" / "unlearn-direct_sim_min@1x-s0.log").read_text().count("RuntimeError")
    fakes.fail_on = set()
    again = run_benchmark(cfg(tmp_path), fakes.fns())
    assert again.ok and again.count("done") == 4  # the failed unlearn, its eval and attack, the leaderboard


def test_an_import_error_in_a_stage_is_a_failure_not_a_missing_stage(tmp_path, fakes, capsys, monkeypatch):
    def broken_unlearn(**kwargs):
        raise ImportError("No module named 'scipy'")

    fns = fakes.fns()
    fns.unlearn = broken_unlearn
    report = run_benchmark(cfg(tmp_path, methods=("finetune",)), fns)
    states = {s.id: s for s in report.statuses}
    assert not report.ok and states["unlearn-finetune@1x-s0"].state == "failed"
    assert "ImportError: No module named 'scipy'" in states["unlearn-finetune@1x-s0"].message
    monkeypatch.setattr("salmubench.pipeline.runner.real_stage_fns", lambda: fns)
    code = main(["run", "--out", str(tmp_path / "cli"), "--methods", "finetune", "--no-progress", "--jobs", "1"])
    assert code == 1 and "failed: unlearn finetune@1x/s0: ImportError" in capsys.readouterr().err


def test_cli_run_with_fakes_exit_zero_and_overrides(tmp_path, fakes, monkeypatch, capsys):
    monkeypatch.setattr("salmubench.pipeline.runner.real_stage_fns", fakes.fns)
    args = ["run", "--out", str(tmp_path / "r"), "--methods", "finetune", "--budgets", "1,5", "--seeds", "0",
            "--set", "finetune.lr=0.001", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "leaderboard:" in out and "failed" not in out
    assert json.loads((tmp_path / "r" / "run.json").read_text())["overrides"] == {"finetune": {"lr": 0.001}}
    assert main(args) == 0 and "cached" in capsys.readouterr().out


def test_unknown_method_and_bad_values(tmp_path, fakes, monkeypatch, capsys):
    with pytest.raises(ConfigError, match="Did you mean: finetune"):
        run_benchmark(cfg(tmp_path, methods=("finetun",)), fakes.fns())
    monkeypatch.setattr("salmubench.pipeline.runner.real_stage_fns", fakes.fns)
    assert main(["run", "--out", str(tmp_path / "x"), "--budgets", "a"]) == 2
    assert main(["run", "--out", str(tmp_path / "x"), "--budgets", "0"]) == 2
    assert main(["run", "--out", str(tmp_path / "x"), "--set", "lr=1"]) == 2
    assert "error:" in capsys.readouterr().err


def test_progress_view_renders(tmp_path, fakes):
    from rich.console import Console

    from salmubench.cli.display import RunView
    from salmubench.progress import ProgressEvent

    def unlearn_with_progress(**kwargs):
        for step in (1, 2):  # a stage reports its own progress through the view
            kwargs["on_progress"](ProgressEvent("unlearn steps", step, 2, f"loss {step}"))
        return fakes.unlearn(**kwargs)

    fns = fakes.fns()
    fns.unlearn = unlearn_with_progress
    console = Console(record=True, width=120, force_terminal=False)
    c = RunConfig(out=str(tmp_path / "run"), methods=("finetune",))
    report = run_benchmark(c, fns, view=RunView(enabled=True, console=console))
    text = console.export_text()
    assert report.ok and "train compromised" in text and "unlearn finetune@1x/s0" in text and "ETA" in text


def test_redo_reruns_matching_stages_from_scratch(tmp_path, fakes):
    run_benchmark(cfg(tmp_path), fakes.fns())
    junk = tmp_path / "run" / "models" / "unlearned" / "finetune@1x-s0" / "junk.txt"
    junk.write_text("x")
    report = run_benchmark(cfg(tmp_path, redo=("unlearn-finetune*",)), fakes.fns())
    states = {s.id: s.state for s in report.statuses}
    assert states["unlearn-finetune@1x-s0"] == "done" and not junk.exists()
    assert states["eval-finetune@1x-s0"] == "done"  # a redo cascades to what depends on it
    assert states["eval-generic_captions@1x-s0"] == "cached" and states["leaderboard"] == "done"
    assert states["unlearn-generic_captions@1x-s0"] == "cached" and fakes.calls["unlearn:finetune@1/0"] == 2


def test_leaderboard_reads_only_this_plans_results(tmp_path, fakes):
    run_benchmark(cfg(tmp_path), fakes.fns())
    report = run_benchmark(cfg(tmp_path, methods=("finetune",)), fakes.fns())
    assert report.ok
    lb = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    assert [r["name"] for r in lb["rows"]] == ["Compromised", "Clean", "finetune@1x"]
    # the older results stay on disk; `salmubench leaderboard RUN_DIR` would merge them all
    assert (tmp_path / "run" / "results" / "generic_captions@1x-s0" / "result.json").is_file()


def test_resolved_configs_are_part_of_the_keys(tmp_path, fakes):
    defaults = {"lr": 1e-5}
    fns = fakes.fns()
    fns.method_config = lambda method, overrides: defaults | overrides
    fns.train_config = lambda preset: {"epochs": 3}
    # recipe=None: code defaults only (a shipped recipe's lr would override the changed default)
    run_benchmark(cfg(tmp_path, methods=("finetune",), recipe=None), fns)
    defaults["lr"] = 2e-5  # a method's default changed under the same name
    states = {s.id: s.state for s in run_benchmark(cfg(tmp_path, methods=("finetune",), recipe=None), fns).statuses}
    assert states["unlearn-finetune@1x-s0"] == "done" and states["train-clean"] == "cached"
    fns.train_config = lambda preset: {"epochs": 4}  # the training preset changed
    states = {s.id: s.state for s in run_benchmark(cfg(tmp_path, methods=("finetune",), recipe=None), fns).statuses}
    assert states["train-clean"] == "done" and states["data"] == "cached"


def test_real_config_resolvers():
    from salmubench.pipeline import real_stage_fns

    fns = real_stage_fns()
    assert fns.data_config("tiny")["generator_version"] and "device" not in fns.train_config("tiny")
    assert fns.method_config("finetune", {})
    with pytest.raises(ConfigError, match="unknown finetune config key"):
        fns.method_config("finetune", {"no_such_key": 1})
