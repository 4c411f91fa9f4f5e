"""Same seed, same bytes: re-run every method (and a few evaluations) against a finished baseline run.

    python benchmarks/check_bytes.py --base RUN_DIR --out WORK_DIR [--methods all|a,b] \
        [--eval compromised,clean,finetune,...] [--report benchmarks/results/check_bytes_mini.json]

``RUN_DIR`` is a finished ``salmubench run`` (budget 1, seed 0) made by another version of the code,
with the same CPU pin (``salmubench.runtime``). For every method, this script runs the command line

    salmubench unlearn --method M --model RUN_DIR/models/compromised --data RUN_DIR/data \
        --out WORK_DIR/M --threads T --no-progress

with T the torch thread count the baseline run recorded in its ``unlearn.json`` (the intra-op thread
count changes float summation order, so it is part of "same bytes"; ``--threads N`` forces one), and
compares the sha256 of ``open_clip_model.safetensors`` with
``RUN_DIR/models/unlearned/M@1x-s0/``. For each name in ``--eval`` (``compromised``, ``clean`` or a
method), it runs ``salmubench eval --no-cache`` on the baseline's model (references) or on the re-made
one (methods) and compares every metric value and the whole official-schema JSON with
``RUN_DIR/results/<name>/``. Writes a JSON report; exit code 0 only if everything is identical.
``--wait`` checks a baseline that is still running: each model / result is checked as soon as the
baseline has finished it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from salmubench.io_utils import read_json, sha256_file

WEIGHTS = "open_clip_model.safetensors"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "salmubench.cli.main", *args], capture_output=True, text=True)


def wait_for(path: Path, seconds: float) -> None:
    """Block until ``path`` exists (a baseline still running writes it last), at most ``seconds``."""
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline:
        time.sleep(10)


def check_unlearn(base: Path, out: Path, method: str, threads: int | None, wait: float = 0) -> dict:
    folder = base / "models" / "unlearned" / f"{method}@1x-s0"
    wait_for(folder / "unlearn.json", wait)
    threads = threads or int(read_json(folder / "unlearn.json")["threads"])
    t0 = time.perf_counter()
    proc = cli("unlearn", "--method", method, "--model", str(base / "models" / "compromised"), "--data",
               str(base / "data"), "--out", str(out / method), "--threads", str(threads), "--no-progress")
    want = folder / WEIGHTS
    record = {"method": method, "threads": threads, "seconds": round(time.perf_counter() - t0, 1),
              "exit_code": proc.returncode}
    if proc.returncode != 0:
        return {**record, "identical": False, "error": proc.stderr.strip().splitlines()[-1:]}
    got, expected = sha256_file(out / method / WEIGHTS), sha256_file(want)
    return {**record, "sha256": got, "baseline_sha256": expected, "identical": got == expected}


def check_eval(base: Path, out: Path, name: str, wait: float = 0) -> dict:
    reference = name in ("compromised", "clean")
    model = base / "models" / name if reference else out / name
    base_result = base / "results" / (name if reference else f"{name}@1x-s0")
    wait_for(base / ".stages" / f"eval-{name if reference else f'{name}@1x-s0'}.json", wait)
    target = out / "results" / name
    args = ["eval", "--model", str(model), "--data", str(base / "data"), "--out", str(target), "--no-cache",
            "--quiet", "--name", read_json(base_result / "result.json")["model"]["name"] or name]
    if name != "clean":
        args += ["--reference-clean", str(base / "results" / "clean")]
    t0 = time.perf_counter()
    proc = cli(*args)
    record = {"name": name, "seconds": round(time.perf_counter() - t0, 1), "exit_code": proc.returncode}
    if proc.returncode != 0:
        return {**record, "identical": False, "error": proc.stderr.strip().splitlines()[-1:]}
    got, want = read_json(target / "result.json"), read_json(base_result / "result.json")
    values = {k: m["value"] for k, m in got["metrics"].items()}
    expected = {k: m["value"] for k, m in want["metrics"].items()}
    official_same = read_json(target / got["files"]["official"]) == read_json(base_result / want["files"]["official"])
    differing = sorted(k for k in expected if values.get(k) != expected[k])
    return {**record, "metrics": values, "differing_metrics": differing, "official_json_identical": official_same,
            "extras_identical": got["extras"].get("per_attribute") == want["extras"].get("per_attribute")
            and got["extras"].get("assoc_str_ks_vs_clean", {}).get("statistic")
            == want["extras"].get("assoc_str_ks_vs_clean", {}).get("statistic"),
            "identical": not differing and official_same}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, type=Path, help="finished baseline run dir")
    p.add_argument("--out", required=True, type=Path, help="work dir for the re-made models and results")
    p.add_argument("--methods", default="all", help="'all' (every registered method) or a comma list")
    p.add_argument("--eval", default="compromised,clean", help="comma list of references / methods to re-evaluate")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of the re-runs (default: each baseline model's recorded thread count)")
    p.add_argument("--wait", type=float, default=0,
                   help="seconds to wait for each baseline model / result still being made (default 0)")
    p.add_argument("--report", type=Path, default=None, help="write the JSON report here (default: OUT/report.json)")
    args = p.parse_args(argv)

    from salmubench.runtime import environment
    from salmubench.unlearning.registry import method_names

    methods = method_names() if args.methods == "all" else [m for m in args.methods.split(",") if m]
    evals = [e for e in args.eval.split(",") if e]
    report: dict = {"base": str(args.base), "base_run": read_json(args.base / "run.json"), "env": environment(),
                    "unlearn": [], "eval": []}
    for method in methods:
        report["unlearn"].append(check_unlearn(args.base, args.out, method, args.threads, args.wait))
        print(json.dumps(report["unlearn"][-1]), flush=True)
    for name in evals:
        report["eval"].append(check_eval(args.base, args.out, name, args.wait))
        print(json.dumps({k: v for k, v in report["eval"][-1].items() if k != "metrics"}), flush=True)
    same_models = sum(r["identical"] for r in report["unlearn"])
    same_evals = sum(r["identical"] for r in report["eval"])
    report["summary"] = {"models_identical": f"{same_models}/{len(report['unlearn'])}",
                         "evaluations_identical": f"{same_evals}/{len(report['eval'])}"}
    path = args.report or args.out / "report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["summary"]))
    return 0 if same_models == len(report["unlearn"]) and same_evals == len(report["eval"]) else 1


if __name__ == "__main__":
    sys.exit(main())
