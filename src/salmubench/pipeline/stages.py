"""The stage functions ``salmubench run`` calls, behind one small injectable interface.

:class:`StageFns` holds one callable per stage kind with a fixed keyword signature (below). The
real ones (:func:`real_stage_fns`) adapt the library APIs of the data, training, evaluation and
unlearning packages; tests pass fakes. A stage whose library API cannot be imported is ``None``
and ``missing`` says why (``salmubench run`` then runs what exists and lists what is missing).

Signatures (all keyword arguments):

* ``generate(out_dir, preset, seed, progress) -> dict``
* ``train(kind, data_dir, out_dir, preset, seed, resume, progress, device) -> dict`` (``seconds``)
  (the Compromised stage also writes the fragile set into ``data_dir``)
* ``evaluate(model_dir, data_dir, out_dir, role, name, run_info, reference_clean, progress, device)``
  writes ``out_dir/result.json``
* ``unlearn(method, model_dir, data_dir, out_dir, budget, overrides, seed, progress, device) -> dict``
  (the ``unlearn.json`` record: ``cost``, ``params``, ``config_hash``)
* ``methods() -> list[str]``: the registered unlearning methods
* ``attack(model_dir, data_dir, out_dir, role, name, references, seed, progress, device) -> dict``
  writes ``out_dir/attack.json`` (``references``: the run's results folder, None for the references)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salmubench.io_utils import read_json

STAGE_APIS = {  # StageFns field -> (module, function) of the library API it adapts
    "generate": ("salmubench.data.generate", "generate_dataset"),
    "train": ("salmubench.training.reference", "train_reference"),
    "evaluate": ("salmubench.evaluation.evaluator", "evaluate"),
    "unlearn": ("salmubench.unlearning.api", "unlearn"),
    "methods": ("salmubench.unlearning.registry", "method_names"),
    "attack": ("salmubench.attacks.api", "attack"),
}


@dataclass
class StageFns:
    """One callable per stage kind (None = not available; ``missing[name]`` says why)."""

    generate: Callable[..., Any] | None = None
    train: Callable[..., Any] | None = None
    evaluate: Callable[..., Any] | None = None
    unlearn: Callable[..., Any] | None = None
    methods: Callable[[], list[str]] | None = None
    attack: Callable[..., Any] | None = None
    # resolved configs for the cache keys (so a changed preset or method default invalidates the
    # cache even under the same name); None -> {} (the name alone is the key)
    data_config: Callable[[str], dict] | None = None  # preset -> generator config
    train_config: Callable[[str], dict] | None = None  # preset -> training config (no device/threads)
    method_config: Callable[[str, dict], dict] | None = None  # (method, overrides) -> method config
    attack_config: Callable[[], dict] | None = None  # the attack suite's version and constants hash
    missing: dict[str, str] = field(default_factory=dict)


def _api(name: str) -> Callable[..., Any]:
    module, func = STAGE_APIS[name]
    return getattr(importlib.import_module(module), func)


def real_stage_fns() -> StageFns:
    """StageFns backed by the library; unavailable APIs are reported in ``missing``."""
    adapters = {"generate": _generate, "train": _train, "evaluate": _evaluate, "unlearn": _unlearn,
                "methods": _methods, "attack": _attack}
    fns = StageFns()
    for name, adapter in adapters.items():
        try:
            _api(name)
        except (ImportError, AttributeError) as exc:
            module, func = STAGE_APIS[name]
            fns.missing[name] = f"{module}.{func} is not available ({exc.__class__.__name__}: {exc})"
            continue
        setattr(fns, name, adapter)
    if fns.generate:
        fns.data_config = _data_config
    if fns.train:
        fns.train_config = _train_config
    if fns.unlearn:
        fns.method_config = _method_config
    if fns.attack:
        fns.attack_config = _attack_config
    return fns


EXECUTION_FIELDS = ("device", "threads", "workers", "checkpoint_every", "keep_checkpoints")


def _data_config(preset: str) -> dict:
    from salmubench.data.generate import GENERATOR_VERSION, get_preset

    return get_preset(preset).model_dump(mode="json") | {"generator_version": GENERATOR_VERSION}


def _train_config(preset: str) -> dict:
    from salmubench.training.config import train_config

    cfg = train_config(preset).model_dump(mode="json")
    return {k: v for k, v in cfg.items() if k not in EXECUTION_FIELDS}


def _method_config(method: str, overrides: dict) -> dict:
    from salmubench.config import build_config
    from salmubench.unlearning.registry import get_method

    cls = get_method(method)
    return build_config(cls.config_cls, overrides, what=f"{method} config").model_dump(mode="json")


def _generate(out_dir: Path, preset: str, seed: int, progress: bool) -> dict:
    workers = max(1, min(4, os.cpu_count() or 1))
    manifest = _api("generate")(out_dir, preset=preset, seed=seed, progress=progress, workers=workers)
    return {"counts": manifest.get("counts")} if isinstance(manifest, dict) else {}


def _train(kind: str, data_dir: Path, out_dir: Path, preset: str, seed: int, resume: bool, progress: bool,
           device: str | None) -> dict:
    from salmubench.training.fragile import write_fragile_set
    from salmubench.training.reference import read_train_record

    overrides = {"device": device} if device else None
    _api("train")(kind, data_dir, out_dir, preset=preset, seed=seed, resume=True, progress=progress,
                  overrides=overrides)
    record = read_train_record(out_dir)
    info = {"seconds": record.get("seconds"), "steps": record.get("steps")}
    if kind == "compromised":  # as `salmubench train`: the fragile set comes from the Compromised model
        ids = write_fragile_set(out_dir, data_dir, fraction=record["config"]["fragile_fraction"])
        info["fragile"] = len(ids)
    return info


def _evaluate(model_dir: Path, data_dir: Path, out_dir: Path, role: str, name: str, run_info: dict | None,
              reference_clean: Path | None, progress: bool, device: str | None) -> dict:
    result = _api("evaluate")(str(model_dir), data_dir, out_dir, role=role, name=name, run_info=run_info,
                              reference_clean=reference_clean, progress=progress, device=device or "cpu")
    return {"eval_seconds": result.cost.eval_seconds}


def _unlearn(method: str, model_dir: Path, data_dir: Path, out_dir: Path, budget: float, overrides: dict,
             seed: int, progress: bool, device: str | None) -> dict:
    out = _api("unlearn")(method, model_dir, data_dir, out_dir, budget=budget, overrides=overrides, seed=seed,
                          progress=progress, device=device)
    return read_json(Path(out) / "unlearn.json")


def _attack_config() -> dict:
    from salmubench.attacks import SUITE_VERSION, suite_hash

    return {"version": SUITE_VERSION, "hash": suite_hash()}


def _attack(model_dir: Path, data_dir: Path, out_dir: Path, role: str, name: str, references: Path | None,
            seed: int, progress: bool, device: str | None) -> dict:
    result = _api("attack")(str(model_dir), data_dir, out_dir, references=references, seed=seed, role=role,
                            name=name, device=device or "cpu")
    return {"seconds": result.cost.get("seconds"), "robustness": result.summary.robustness if result.summary else None}


def _methods() -> list[str]:
    return list(_api("methods")())
