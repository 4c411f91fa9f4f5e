"""Contract checks for unlearning methods, built-in or external: ``check_method(MyMethod)``.

The registry's contract test (``tests/unlearning/test_contract.py``) calls this same helper for every
built-in method; call it in your own test to get the same guarantees::

    from salmubench.testing import check_method
    from my_method import MyMethod

    def test_my_method_contract(tmp_path):
        check_method(MyMethod, workdir=tmp_path)

Checked, in order (a failure raises :class:`MethodContractError` naming the check):

* **static**: a concrete, registered ``UnlearningMethod`` subclass; a method card (module docstring
  of at least three lines, one-line summary); a ``MethodConfig`` whose defaults all build; streams
  among ``forget`` / ``retain`` / ``forget_generic``; every ``search_space`` key a config field and
  every grid point a valid config;
* **run** (on the ``tiny`` generated dataset and a seeded ``salmu-test`` model unless you pass your
  own): it runs through the public ``unlearn`` API, records its cost, logs only finite loss terms,
  changes the model but never the frozen logit scale, is deterministic for a seed (an in-memory re-run
  equals the saved weights, pass for pass) and the saved folder reloads.
"""

from __future__ import annotations

import inspect
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from salmubench.unlearning.base import STREAMS, MethodConfig, UnlearningMethod


class MethodContractError(AssertionError):
    """A method breaks the contract every method must keep (the message names the check)."""


def _require(ok: bool, check: str, detail: str) -> None:
    if not ok:
        raise MethodContractError(f"{check}: {detail}")


def check_static(method: type[UnlearningMethod] | str) -> type[UnlearningMethod]:
    """The checks that need no data (module docstring); returns the method class."""
    from salmubench.config import build_config
    from salmubench.errors import SalmuError
    from salmubench.tuning.spaces import grid
    from salmubench.unlearning.registry import METHODS, ensure_registered, get_method

    cls = get_method(method) if isinstance(method, str) else method
    _require(isinstance(cls, type) and issubclass(cls, UnlearningMethod), "class",
             f"{cls!r} is not an UnlearningMethod subclass")
    _require(not inspect.isabstract(cls), "class", f"{cls.__qualname__} is abstract")
    ensure_registered(cls)  # an external class imported directly (e.g. in the user's test)
    _require(bool(cls.name) and METHODS.get(cls.name) is cls, "registry",
             f"{cls.__qualname__} is not registered (decorate it with @register_method(name))")
    card = (sys.modules[cls.__module__].__doc__ or "").strip()
    _require(len(card.splitlines()) >= 3, "method card",
             f"{cls.name}: the module docstring is the method card (equation, data, source, defaults); "
             f"it has {len(card.splitlines())} line(s)")
    summary = cls.summary()
    _require(bool(summary) and "\n" not in summary, "summary", f"{cls.name}: no one-line description")
    _require(isinstance(cls.config_cls, type) and issubclass(cls.config_cls, MethodConfig), "config",
             f"{cls.name}: config_cls must subclass MethodConfig")
    try:
        cls.config_cls()
    except Exception as exc:  # noqa: BLE001
        raise MethodContractError(f"config: {cls.name}: the defaults do not build ({exc})") from None
    _require(set(cls.streams) <= set(STREAMS), "streams", f"{cls.name}: streams {cls.streams} not among {STREAMS}")
    unknown = set(cls.search_space) - set(cls.config_cls.model_fields)
    _require(not unknown, "search_space", f"{cls.name}: keys {sorted(unknown)} are not config fields")
    if cls.search_space:
        for overrides in grid(cls.name):
            try:
                build_config(cls.config_cls, overrides, what=f"{cls.name} config")
            except SalmuError as exc:
                raise MethodContractError(f"search_space: {exc}") from None
    return cls


def check_method(method: type[UnlearningMethod] | str, data_dir: str | os.PathLike | None = None,
                 model_dir: str | os.PathLike | None = None, workdir: str | os.PathLike | None = None,
                 data: Any = None, seed: int = 3) -> dict[str, Any]:
    """Run every contract check on ``method`` (a class, a registered name or a spec); returns its record.

    Args:
        method: the method class (e.g. ``MyMethod``), its name, or ``"path/to/file.py:MyMethod"``.
        data_dir: a SALMUBench dataset (default: the ``tiny`` preset generated into ``workdir``).
        model_dir: the starting model (default: a ``salmu-test`` model initialised with seed 0).
        workdir: where the defaults and the unlearned model are written (default: a temporary folder).
        data: the ``UnlearnData`` of ``data_dir`` for ``model_dir``'s preprocessing (built if None).
        seed: the run seed of both runs of the determinism check.

    Returns:
        The ``unlearn.json`` record of the checked run.
    """
    cls = check_static(method)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="salmubench-check-") as tmp:
            return _check_run(cls, data_dir, model_dir, Path(tmp), data, seed)
    return _check_run(cls, data_dir, model_dir, Path(workdir), data, seed)


def _check_run(cls: type[UnlearningMethod], data_dir, model_dir, work: Path, data, seed: int) -> dict[str, Any]:
    import torch

    from salmubench.data.loading import load_dataset
    from salmubench.io_utils import read_json
    from salmubench.models import create_model, load_model, save_model
    from salmubench.unlearning.api import UNLEARN_FILE, run_method, unlearn
    from salmubench.unlearning.base import Budget, Runtime
    from salmubench.unlearning.data import build_unlearn_data

    if data_dir is None:
        from salmubench.data.generate import generate_dataset

        data_dir = work / "data"
        generate_dataset(data_dir, preset="tiny", seed=0)
    if model_dir is None:
        model_dir = work / "model"
        if not (Path(model_dir) / "open_clip_config.json").is_file():
            save_model(create_model("salmu-test", seed=0), model_dir)
    # recipe=None: the contract is about the class and its code defaults; the determinism check below
    # re-runs the method directly with those defaults, so a shipped recipe's overrides must not apply here
    out = unlearn(cls.name, model_dir, data_dir, work / f"unlearned-{cls.name}", budget=1.0, seed=seed, recipe=None)
    record = read_json(out / UNLEARN_FILE)
    _require(bool(record.get("complete")) and record.get("method") == cls.name, "run",
             f"{cls.name}: unlearn.json is incomplete or names another method")
    cost = record["cost"]
    _require(cost["fwd_passes"] > 0 and cost["unlearn_seconds"] > 0, "cost",
             f"{cls.name}: no forward passes or time recorded ({cost})")
    saved, base = load_model(out), load_model(model_dir)
    if data is None:
        data = build_unlearn_data(load_dataset(data_dir), base.preprocess, base.tokenizer)
    runtime = Runtime(seed=seed)
    model, meter = run_method(cls(cls.config_cls(), runtime), load_model(model_dir).model, data, Budget(1.0))
    for (key, a), b in zip(saved.model.state_dict().items(), model.state_dict().values(), strict=True):
        _require(torch.equal(a, b), "determinism", f"{cls.name}: {key} differs between two runs with seed {seed}")
    _require(meter.fwd_passes == cost["fwd_passes"], "determinism",
             f"{cls.name}: {meter.fwd_passes} forward passes in memory vs {cost['fwd_passes']} recorded")
    for entry in runtime.log:
        _require(all(math.isfinite(v) for v in entry.values()), "finite losses", f"{cls.name}: {entry}")
    new, old = saved.model.state_dict(), base.model.state_dict()
    _require(torch.equal(new["logit_scale"], old["logit_scale"]), "frozen logit scale",
             f"{cls.name}: the logit scale changed")
    _require(any(not torch.equal(new[k], old[k]) for k in old), "changes the model",
             f"{cls.name} left every parameter unchanged")
    return record
