"""salmubench run --jobs N with fake stage functions: stages in worker processes, the same graph, cache,
failures, Ctrl-C and resume as one process (docs/run.md, "Concurrent stages")."""

import json

import pytest
from fake_stages import Fakes

from salmubench.cli.main import main
from salmubench.errors import ConfigError
from salmubench.pipeline import RunConfig, run_benchmark
from salmubench.runtime import STAGE_THREADS, default_jobs, default_threads, stage_threads


def cfg(tmp_path, **kw):
    return RunConfig(out=str(tmp_path / "run"), **kw)


def read_log(path):
    """[(tag, pid, time, extra)] of the fakes' call log."""
    out = []
    for line in path.read_text().splitlines():
        tag, pid, t, *extra = line.split(" ")
        out.append((tag, int(pid), float(t), " ".join(extra)))
    return out


class Recorder:
    """A view that records begins, ends and progress events."""

    def __init__(self):
        self.events, self.running, self.max_running, self.order, self.together = [], set(), 0, [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def on_progress(self, event):
        self.events.append(event)

    def begin(self, stage, index, stages, cache):
        self.running.add(stage.id)
        self.max_running = max(self.max_running, len(self.running))
        self.together.append(set(self.running))

    def end(self, stage, status):
        self.running.discard(stage.id)
        self.order.append((stage.id, status.state))


def test_two_jobs_run_the_graph_in_workers_with_the_same_outcome_and_cache(tmp_path):
    log = tmp_path / "calls.log"
    fakes = Fakes(log=log)
    fakes.train_sleep = 0.5
    view = Recorder()
    report = run_benchmark(cfg(tmp_path, jobs=2, threads=4), fakes.fns(), view=view)
    assert report.ok and report.count("done") == len(report.statuses) == 1 + 2 + 2 + 2 + 3 * 3 + 1
    ids = [s.id for s in report.statuses]  # the report keeps plan order
    assert ids[:3] == ["data", "train-compromised", "train-clean"] and ids[-1] == "leaderboard"
    calls = read_log(log)
    pids = {pid for _tag, pid, _t, _e in calls}
    assert len(pids) == 2 and not fakes.calls  # ran in two worker processes, none in this one
    # every stage gets all 4 threads: never split by the jobs (CPU numbers depend on the thread count)
    assert all("threads=4" in extra for tag, _, _, extra in calls if tag.startswith(("train:", "unlearn:")))
    # both references trained at the same time, in two workers; the leaderboard came after everything else
    assert {"train-compromised", "train-clean"} in view.together
    pid = {tag: p for tag, p, _, _ in calls}
    assert pid["train:clean"] != pid["train:compromised"]
    assert view.max_running == 2 and view.order[-1] == ("leaderboard", "done")
    # dependencies: an evaluation after its unlearning, a method's attack after the references' attacks
    ended = [i for i, _ in view.order]
    assert ended.index("unlearn-finetune@1x-s0") < ended.index("eval-finetune@1x-s0") < ended.index(
        "attack-finetune@1x-s0")
    assert max(ended.index("attack-compromised"), ended.index("attack-clean")) < ended.index("attack-finetune@1x-s0")
    # progress events of the workers reach the view, named by their stage
    assert any(e.task == "unlearn-finetune@1x-s0: unlearn steps" and e.status == "loss 0.5" for e in view.events)
    # done-markers are the same as one process writes: a one-process re-run finds everything cached
    statuses = {s.id: s for s in report.statuses}
    assert statuses["unlearn-finetune@1x-s0"].resources["threads"] == 4
    assert statuses["unlearn-finetune@1x-s0"].resources["cpu_s"] >= 0
    again = run_benchmark(cfg(tmp_path, jobs=1), Fakes().fns())
    assert again.ok and again.count("cached") == len(again.statuses)
    lb = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    assert {r["name"] for r in lb["rows"]} == {"Compromised", "Clean", "finetune@1x", "generic_captions@1x",
                                               "direct_sim_min@1x"}


def test_a_failing_worker_stage_is_one_line_and_the_rest_finishes_then_resumes(tmp_path, capsys, monkeypatch):
    log = tmp_path / "calls.log"
    fakes = Fakes(log=log)
    fakes.fail_on = {"unlearn:direct_sim_min@1/0"}
    report = run_benchmark(cfg(tmp_path, jobs=2), fakes.fns())
    states = {s.id: s for s in report.statuses}
    assert not report.ok and states["unlearn-direct_sim_min@1x-s0"].state == "failed"
    msg = states["unlearn-direct_sim_min@1x-s0"].message
    assert msg.startswith("RuntimeError: boom in unlearn:direct_sim_min@1/0 (traceback: ") and "\n" not in msg
    assert states["eval-direct_sim_min@1x-s0"].state == "skipped" and states["attack-direct_sim_min@1x-s0"].state == "skipped"
    assert states["eval-finetune@1x-s0"].state == "done" and states["leaderboard"].state == "done"
    assert "RuntimeError: boom" in (tmp_path / "run" / "logs" / "unlearn-direct_sim_min@1x-s0.log").read_text()
    fakes.fail_on = set()
    log.unlink()
    again = run_benchmark(cfg(tmp_path, jobs=2), fakes.fns())
    assert again.ok and again.count("done") == 4  # the failed unlearn, its eval and attack, the leaderboard
    assert sorted(t for t, *_ in read_log(log)) == ["attack:direct_sim_min@1x/s0", "eval:direct_sim_min@1x/s0",
                                                     "unlearn:direct_sim_min@1/0"]
    # the command line: one line naming the stage, exit code 1
    fakes.fail_on = {"unlearn:finetune@1/0"}
    monkeypatch.setattr("salmubench.pipeline.runner.real_stage_fns", fakes.fns)
    capsys.readouterr()
    code = main(["run", "--out", str(tmp_path / "cli"), "--methods", "finetune", "--no-progress", "--jobs", "2",
                 "--no-attacks"])
    err = capsys.readouterr().err
    assert code == 1 and "failed: unlearn finetune@1x/s0: RuntimeError: boom in unlearn:finetune@1/0" in err
    assert "Traceback" not in err


def test_ctrl_c_in_a_worker_stops_the_run_and_keeps_finished_stages(tmp_path):
    fakes = Fakes()
    fakes.interrupt_on = {"unlearn:generic_captions@1/0"}
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg(tmp_path, jobs=2), fakes.fns())
    markers = {p.name for p in (tmp_path / "run" / ".stages").iterdir()}
    assert {"train-compromised.json", "train-clean.json"} <= markers
    assert "unlearn-generic_captions@1x-s0.started.json" in markers
    assert "unlearn-generic_captions@1x-s0.json" not in markers
    fakes.interrupt_on = set()
    report = run_benchmark(cfg(tmp_path, jobs=2), fakes.fns())
    states = {s.id: s.state for s in report.statuses}
    assert report.ok and states["train-clean"] == "cached" and states["unlearn-generic_captions@1x-s0"] == "done"


def test_devices_and_jobs_values(tmp_path, monkeypatch, capsys):
    fakes = Fakes(log=tmp_path / "calls.log")
    report = run_benchmark(cfg(tmp_path, jobs=2, devices=("cpu", "cpu"), methods=("finetune",)), fakes.fns())
    assert report.ok and {s.resources.get("device") for s in report.statuses if s.state == "done"} == {"cpu"}
    assert all("device=cpu" in e for t, _, _, e in read_log(tmp_path / "calls.log") if t.startswith("train:"))
    with pytest.raises(ConfigError, match="not both"):
        run_benchmark(cfg(tmp_path, jobs=2, device="cpu", devices=("cpu",)), fakes.fns())
    monkeypatch.setattr("salmubench.pipeline.runner.real_stage_fns", fakes.fns)
    out = str(tmp_path / "x")
    for bad in (["--devices", "gpu0"], ["--devices", ","], ["--devices", "cuda:99"], ["--jobs", "0"],
                ["--threads", "0"], ["--device", "cpu", "--devices", "cpu,cpu"]):
        capsys.readouterr()
        assert main(["run", "--out", out, "--methods", "finetune", "--no-progress", *bad]) == 2, bad
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, (bad, err)
    assert default_jobs(("cuda:0", "cuda:1", "cuda:2")) == 3 and 1 <= default_jobs() <= 4
    assert default_jobs(threads=1) == max(1, min(4, default_threads()))
    # never 0 jobs; 2 (oversubscribed, passive waits) on any machine with 2 or more cores
    assert default_jobs(threads=10 ** 6) == (2 if default_threads() >= 2 else 1)
    # every stage gets the same threads whatever the jobs (numbers depend on the thread count)
    assert stage_threads(None) == STAGE_THREADS == RunConfig(out="x").threads and stage_threads(3) == 3


def test_unpicklable_stage_functions_need_one_job(tmp_path, fakes):
    fns = fakes.fns()
    fns.unlearn = lambda **kw: fakes.unlearn(**kw)
    with pytest.raises(ConfigError, match="picklable"):
        run_benchmark(cfg(tmp_path, jobs=2), fns)
    assert run_benchmark(cfg(tmp_path, jobs=1), fns).ok


def test_the_live_view_names_the_running_stages_and_drops_their_bars(tmp_path, fakes):
    from rich.console import Console

    from salmubench.cli.display import RunView
    from salmubench.pipeline.cache import StageCache
    from salmubench.pipeline.execute import StageStatus
    from salmubench.pipeline.plan import Planner
    from salmubench.progress import ProgressEvent

    c = cfg(tmp_path, methods=("finetune",), jobs=2)
    stages = Planner(c, fakes.fns(), ["finetune"], StageCache(tmp_path / "run")).build()
    console = Console(record=True, width=160, force_terminal=False)
    with RunView(enabled=True, console=console, jobs=2) as view:
        view.begin(stages[1], 1, stages, StageCache(tmp_path / "run"))
        view.begin(stages[2], 1, stages, StageCache(tmp_path / "run"))
        assert view.progress.tasks[0].description == "[0/11] running 2: train compromised, train clean"
        view.on_progress(ProgressEvent("train-clean: train clean steps", 3, 10))
        assert len(view.progress.tasks) == 2
        status = StageStatus("train-clean", "train clean", "done", 2.0, resources={"device": "cuda:1"})
        view.end(stages[2], status)
        assert len(view.progress.tasks) == 1 and "running" not in view.progress.tasks[0].description
    assert "train clean done (2s, cuda:1)" in console.export_text()


def test_a_worker_that_dies_fails_its_stage_and_a_new_worker_runs_the_rest(tmp_path):
    fakes = Fakes()
    fakes.die_on = {"unlearn:finetune@1/0"}
    report = run_benchmark(cfg(tmp_path, jobs=2, attacks=False), fakes.fns())
    states = {s.id: s for s in report.statuses}
    assert states["unlearn-finetune@1x-s0"].state == "failed"
    assert states["unlearn-finetune@1x-s0"].message.startswith("worker process died (exit code 9)")
    assert states["eval-finetune@1x-s0"].state == "skipped"
    assert all(states[f"eval-{m}@1x-s0"].state == "done" for m in ("generic_captions", "direct_sim_min"))
    fakes.die_on = set()
    assert run_benchmark(cfg(tmp_path, jobs=2, attacks=False), fakes.fns()).count("done") == 3


def test_sequential_stages_run_in_workers_too(tmp_path):
    fakes = Fakes()
    report = run_benchmark(cfg(tmp_path, jobs=2, requests=2, methods=("finetune",), attacks=False), fakes.fns())
    states = {s.id: s.state for s in report.statuses}
    assert report.ok and states["sequential-finetune@1x-s0-K2-identity"] == "done"
    assert (tmp_path / "run" / "sequential" / "finetune@1x-s0-K2-identity" / "sequential.json").is_file()
