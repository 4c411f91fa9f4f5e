"""The real pipeline end to end on the tiny preset (slow: trains two tiny CLIPs on the CPU), with a
built-in method and the example method of docs/adding_a_method.md loaded from a file outside src/."""

import json
import re
import time
from pathlib import Path

import pytest

from salmubench.attacks.results import read_attack
from salmubench.cli.main import main
from salmubench.evaluation.protocol import METRIC_KEYS

DOC = Path(__file__).resolve().parents[2] / "docs" / "adding_a_method.md"


@pytest.mark.slow
def test_tiny_run_end_to_end_with_an_external_method_and_cached_rerun(tmp_path, capsys, monkeypatch,
                                                                     isolated_methods):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # embedding cache
    method_file = tmp_path / "elsewhere" / "cosine_diff.py"
    method_file.parent.mkdir()
    method_file.write_text(re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)[0])
    out = tmp_path / "run"
    # --recipe none: the tiny preset's salmu-test is not the architecture the shipped recipes were tuned on
    args = ["run", "--preset", "tiny", "--out", str(out), "--methods", f"finetune,{method_file}:CosineDiff",
            "--recipe", "none", "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    lb = json.loads((out / "leaderboard.json").read_text())
    names = [r["name"] for r in lb["rows"]]
    assert names[:2] == ["Compromised", "Clean"] and set(names[2:]) == {"finetune@1x", "cosine_diff@1x"}
    assert all(set(r["values"]) == set(METRIC_KEYS) for r in lb["rows"])
    assert all(r["cost"]["unlearn_seconds"] is not None for r in lb["rows"][2:])
    assert (out / "report.html").stat().st_size > 10_000
    assert json.loads((out / "run.json").read_text())["resolved_methods"] == ["finetune", "cosine_diff"]
    markers = sorted(p.name for p in (out / ".stages").glob("*.json"))
    assert len(markers) == 1 + 2 + 2 + 2 + 2 * 3 + 1 and not any("started" in m for m in markers)
    assert "unlearn-cosine_diff@1x-s0.json" in markers
    # recovery attacks on every model (docs/attacks.md), references first; the leaderboard places them
    for name in ("compromised", "clean", "finetune@1x-s0", "cosine_diff@1x-s0"):
        att = read_attack(out / "results" / name)
        assert att.dataset.has_unseen and all(e.available for e in att.attacks.values()), name
    assert read_attack(out / "results" / "finetune@1x-s0").references["clean"].file.endswith("clean/attack.json")
    rows = {r["name"]: r for r in lb["rows"]}
    assert lb["attacks"]["names"] == ["relearn", "benign_finetune", "quantize", "paraphrase", "mia"]
    assert rows["Compromised"]["robustness"] == 0.0 and rows["Clean"]["robustness"] == 1.0
    assert all(0.0 <= rows[n]["robustness"] <= 1.0 for n in ("finetune@1x", "cosine_diff@1x"))
    assert "## Robustness: recovery attacks" in (out / "leaderboard.md").read_text()
    capsys.readouterr()
    t0 = time.perf_counter()
    assert main(args) == 0
    assert "(14 cached)" in capsys.readouterr().out and time.perf_counter() - t0 < 30
    # editing the external method's file (here only its card) invalidates its runs, and only those
    method_file.write_text(method_file.read_text().replace("(an example)", "(an edited example)"))
    assert main(args) == 0
    assert "4 done, 10 cached" in capsys.readouterr().out
