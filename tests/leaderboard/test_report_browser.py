"""report.html in real headless Chromium: loads without console messages, renders, sorts.

Skipped only when Debian's ``chromium`` is absent and CI is not set (scripts/install_chromium.sh
installs it; scripts/test.sh calls that). The page runs its own self-check when opened with
``#selftest`` and writes the outcome as JSON into ``<pre id="selftest">``, which ``--dump-dom`` returns.
"""

import html
import json
import os
import re
import shutil
import subprocess

import pytest
from lb_factory import write_run, write_sequential

from salmubench.leaderboard import rebuild

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]


def chromium() -> str:
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required in CI (run scripts/install_chromium.sh)")
        pytest.skip("chromium not installed (run scripts/install_chromium.sh); CI is not set")
    return exe


def open_page(exe: str, page, tmp_path, fragment: str = "#selftest") -> tuple[str, list[str]]:
    profile = tmp_path / "profile"
    proc = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri() + fragment],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def selftest(dom: str) -> dict:
    found = re.findall(r'<pre id="selftest">(.*?)</pre>', dom, re.S)
    assert found, "the page's self-check did not run (script error?)"
    return json.loads(html.unescape(found[-1]))


def test_report_renders_and_sorts_in_chromium(tmp_path):
    exe = chromium()
    run = write_run(tmp_path / "run")
    _, paths = rebuild([run], run)
    dom, console = open_page(exe, paths["html"], tmp_path)
    assert console == []
    res = selftest(dom)
    assert res["errors"] == [] and res["ok"], res
    assert res["rows"] == 7 and res["points"] == 7 and res["hists"] == 5 and res["bars"] > 0
    assert res["firstAfterNameSort"] == "clean"  # "Clean" < "Compromised" < "delete_salmu..." (localeCompare)
    # the table is in the DOM with every model, before any sorting happened
    plain, _ = open_page(exe, paths["html"], tmp_path, fragment="")
    assert plain.count('<tr data-key="') == 7 and "finetune@5x" in plain and "<svg" in plain


def test_report_recovery_bars_in_chromium(tmp_path):
    exe = chromium()
    run = write_run(tmp_path / "run", attacks=True)
    lb, paths = rebuild([run], run)
    dom, console = open_page(exe, paths["html"], tmp_path)
    assert console == []
    res = selftest(dom)
    assert res["errors"] == [] and res["ok"], res
    # 5 methods x 3 available attacks (relearn, quantize, mia; paraphrase is "not available")
    assert res["recBars"] == res["expectedRecBars"] == 15 and res["robustDesc"]
    assert res["attackFindings"] == len(lb["attack_findings"]) == 4 + 5
    plain, _ = open_page(exe, paths["html"], tmp_path, fragment="")
    assert 'id="recovery-svg"' in plain and "delete_salmu@5x is shallow" in plain
    assert plain.count('class="rec-bar"') == 15 and 'data-col="score_robust"' in plain


def test_report_without_rows_or_attributes_still_renders(tmp_path):
    exe = chromium()
    run = write_run(tmp_path / "run", seeds=(0,), rows=False)
    for res in run.rglob("result.json"):  # drop per-attribute extras
        data = json.loads(res.read_text())
        data["extras"] = {}
        res.write_text(json.dumps(data))
    _, paths = rebuild([run], run)
    dom, console = open_page(exe, paths["html"], tmp_path)
    res = selftest(dom)
    assert console == [] and res["ok"] and res["hists"] == 0 and res["bars"] == 0 and res["recBars"] == 0
    assert res["seqCharts"] == 0 and 'id="sequential"' not in dom
    assert "No per-row forget similarities" in dom and "No attack.json files" in dom


def test_report_is_self_contained(run_dir):
    _, paths = rebuild([run_dir], run_dir)
    text = paths["html"].read_text()
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', text)
    assert "@import" not in text and "fetch(" not in text and "XMLHttpRequest" not in text


def test_report_agreement_and_pareto_in_chromium(tmp_path):
    from salmubench.leaderboard import build_leaderboard, write_outputs

    exe = chromium()
    run = write_run(tmp_path / "run", seeds=(0,))
    lb = build_leaderboard([run])
    trial = [[0.2, 0.9], [0.6, 0.7], [0.9, 0.3], [0.5, 0.5]]
    lb["pareto"] = [{"budget": 5.0, "references": {"compromised": {"efficacy": 0.0, "utility": 1.0},
                                                   "clean": {"structured": {"efficacy": 1.0, "utility": 0.1},
                                                             "forget-retain": {"efficacy": 1.0, "utility": 0.9}}},
                     "methods": {m: {"overrides": [{"lr": 10.0 ** -k} for k in range(4)],
                                     "selections": {"structured": {"points": trial, "front": [0, 1, 2], "chosen": 1},
                                                    "forget-retain": {"points": trial, "front": [0, 1, 2],
                                                                      "chosen": 2}}}
                                 for m in ("npo", "scrub", "ssd")}}]
    paths = write_outputs(lb, tmp_path / "out")
    dom, console = open_page(exe, paths["html"], tmp_path)
    res = selftest(dom)
    assert console == [] and res["ok"], res
    assert res["agreementRows"] == 5 == len(lb["agreement"]["baselines"])  # the five paper baselines of write_run
    assert res["paretoPlots"] == 3 and res["paretoChosen"] == 6  # one chosen trial per protocol and method
    assert "In the paper's mode: 5x: " in dom


def test_report_sequential_charts_in_chromium(tmp_path):
    """With sequential.json files: one line chart per metric and request split, one line per method, Clean and
    Compromised dashed; the table has one row per method. Without them the section is absent (tests above)."""
    exe = chromium()
    run = write_sequential(write_run(tmp_path / "run", seeds=(0,)), seeds=(0,), k=4)
    lb, paths = rebuild([run], run)
    dom, console = open_page(exe, paths["html"], tmp_path)
    res = selftest(dom)
    assert console == [] and res["errors"] == [] and res["ok"], res
    n_metrics = len(lb["sequential"]["metrics"])
    assert res["seqCharts"] == n_metrics == 9 and res["seqLines"] == 2 * n_metrics and res["seqRows"] == 2
    assert res["seqRefs"] == 2 * n_metrics  # Clean and Compromised on every chart (PendingSim: steps 1..K-1)
    plain, _ = open_page(exe, paths["html"], tmp_path, fragment="")
    assert 'id="sequential"' in plain and 'data-metric="pending_sim"' in plain and "4 identity requests" in plain
    # before the Notes section, after everything else
    assert plain.index('id="sequential"') > plain.index('id="pareto"') and plain.index('id="sequential"') < plain.index('id="notes"')
