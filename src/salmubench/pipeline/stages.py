"""The stage functions ``salmubench run`` calls, behind one small injectable interface.

:class:`StageFns` holds one callable per stage kind with a fixed keyword signature (below). The
real ones (:func:`real_stage_fns`) adapt the library APIs of the data, training, evaluation and
unlearning packages; tests pass fakes.

Signatures (all keyword arguments; ``on_progress`` is a ``salmubench.progress`` callback or None;
``device`` and ``threads`` (torch intra-op threads, None: the library's default) are execution settings):

* ``generate(out_dir, preset, seed, on_progress) -> dict``
* ``train(kind, data_dir, out_dir, preset, seed, resume, on_progress, device, threads) -> dict`` (``seconds``)
  (the Compromised stage also writes the fragile set into ``data_dir``)
* ``evaluate(model_dir, data_dir, out_dir, role, name, run_info, reference_clean, on_progress, device,
  threads)``
  writes ``out_dir/result.json``
* ``unlearn(method, model_dir, data_dir, out_dir, budget, overrides, seed, on_progress, device, threads, recipe)
  -> dict``
  (the ``unlearn.json`` record: ``cost``, ``params``, ``config_hash``, ``recipe``)
* ``unlearn_sequential(method, model_dir, clean_dir, data_dir, out_dir, budget, overrides, seed, requests,
  request_unit, request_seed, theta0, on_progress, device, threads, recipe) -> dict`` writes ``out_dir/sequential.json``
  (``sequential.api.unlearn_sequential``, docs/sequential.md; returns the summary's cost)
* ``methods() -> list[str]``: the registered unlearning methods
* ``attack(model_dir, data_dir, out_dir, role, name, references, seed, on_progress, device, threads) -> dict``
  writes ``out_dir/attack.json`` (``references``: the run's results folder, None for the references); on
  given references also ``constants`` (the calibration file below)
* ``calibrate_attacks(compromised, clean, data_dir, out, seed, on_progress, device, threads) -> dict`` writes
  ``out`` (``attack_constants.json``: the fine-tuning attacks' lr and steps chosen on the given references,
  ``attacks.calibration``)
* ``resolve(spec) -> str``: the registered name of a method spec (a name, ``file.py:Class`` or
  ``module:Class``; loading an external one registers it)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salmubench.io_utils import read_json
from salmubench.progress import OnProgress
from salmubench.runtime import torch_threads


@dataclass
class StageFns:
    """One callable per stage kind."""

    generate: Callable[..., Any]
    train: Callable[..., Any]
    evaluate: Callable[..., Any]
    unlearn: Callable[..., Any]
    methods: Callable[[], list[str]]
    attack: Callable[..., Any] | None = None  # None: no attack stages (e.g. test fakes)
    resolve: Callable[[str], str] | None = None  # None: plain names only (no external methods)
    unlearn_sequential: Callable[..., Any] | None = None  # None: no sequential stages (e.g. test fakes)
    # resolved configs for the cache keys (so a changed preset or method default invalidates the
    # cache even under the same name); None -> {} (the name alone is the key)
    data_config: Callable[[str], dict] | None = None  # preset -> generator config
    train_config: Callable[[str], dict] | None = None  # preset -> training config (no device/threads)
    method_config: Callable[[str, dict], dict] | None = None  # (method, overrides) -> method config
    attack_config: Callable[[], dict] | None = None  # the attack suite's version and constants hash
    method_source: Callable[[str], str | None] | None = None  # method -> sha256 of an external method's file
    calibrate_attacks: Callable[..., Any] | None = None  # None: no attack-calibration stage (e.g. test fakes)


def real_stage_fns() -> StageFns:
    """StageFns backed by the library."""
    return StageFns(generate=_generate, train=_train, evaluate=_evaluate, unlearn=_unlearn, methods=_methods,
                    attack=_attack, unlearn_sequential=_unlearn_sequential, resolve=_resolve, data_config=_data_config, train_config=_train_config,
                    method_config=_method_config, attack_config=_attack_config, method_source=_method_source,
                    calibrate_attacks=_calibrate_attacks)


EXECUTION_FIELDS = ("device", "threads", "workers", "checkpoint_every", "keep_checkpoints")


def _data_config(preset: str) -> dict:
    from salmubench.data.generate import GENERATOR_VERSION
    from salmubench.presets import get_preset

    return get_preset(preset).data.model_dump(mode="json") | {"generator_version": GENERATOR_VERSION}


def _train_config(preset: str) -> dict:
    from salmubench.presets import get_preset

    cfg = get_preset(preset).train.model_dump(mode="json")
    return {k: v for k, v in cfg.items() if k not in EXECUTION_FIELDS}


def _method_config(method: str, overrides: dict) -> dict:
    from salmubench.config import build_config
    from salmubench.unlearning.registry import get_method

    cls = get_method(method)
    return build_config(cls.config_cls, overrides, what=f"{method} config").model_dump(mode="json")


def _method_source(method: str) -> str | None:
    from salmubench.unlearning.registry import get_method, method_source_sha256

    return method_source_sha256(get_method(method))


def _resolve(spec: str) -> str:
    from salmubench.unlearning.registry import get_method

    return get_method(spec).name


def _generate(out_dir: Path, preset: str, seed: int, on_progress: OnProgress | None) -> dict:
    from salmubench.data.generate import generate_dataset

    workers = max(1, min(4, os.cpu_count() or 1))
    manifest = generate_dataset(out_dir, preset=preset, seed=seed, on_progress=on_progress, workers=workers)
    return {"counts": manifest.get("counts")} if isinstance(manifest, dict) else {}


def _train(kind: str, data_dir: Path, out_dir: Path, preset: str, seed: int, resume: bool,
           on_progress: OnProgress | None, device: str | None, threads: int | None = None) -> dict:
    from salmubench.training.fragile import write_fragile_set
    from salmubench.training.reference import read_train_record, train_reference

    overrides = ({"device": device} if device else {}) | ({"threads": threads} if threads else {})
    train_reference(kind, data_dir, out_dir, preset=preset, seed=seed, resume=True, on_progress=on_progress,
                    overrides=overrides or None)
    record = read_train_record(out_dir)
    info = {"seconds": record.get("seconds"), "steps": record.get("steps")}
    if kind == "compromised":  # as `salmubench train`: the fragile set comes from the Compromised model
        with torch_threads(threads):
            ids = write_fragile_set(out_dir, data_dir, fraction=record["config"]["fragile_fraction"])
        info["fragile"] = len(ids)
    return info


def _evaluate(model_dir: Path | str, data_dir: Path, out_dir: Path, role: str, name: str, run_info: dict | None,
              reference_clean: Path | None, on_progress: OnProgress | None, device: str | None,
              threads: int | None = None, arch: str | None = None, imagenet: str | None = None,
              precision: str = "fp32") -> dict:
    from salmubench.evaluation.evaluator import evaluate

    with torch_threads(threads):
        result = evaluate(str(model_dir), data_dir, out_dir, role=role, name=name, run_info=run_info,
                          reference_clean=reference_clean, on_progress=on_progress, device=device or "cpu",
                          arch=arch, imagenet=imagenet, precision=precision)
    return {"eval_seconds": result.cost.eval_seconds}


def _unlearn(method: str, model_dir: Path | str, data_dir: Path, out_dir: Path, budget: float, overrides: dict,
             seed: int, on_progress: OnProgress | None, device: str | None, threads: int | None = None,
             recipe: str | None = None, arch: str | None = None, precision: str = "fp32") -> dict:
    from salmubench.execution import ExecContext
    from salmubench.unlearning.api import unlearn

    context = ExecContext(device=device, threads=threads, on_progress=on_progress, precision=precision)
    out = unlearn(method, model_dir, data_dir, out_dir, budget=budget, overrides=overrides, seed=seed,
                  context=context, recipe=recipe, arch=arch)  # arch: a given bare checkpoint's
    return read_json(Path(out) / "unlearn.json")


def _unlearn_sequential(method: str, model_dir: Path, clean_dir: Path, data_dir: Path, out_dir: Path, budget: float,
                        overrides: dict, seed: int, requests: int, request_unit: str, request_seed: int, theta0: str,
                        on_progress: OnProgress | None, device: str | None, threads: int | None = None,
                        recipe: str | None = None, arch: str | None = None, imagenet: str | None = None) -> dict:
    from salmubench.sequential.api import unlearn_sequential
    from salmubench.sequential.results import read_summary

    out = unlearn_sequential(method, model_dir, data_dir, out_dir, requests, budget=budget, overrides=overrides,
                             seed=seed, recipe=recipe, request_unit=request_unit, request_seed=request_seed,
                             theta0=theta0, clean=clean_dir, on_progress=on_progress, device=device, threads=threads,
                             arch=arch, imagenet=imagenet)
    return {"cost": read_summary(out).cost.model_dump(mode="json")}


def _attack_config() -> dict:
    from salmubench.attacks import SUITE_VERSION, suite_hash

    return {"version": SUITE_VERSION, "hash": suite_hash()}


def _attack(model_dir: Path | str, data_dir: Path, out_dir: Path, role: str, name: str, references: Path | None,
            seed: int, on_progress: OnProgress | None, device: str | None, threads: int | None = None,
            arch: str | None = None, constants: str | None = None, precision: str = "fp32") -> dict:
    from salmubench.attacks.api import attack
    from salmubench.execution import ExecContext

    result = attack(str(model_dir), data_dir, out_dir, references=references, seed=seed, role=role,
                    name=name, context=ExecContext(device=device or "cpu", threads=threads, on_progress=on_progress,
                                                   precision=precision), arch=arch, constants=constants)
    return {"seconds": result.cost.get("seconds"), "robustness": result.summary.robustness if result.summary else None}


def _calibrate_attacks(compromised: Path | str, clean: Path | str, data_dir: Path, out: Path, seed: int,
                       on_progress: OnProgress | None, device: str | None, threads: int | None = None,
                       arch: str | None = None) -> dict:
    from salmubench.attacks.calibration import calibrate
    from salmubench.execution import ExecContext

    context = ExecContext(device=device or "cpu", threads=threads, on_progress=on_progress)
    record = calibrate(str(compromised), str(clean), data_dir, out, seed=seed, context=context, arch=arch)
    return {"relearn": record["relearn"], "satisfied": record["satisfied"], "seconds": record["seconds"]}


def _methods() -> list[str]:
    from salmubench.unlearning.registry import method_names

    return method_names()
