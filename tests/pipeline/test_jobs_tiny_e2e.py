"""salmubench run --jobs 2 on the real tiny pipeline gives the bytes of --jobs 1 (slow: four tiny trainings).

``--threads 1`` on both sides (the threads of every stage, never split by the jobs): CPU numerics depend
on the thread count (docs/run.md), not on which process ran a stage.
"""

import json
import time

import pytest

from salmubench.cli.main import main
from salmubench.pipeline.compare import run_outputs as outputs


@pytest.mark.slow
def test_jobs_2_gives_the_bytes_of_jobs_1(tmp_path, monkeypatch, capsys, one_torch_thread):
    args = ["run", "--preset", "tiny", "--methods", "finetune,neg_grad", "--no-attacks", "--no-progress",
            "--recipe", "none"]  # salmu-test: no shipped recipe was tuned on it
    walls = {}
    for jobs in (1, 2):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"cache{jobs}"))  # no embedding shared between them
        t0 = time.perf_counter()
        code = main([*args, "--out", str(tmp_path / f"j{jobs}"), "--jobs", str(jobs), "--threads", "1"])
        walls[jobs] = time.perf_counter() - t0
        assert code == 0, capsys.readouterr().err
    with capsys.disabled():
        print(f"\ntiny run, finetune+neg_grad, no attacks: --jobs 1 {walls[1]:.1f} s, --jobs 2 {walls[2]:.1f} s")
    one, two = outputs(tmp_path / "j1"), outputs(tmp_path / "j2")
    models = [k for k in one if k.endswith(".safetensors")]
    assert len(models) == 4 and any(k.endswith("result.json") for k in one) and "leaderboard.json" in one
    assert one.keys() == two.keys()
    assert {k: v for k, v in one.items() if v != two[k]} == {}
    assert json.loads((tmp_path / "j2" / "run.json").read_text())["jobs"] == 2
