"""One runtime module (device, threads, distributed init, the environment record) and one progress
channel (``on_progress`` events) across training, unlearning, tuning and evaluation."""

from __future__ import annotations

import json

import pytest

from salmubench import runtime
from salmubench.progress import ProgressEvent, Task


def test_distributed_env_without_torchrun(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setenv("WORLD_SIZE", "4")  # WORLD_SIZE alone (no RANK) is not a torchrun launch
    env = runtime.init_distributed("cpu")
    assert env == runtime.DistEnv() and env.is_main and not env.distributed
    runtime.barrier(env)  # a no-op single-process


def test_init_distributed_picks_the_backend_from_the_device(monkeypatch):
    import torch.distributed as dist

    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: calls.append(backend))
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    assert runtime.init_distributed("cpu") == runtime.DistEnv(rank=1, world_size=2, local_rank=1)
    runtime.init_distributed("cuda:1")
    assert calls == ["gloo", "nccl"]


def test_device_and_threads(monkeypatch):
    import torch

    assert runtime.resolve_device("cpu") == "cpu" and runtime.resolve_device("cuda:3") == "cuda:3"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.resolve_device(None) == runtime.resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert runtime.resolve_device(None) == "cuda:1"
    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert runtime.default_threads(1) == 8 and runtime.default_threads(3) == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # multi-node torchrun: the ranks on this machine share it
    assert runtime.default_threads(16) == 2
    before = torch.get_num_threads()
    with runtime.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with runtime.torch_threads(None):
        assert torch.get_num_threads() == before


def test_environment_record_includes_cpu_numerics():
    env = runtime.environment()
    assert {"python", "platform", "salmubench", "open_clip_torch", "torch", "numpy"} <= set(env)
    assert env["cpu_numerics"] == runtime.cpu_numerics()
    json.dumps(env)  # it goes into JSON files as is


def test_task_reports_events():
    events: list[ProgressEvent] = []
    task = Task(events.append, "work", 3).start()
    task.advance(status="a")
    task.update(3, status="c")
    assert events == [ProgressEvent("work", 0, 3), ProgressEvent("work", 1, 3, "a"), ProgressEvent("work", 3, 3, "c")]
    assert events[-1].finished and not events[0].finished
    Task(None, "silent", 2).start().advance()  # no callback: nothing to report, no error


@pytest.mark.slow
def test_every_output_file_carries_the_same_environment_record_and_progress_reaches_the_caller(tmp_path):
    """train.json, unlearn.json and result.json record the one environment; each library entry point
    reports progress through ``on_progress`` (the CLI draws it, the library never does)."""
    from salmubench import evaluate, generate_dataset, train_reference, unlearn
    from salmubench.io_utils import read_json

    events: dict[str, list[ProgressEvent]] = {}

    def collect(name):
        return lambda event: events.setdefault(name, []).append(event)

    data = tmp_path / "data"
    generate_dataset(data, preset="tiny", on_progress=collect("generate"), workers=1)
    model = train_reference("compromised", data, tmp_path / "comp", preset="tiny", overrides={"steps": 4},
                            on_progress=collect("train"))
    out = unlearn("neg_grad", model, data, tmp_path / "neg_grad", threads=1, on_progress=collect("unlearn"),
                  recipe=None)  # the tiny preset's salmu-test: the default recipe (salmu-tiny's) is refused
    result = evaluate(out, data, tmp_path / "result", cache_dir=False, on_progress=collect("evaluate"))
    records = [read_json(model / "train.json")["env"], read_json(out / "unlearn.json")["env"],
               result.model_dump(mode="json")["env"]]
    assert {json.dumps(sorted(r)) for r in records} == {json.dumps(sorted(records[0]))}
    assert all(r["cpu_numerics"]["requested"] == runtime.requested_isa() for r in records)
    steps = read_json(out / "unlearn.json")["steps"]
    unlearn_events = [e for e in events["unlearn"] if e.task == "unlearn neg_grad"]
    assert [e.done for e in unlearn_events] == list(range(steps + 1)) and unlearn_events[-1].finished
    assert any(e.task.startswith("training compromised") and e.finished for e in events["train"])
    assert any(e.task.startswith("embed images") for e in events["evaluate"])
    assert events["generate"] and all(e.total is None or e.done <= e.total for e in events["generate"])


def test_oversubscribed_workers_wait_passively(monkeypatch):
    from salmubench import runtime

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(runtime, "default_threads", lambda world_size=1: 2)
    assert runtime.worker_environment(jobs=1, threads=2) == {}
    assert runtime.worker_environment(jobs=2, threads=2) == {"OMP_WAIT_POLICY": "PASSIVE"}
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice wins
    assert runtime.worker_environment(jobs=2, threads=2) == {}
    monkeypatch.delenv("OMP_WAIT_POLICY")
    with runtime.environ({"OMP_WAIT_POLICY": "PASSIVE"}):
        import os

        assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in __import__("os").environ
