"""The run folder's lock (pipeline/lock.py): one `salmubench run` per RUN_DIR, stale locks taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from salmubench.cli.main import main
from salmubench.errors import ConfigError
from salmubench.pipeline import RunConfig, run_benchmark
from salmubench.pipeline.lock import LOCK_NAME, UNREADABLE_GRACE_S, acquire, release


def cfg(tmp_path, **kw):
    return RunConfig(out=str(tmp_path / "run"), methods=("finetune",), attacks=False, **kw)


def write_lock(folder: Path, pid: int, host: str | None = None, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    record = {"pid": pid, "host": host or socket.gethostname(), "started": "2026-01-01T00:00:00+00:00", **extra}
    path.write_text(json.dumps(record))
    return path


@pytest.fixture
def live_pid():
    proc = subprocess.Popen(["sleep", "30"])
    yield proc.pid
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_live_holder_makes_the_run_refuse_in_one_line(tmp_path, fakes, live_pid, monkeypatch, capsys):
    lock = write_lock(tmp_path / "run", live_pid)
    before = lock.read_text()
    with pytest.raises(ConfigError, match=rf"in use by another salmubench run \(pid {live_pid} on ") as err:
        run_benchmark(cfg(tmp_path), fakes.fns())
    assert "\n" not in str(err.value) and f"kill {live_pid}" in str(err.value)
    assert not fakes.calls and not (tmp_path / "run" / "run.json").exists()  # nothing ran, nothing written
    assert lock.read_text() == before  # the holder's lock is untouched
    monkeypatch.setattr("salmubench.pipeline.runner.real_stage_fns", fakes.fns)
    code = main(["run", "--out", str(tmp_path / "run"), "--methods", "finetune", "--no-attacks", "--no-progress"])
    err_text = capsys.readouterr().err
    assert code == 2 and not fakes.calls
    assert err_text.count("\n") == 1 and f"pid {live_pid}" in err_text and "Traceback" not in err_text


def test_a_stale_lock_of_a_dead_pid_is_taken_over_and_the_run_proceeds(tmp_path, fakes):
    write_lock(tmp_path / "run", dead_pid())
    report = run_benchmark(cfg(tmp_path), fakes.fns())
    assert report.ok and fakes.calls["generate"] == 1
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    assert not list((tmp_path / "run").glob(f"{LOCK_NAME}*"))  # nothing set aside is left behind


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc")
def test_a_reused_pid_is_stale(tmp_path, live_pid):
    """The pid is alive but started at another time than the process that wrote the lock."""
    folder = tmp_path / "run"
    write_lock(folder, live_pid, proc_start="1")
    record = acquire(folder)
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    release(folder, record)
    assert not (folder / LOCK_NAME).exists()


def test_a_lock_from_another_host_is_held(tmp_path, fakes):
    write_lock(tmp_path / "run", dead_pid(), host="some-other-host.example")
    with pytest.raises(ConfigError, match=r"on host 'some-other-host.example': delete .*\.lock if that run"):
        run_benchmark(cfg(tmp_path), fakes.fns())
    assert not fakes.calls


def test_an_unreadable_lock_is_held_while_young_and_stale_when_old(tmp_path, fakes):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK_NAME).write_text("")  # created, not yet written
    with pytest.raises(ConfigError, match="being locked by another run"):
        run_benchmark(cfg(tmp_path), fakes.fns())
    old = time.time() - UNREADABLE_GRACE_S - 5
    os.utime(folder / LOCK_NAME, (old, old))
    assert run_benchmark(cfg(tmp_path), fakes.fns()).ok
    assert not (folder / LOCK_NAME).exists()


class BeginView:
    """A run view that calls ``on_begin()`` as each stage begins (and draws nothing)."""

    on_progress = None

    def __init__(self, on_begin) -> None:
        self.on_begin = on_begin

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def begin(self, stage, index, stages, cache):
        self.on_begin()

    def end(self, stage, status):
        return None


def test_the_lock_is_held_during_the_run_and_gone_after_it(tmp_path, fakes):
    seen = []
    view = BeginView(lambda: seen.append(json.loads((tmp_path / "run" / LOCK_NAME).read_text())))
    assert run_benchmark(cfg(tmp_path), fakes.fns(), view=view).ok
    assert seen and all(r["pid"] == os.getpid() and r["host"] == socket.gethostname() for r in seen)
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_the_lock_is_released_after_ctrl_c_and_after_an_exception(tmp_path, fakes):
    fakes.interrupt_on = {"train:clean"}
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg(tmp_path), fakes.fns())
    assert not (tmp_path / "run" / LOCK_NAME).exists()

    def crash():
        raise RuntimeError("view crashed")

    fakes.interrupt_on = set()
    with pytest.raises(RuntimeError, match="view crashed"):
        run_benchmark(cfg(tmp_path), fakes.fns(), view=BeginView(crash))
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    assert run_benchmark(cfg(tmp_path), fakes.fns()).ok  # and the folder is usable again


def test_a_second_run_on_the_same_folder_is_refused_while_the_first_runs(tmp_path, fakes):
    fakes.train_sleep = 1.5
    first: dict = {}
    thread = threading.Thread(target=lambda: first.update(report=run_benchmark(cfg(tmp_path), fakes.fns())))
    thread.start()
    try:
        deadline = time.time() + 20
        while fakes.calls["train:compromised"] == 0 and time.time() < deadline:
            time.sleep(0.02)
        with pytest.raises(ConfigError, match=rf"pid {os.getpid()}\b"):
            run_benchmark(cfg(tmp_path), fakes.fns())
    finally:
        thread.join()
    assert first["report"].ok and not (tmp_path / "run" / LOCK_NAME).exists()
