"""Fake stage functions for the orchestrator tests (dependency injection, no torch).

A module of its own (not conftest.py) so that its class pickles by name into the worker processes of
``--jobs`` > 1 (spawned workers import it from the same sys.path).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "leaderboard"))

from lb_factory import (  # noqa: E402
    CLEAN,
    COMPROMISED,
    METHODS,
    attack_raw_for,
    make_attack,
    make_result,
    sequential_summary,
)

from salmubench.attacks.results import write_attack  # noqa: E402
from salmubench.evaluation.results import read_result, write_result  # noqa: E402
from salmubench.pipeline import StageFns  # noqa: E402
from salmubench.progress import ProgressEvent  # noqa: E402


class Fakes:
    """Stage functions that write small files and count their calls; can crash on demand."""

    def __init__(self, methods=("finetune", "generic_captions", "direct_sim_min"), log: Path | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.log = log  # also append every call to this file (calls made in worker processes, --jobs > 1)
        self.method_list = list(methods)
        self.fail_on: set[str] = set()  # "kind:detail" -> raise RuntimeError
        self.interrupt_on: set[str] = set()  # -> raise KeyboardInterrupt
        self.die_on: set[str] = set()  # -> the process exits at once (a worker killed mid-stage)
        self.resumed: list[bool] = []
        self.train_sleep = 0.0  # seconds each training takes (to see two stages overlap)
        self.model_dirs: list[str] = []  # the model each stage function was given (in this process)
        self.extra: list[dict] = []  # keywords beyond the embedded tier's (arch, imagenet of a given run)

    def _hook(self, tag: str, extra: str = "") -> None:
        self.calls[tag] += 1
        self._log(tag, extra)
        if tag in self.interrupt_on:
            raise KeyboardInterrupt
        if tag in self.die_on:
            os._exit(9)
        if tag in self.fail_on:
            raise RuntimeError(f"boom in {tag}")

    def _log(self, tag: str, extra: str = "") -> None:
        if self.log is not None:  # "tag pid time extra"
            with open(self.log, "a", encoding="utf-8") as f:
                f.write(f"{tag} {os.getpid()} {time.time():.3f} {extra}\n")

    def generate(self, out_dir, preset, seed, on_progress):
        self._hook("generate")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "manifest.json").write_text(f'{{"preset": "{preset}", "seed": {seed}}}')
        return {}

    def train(self, kind, data_dir, out_dir, preset, seed, resume, on_progress, device, threads=None):
        self.resumed.append(resume)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "partial.txt").write_text("started")
        self._hook(f"train:{kind}", f"threads={threads} device={device}")
        time.sleep(self.train_sleep)
        self._log(f"trained:{kind}")
        (out_dir / "model.txt").write_text(f"{kind} {seed}")
        return {"seconds": 1.0}

    def evaluate(self, model_dir, data_dir, out_dir, role, name, run_info, reference_clean, on_progress, device,
                 threads=None, **extra):
        self._hook(f"eval:{name}")
        self.model_dirs.append(str(model_dir))
        self.extra.append({"stage": f"eval:{name}", **extra})
        if role == "compromised":
            res = make_result(COMPROMISED, role=role, name=name, sha="c" * 64)
        elif role == "clean":
            assert reference_clean is None
            res = make_result(CLEAN, role=role, name=name, sha="d" * 64)
        else:
            assert Path(reference_clean).name == "clean"
            vals = METHODS.get(run_info["method"], COMPROMISED)
            vals = {k: v + 0.0005 * run_info["seed"] + 0.0001 * run_info["budget"] for k, v in vals.items()}
            res = make_result(vals, method=run_info["method"], budget=run_info["budget"], seed=run_info["seed"],
                              name=name, sha=hashlib.sha256(name.encode()).hexdigest())
        res.files = {}
        write_result(res, out_dir)
        return {}

    def unlearn(self, method, model_dir, data_dir, out_dir, budget, overrides, seed, on_progress, device,
                threads=None, recipe=None, **extra):
        self._hook(f"unlearn:{method}@{budget:g}/{seed}", f"threads={threads} device={device}")
        self.model_dirs.append(str(model_dir))
        self.extra.append({"stage": f"unlearn:{method}", **extra})
        if on_progress is not None:
            on_progress(ProgressEvent("unlearn steps", 1, 1, "loss 0.5"))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "model.txt").write_text(method)
        return {"cost": {"unlearn_seconds": 2.5, "fwd_passes": 100, "bwd_passes": 50}, "params": overrides,
                "config_hash": "h" + method}

    def attack(self, model_dir, data_dir, out_dir, role, name, references, seed, on_progress, device,
               threads=None, **extra):
        self._hook(f"attack:{name}")
        self.extra.append({"stage": f"attack:{name}", **extra})
        assert (references is None) == (role in ("compromised", "clean"))
        if references is not None:  # the references were attacked first
            assert all((Path(references) / r / "attack.json").is_file() for r in ("compromised", "clean"))
        result = read_result(out_dir)
        raw = attack_raw_for(role if references is None else name.partition("@")[0], seed)
        write_attack(make_attack(result, raw, seed=seed, fingerprint=result.dataset.fingerprint), out_dir)
        return {"seconds": 0.1}

    def unlearn_sequential(self, method, model_dir, clean_dir, data_dir, out_dir, budget, overrides, seed, requests,
                           request_unit, request_seed, theta0, on_progress, device, threads=None, recipe=None,
                           **extra):
        from salmubench.sequential.results import write_record

        assert Path(clean_dir).name == "clean" and Path(model_dir).name == "compromised"
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "partial.txt").write_text("started")
        self._hook(f"sequential:{method}@{budget:g}/{seed}/K{requests}/{request_unit}/{theta0}")
        write_record(sequential_summary(method, seed, requests, budget, theta0), out_dir / "sequential.json")
        return {"cost": {"unlearn_seconds": 12.0}}

    def methods(self):
        return list(self.method_list)

    def attack_config(self):
        return {"hash": "fake"}

    def fns(self, attacks: bool = True, sequential: bool = True) -> StageFns:
        return StageFns(generate=self.generate, train=self.train, evaluate=self.evaluate, unlearn=self.unlearn,
                        methods=self.methods, attack=self.attack if attacks else None,
                        attack_config=self.attack_config,
                        unlearn_sequential=self.unlearn_sequential if sequential else None)
