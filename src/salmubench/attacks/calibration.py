"""The fine-tuning attacks' budget (lr, steps), chosen on two references by a fixed rule (docs/attacks.md).

``relearn`` and ``benign_finetune`` share one attacker budget (Adam, constant lr, ``steps`` batches of 32).
Their module constants (``relearn.LR``, ``relearn.STEPS``) were chosen by :data:`RULE` on the embedded v8
``mini`` references (salmu-tiny, 32 px: :data:`DEFAULTS_CHOSEN_ON`). References of another architecture
(the released ViT-B/16 ones) get the same rule run on them:

* :func:`choose`: the rule, a pure function of grid rows;
* :func:`grid_rows`, :func:`choose_finetune_constants`: the grid on two loaded references, and the record;
* :func:`calibrate`: load, choose, write ``attack_constants.json`` (``salmubench attack-calibrate``; the
  ``attack-calibration`` stage of ``salmubench run`` on given references);
* :func:`resolve_constants`: what ``attack(..., constants=...)`` runs with (None: the module constants) and
  where they were chosen (``suite.chosen_on`` in ``attack.json``);
* :func:`check_references`: refuses references of another architecture than the constants were chosen on.

Fallback (decided with this module, before any grid of another architecture ran): when no grid point meets
the rule, the budget is the one that teaches Clean the most (largest Clean RetFail on R after; ties: fewer
steps, then smaller lr) among the points that keep the P gap; if none keeps it, the smallest budget
(fewest steps, smallest lr). Either way the record says ``"satisfied": false`` and which part failed.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salmubench.attacks.base import AttackContext, get_attack
from salmubench.errors import ConfigError, SalmuError
from salmubench.execution import ExecContext
from salmubench.io_utils import atomic_write_json, read_json
from salmubench.progress import Task

RULE_VERSION = 1
CONSTANTS_SCHEMA = "salmubench.attack-constants/1"
CONSTANTS_FILE = "attack_constants.json"
ROLES = ("compromised", "clean")
ATTACKS = ("relearn", "benign_finetune")  # one budget for both
DEFAULT_LRS = (3e-5, 1e-4, 3e-4, 1e-3)  # the grid of docs/attacks.md (and of the v7 and v8 choices)
DEFAULT_STEPS = (5, 10, 20, 40)
RULE = ("the smallest number of steps (then the smallest lr) at which relearning teaches the Clean model the "
        "associations it is shown (Clean's RetFail on R after the attack >= half the Compromised model's RetFail "
        "on R before it), while the references still separate clearly on P (the Compromised-Clean RetFail gap "
        "on P after the attack >= 50% of the gap before it); steps and lr are grid values")
# The architectures of the embedded tier (open_clip model_cfg digests: models.identity; tests check them).
SALMU_TINY = {"digest": "8a122174e2a247eb", "image_size": 32, "name": "salmu-tiny"}
SALMU_TEST = {"digest": "290a34a24208d117", "image_size": 32, "name": "salmu-test"}
# Where the module constants were chosen: the v8 `mini` references (docs/attacks.md, "Re-chosen on the v8
# references"; grid: benchmarks/results/attacks/choose_constants_mini_v8.json). That grid file records no
# hashes: the checkpoint sha256s and the data fingerprint are those the tuning runs on the same
# (byte-reproducible) v8 references recorded (src/salmubench/recipes/*.json, "tuning").
DEFAULTS_CHOSEN_ON: dict[str, Any] = {
    "source": "module defaults", "file": None, "rule_version": RULE_VERSION, "satisfied": True,
    "references": {"compromised": "fb26f607a35a4bc8c98bac1508e75ff3d149a54290c0736c6ee922fbe55f4418",
                   "clean": "27f8768d16ab6152e98b928ffcde218a4dd39f6b2b0fd1e37f79fd393cf3b106",
                   "data_fingerprint": "7415c7913a8e4e42eb4c3cd022fe3e32d718d2cb28ec57f8d99d492416a8776c",
                   "arch": SALMU_TINY},
    "note": "chosen on the embedded v8 mini references (salmu-tiny, 32 px); also accepted on the tiny preset's "
            "salmu-test (32 px: tests and smoke runs, not calibrated)"}


@dataclass(frozen=True)
class Constants:
    """The tunable constants one attack call runs with, and where they were chosen.

    Attributes:
        values: ``{attack: {key: value}}`` in place of the module constants (empty: the module's).
        chosen_on: recorded in ``attack.json`` (``suite.chosen_on``): source, file, references, rule version.
        accepts: architecture digests of the references these constants may place a model between (empty:
            not checked: constants given as a bare mapping record no references).
        label: how errors name them.
    """

    values: dict[str, dict[str, Any]]
    chosen_on: dict[str, Any]
    accepts: tuple[str, ...]
    label: str


class ConstantsMismatch(ConfigError):
    """References of another architecture than the constants were chosen on (``problem``: the first clause)."""

    def __init__(self, problem: str, hint: str) -> None:
        super().__init__(f"{problem}; {hint}")
        self.problem = problem


DEFAULTS = Constants({}, DEFAULTS_CHOSEN_ON, (SALMU_TINY["digest"], SALMU_TEST["digest"]),
                     "the module defaults of relearn and benign_finetune")


# ---------------------------------------------------------------------------------------------- the rule
def choose(rows: Sequence[Mapping[str, Any]], lrs: Sequence[float], steps: Sequence[int]) -> dict[str, Any]:
    """The budget :data:`RULE` picks from grid ``rows`` (one per role x lr x steps: ``role``, ``lr``,
    ``steps``, ``P_before``, ``P_after``, ``R_before``, ``R_after``), else the fallback (module docstring).

    Returns ``{"lr", "steps", "satisfied", "learned", "separated", "clean_R_after", "comp_R_before",
    "gap_P_before", "gap_P_after"}``; a one-line ConfigError when a grid cell has no row.
    """
    by = {(r["role"], float(r["lr"]), int(r["steps"])): r for r in rows}
    cells = []
    for n in sorted({int(s) for s in steps}):
        for lr in sorted({float(x) for x in lrs}):
            missing = [role for role in ROLES if (role, lr, n) not in by]
            if missing:
                raise ConfigError(f"calibration grid: no {missing[0]} row at lr {lr:g}, {n} steps")
            cells.append(_cell(by[("compromised", lr, n)], by[("clean", lr, n)], lr, n))
    if not cells:
        raise ConfigError("calibration grid: no lr or no steps value to choose from")
    met = [c for c in cells if c["learned"] and c["separated"]]
    if met:
        return met[0] | {"satisfied": True}
    kept = [c for c in cells if c["separated"]]
    if kept:
        best = max(c["clean_R_after"] for c in kept)
        return next(c for c in kept if c["clean_R_after"] == best) | {"satisfied": False}
    return cells[0] | {"satisfied": False}


def _cell(comp: Mapping[str, Any], clean: Mapping[str, Any], lr: float, steps: int) -> dict[str, Any]:
    gap_before = comp["P_before"] - clean["P_before"]
    gap_after = comp["P_after"] - clean["P_after"]
    return {"lr": lr, "steps": steps, "learned": bool(clean["R_after"] >= 0.5 * comp["R_before"]),
            "separated": bool(gap_after >= 0.5 * gap_before), "clean_R_after": clean["R_after"],
            "comp_R_before": comp["R_before"], "gap_P_before": gap_before, "gap_P_after": gap_after}


# ---------------------------------------------------------------------------------------------- the grid
def grid_rows(bundle: Any, role: str, data: Any, lrs: Sequence[float], steps: Sequence[int], seed: int = 0,
              context: ExecContext | None = None, batch_size: int = 256) -> tuple[list[dict], dict[str, int]]:
    """RetFail on P and on R before and after ``relearn``'s fine-tune on R, for every (lr, steps): one
    fresh fine-tune per cell, as the attack runs it (its split, batches and seed streams). Returns
    (rows, ``{"r_rows", "p_rows"}``). ``bundle`` is a loaded reference, ``data`` the attack data."""
    from salmubench.attacks.finetune import batch_plan, compact_plan, finetune
    from salmubench.attacks.suite import relearn as R
    from salmubench.data.torch_data import tensorize
    from salmubench.data.views import forget_attributes, with_forget
    from salmubench.evaluation.embed import EmbeddingBank

    context = (context or ExecContext()).resolved()
    bundle.model.to(context.device).eval()
    ctx = AttackContext(bundle=bundle, data=data, emb=EmbeddingBank(bundle, batch_size=batch_size,
                        device=context.device), seed=seed, name="relearn", device=context.device,
                        batch_size=batch_size)
    r_rows, p_rows = R.split_associations(data.forget.identity_ids, forget_attributes(data), R.R_SHARE,
                                          ctx.rng("split"))
    if not r_rows:
        raise ConfigError("calibration: the data has fewer than 2 forget associations (identity x attribute "
                          "type), so relearn cannot run on it")
    views = {"P": with_forget(data, p_rows, "attack-relearn-P"), "R": with_forget(data, r_rows, "attack-relearn-R")}
    base = {v: ctx.metric("ret_fail", views[v]).value for v in views}
    # only the R rows some grid point's plan reads are decoded (the union of the plans; compact_plan keeps
    # the same pairs in the same order), so memory follows the attack budget, not the forget set's size
    plans = {n: batch_plan(len(r_rows), n, R.BATCH, ctx.seed_for("batches")) for n in steps}
    used, flat = compact_plan([index for n in steps for index in plans[n]])
    local, k = {}, 0
    for n in steps:
        local[n], k = flat[k:k + len(plans[n])], k + len(plans[n])
    pairs = tensorize(data.forget.take([r_rows[u] for u in used]), bundle.preprocess, bundle.tokenizer)
    rows, task = [], Task(context.on_progress, f"calibrate on {role}", len(lrs) * len(steps)).start()
    for lr in lrs:
        for n in steps:
            t0 = time.perf_counter()
            model = ctx.copy_model()
            finetune(model, pairs, local[n], lr)
            emb = ctx.embeddings(model)
            after = {v: ctx.metric("ret_fail", views[v], emb).value for v in views}
            rows.append({"role": role, "lr": lr, "steps": n, "batch": R.BATCH, "P_before": base["P"],
                         "P_after": after["P"], "R_before": base["R"], "R_after": after["R"],
                         "seconds": round(time.perf_counter() - t0, 2)})
            task.advance(status=f"lr {lr:g}, {n} steps")
    return rows, {"r_rows": len(r_rows), "p_rows": len(p_rows)}


def choose_finetune_constants(compromised_bundle: Any, clean_bundle: Any, data: Any,
                              lrs: Sequence[float] = DEFAULT_LRS, steps: Sequence[int] = DEFAULT_STEPS,
                              seed: int = 0, context: ExecContext | None = None) -> dict[str, Any]:
    """Run the grid on both references and choose the budget by :data:`RULE` (module docstring).

    Args:
        compromised_bundle / clean_bundle: the two references, loaded (``salmubench.models.load_model``).
        data: the attack data (a dataset folder or a loaded dataset; its holdouts are never read).
        lrs / steps: the grid (default: docs/attacks.md's 4 x 4).
        seed: the attack seed (the R/P split and the batches; use the attacks' seed).
        context: device, threads and progress (:class:`~salmubench.execution.ExecContext`).

    Returns the record written as ``attack_constants.json``: ``{"schema", "version", "rule", "relearn":
    {"lr", "steps"}, "benign_finetune": {...}, "satisfied", "choice", "grid": [rows], "lrs", "steps",
    "seed", "r_rows", "p_rows", "references": {"compromised": sha256, "clean": sha256, "data_fingerprint",
    "arch": {digest, image_size, name}}, "checks": {"benign_finetune": ...}, "seconds"}``.
    """
    from salmubench.models import model_architecture
    from salmubench.runtime import torch_threads

    lrs, steps = _grid(lrs, steps)
    data = _attack_data(data)
    arch = model_architecture(compromised_bundle)
    if model_architecture(clean_bundle)["digest"] != arch["digest"]:
        raise ConfigError("calibration: the compromised and clean references are of different architectures")
    context, start = (context or ExecContext()).resolved(), time.perf_counter()
    bundles = {"compromised": compromised_bundle, "clean": clean_bundle}
    rows, counts = [], {}
    with torch_threads(context.threads):
        for role, bundle in bundles.items():
            more, counts = grid_rows(bundle, role, data, lrs, steps, seed, context)
            rows += more
        choice = choose(rows, lrs, steps)
        budget = {"lr": choice["lr"], "steps": choice["steps"]}
        check = _benign_check(bundles, data, budget, seed, context)
    refs = {role: b.checkpoint_sha256 for role, b in bundles.items()} | {"data_fingerprint": data.fingerprint,
                                                                         "arch": arch}
    return {"schema": CONSTANTS_SCHEMA, "version": RULE_VERSION, "rule": RULE, "relearn": dict(budget),
            "benign_finetune": dict(budget), "satisfied": choice["satisfied"], "choice": choice, "grid": rows,
            "lrs": lrs, "steps": steps, "seed": seed, **counts, "references": refs,
            "checks": {"benign_finetune": check}, "seconds": round(time.perf_counter() - start, 2)}


def _grid(lrs: Sequence[float], steps: Sequence[int]) -> tuple[list[float], list[int]]:
    out_lrs = sorted({_value("lr", x, "calibration grid") for x in lrs})
    out_steps = sorted({_value("steps", x, "calibration grid") for x in steps})
    if not out_lrs or not out_steps:
        raise ConfigError("calibration grid: give at least one lr and one steps value")
    return out_lrs, out_steps


def _attack_data(data: Any) -> Any:
    from salmubench.data.dataset import SalmuDataset
    from salmubench.data.views import load_without_holdouts

    return data if isinstance(data, SalmuDataset) else load_without_holdouts(data, images="lazy")


def _benign_check(bundles: dict[str, Any], data: Any, budget: dict, seed: int, context: ExecContext) -> dict:
    """``benign_finetune`` at the chosen budget on both references (recorded, not part of the choice)."""
    from salmubench.evaluation.embed import EmbeddingBank

    spec, out = get_attack("benign_finetune"), {}
    for role, bundle in bundles.items():
        ctx = AttackContext(bundle=bundle, data=data, emb=EmbeddingBank(bundle, device=context.device), seed=seed,
                            name=spec.name, device=context.device, constants={spec.name: budget})
        result = spec.fn(ctx)
        out[role] = ({"ret_fail_before": result.values["ret_fail"].before,
                      "ret_fail_after": result.values["ret_fail"].after} if result.available
                     else {"available": False, "reason": result.reason})
    return out


def calibrate(compromised: Any, clean: Any, data: Any, out: str | os.PathLike | None = None,
              lrs: Sequence[float] = DEFAULT_LRS, steps: Sequence[int] = DEFAULT_STEPS, seed: int = 0,
              context: ExecContext | None = None, arch: str | None = None) -> dict[str, Any]:
    """Load both references (model folders, ``hf-hub:`` ids, or checkpoints with ``arch``), run
    :func:`choose_finetune_constants` and write the record to ``out`` (a ``.json`` file, or a folder that
    gets ``attack_constants.json``) when given; returns the record."""
    from salmubench.models import load_model

    context = (context or ExecContext()).resolved()
    bundles = [load_model(spec, arch=arch, device=context.device) for spec in (compromised, clean)]
    if bundles[0].checkpoint_sha256 and bundles[0].checkpoint_sha256 == bundles[1].checkpoint_sha256:
        raise ConfigError("calibration: compromised and clean are the same checkpoint; give the two references")
    record = choose_finetune_constants(bundles[0], bundles[1], data, lrs, steps, seed, context)
    if out is not None:
        path = Path(out)
        atomic_write_json(path if path.suffix == ".json" else path / CONSTANTS_FILE, record)
    return record


# ------------------------------------------------------------------------------- the constants of a call
def resolve_constants(spec: Constants | str | os.PathLike | Mapping[str, Any] | None) -> Constants:
    """The constants an attack call runs with: None, the module defaults; a file or record written by
    :func:`calibrate` (its ``relearn`` / ``benign_finetune`` budget, chosen on its ``references``); or a
    bare ``{attack: {key: value}}`` mapping of tunable constants (recorded as given, never checked against
    the references). One-line ConfigError on an unknown attack or key, a bad value or an unreadable file."""
    if spec is None or isinstance(spec, Constants):
        return spec or DEFAULTS
    if isinstance(spec, str | os.PathLike):
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"constants: no such file: {path}")
        try:
            record = read_json(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"constants: {path} is not valid JSON ({exc.__class__.__name__})") from None
        return _from_record(record, f"constants file {path}", str(path))
    if not isinstance(spec, Mapping):
        raise ConfigError(f"constants: expected a file path or a mapping, got {type(spec).__name__}")
    if "schema" in spec:
        return _from_record(spec, "the given calibration record", None)
    values = _values(spec, "constants")
    return Constants(values, {"source": "given", "file": None, "rule_version": None, "satisfied": None,
                              "references": None, "note": "given by the caller, not chosen on recorded references"},
                     (), "the given constants")


def _from_record(record: Any, label: str, file: str | None) -> Constants:
    if not isinstance(record, Mapping) or record.get("schema") != CONSTANTS_SCHEMA:
        raise ConfigError(f"constants: {label} is not a calibration record (schema {CONSTANTS_SCHEMA})")
    refs = record.get("references")
    digest = ((refs or {}).get("arch") or {}).get("digest") if isinstance(refs, Mapping) else None
    if not isinstance(digest, str):
        raise ConfigError(f"constants: {label} records no reference architecture (references.arch.digest)")
    values = _values({n: record[n] for n in ATTACKS if n in record}, label)
    chosen_on = {"source": "calibration", "file": file, "rule_version": record.get("version"),
                 "satisfied": record.get("satisfied"), "references": dict(refs), "note": None}
    return Constants(values, chosen_on, (digest,), label)


def _values(mapping: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, values in mapping.items():
        spec = get_attack(str(name))
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where}: {spec.name}: expected an object of constants, got {values!r}")
        for key in values:
            if key not in spec.tunable:
                raise ConfigError(f"{where}: {spec.name} has no tunable constant {key!r} (tunable: "
                                  f"{', '.join(spec.tunable) or 'none'})")
        out[spec.name] = {k: _value(k, v, f"{where}: {spec.name}") for k, v in values.items()}
    return out


def _value(key: str, value: Any, where: str) -> Any:
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if key == "steps":
        if not number or value < 1 or value != int(value):
            raise ConfigError(f"{where}: steps must be an integer >= 1, got {value!r}")
        return int(value)
    if key == "lr":
        if not number or value <= 0:
            raise ConfigError(f"{where}: lr must be a number > 0, got {value!r}")
        return float(value)
    return value


# ------------------------------------------------------------------------------- the references' check
def check_references(constants: Constants, references: str | os.PathLike, names: Sequence[str]) -> None:
    """Refuse (one-line :class:`ConstantsMismatch`) a references folder whose Compromised or Clean model is
    of another architecture than ``constants`` were chosen on, when a tunable attack is among ``names``.
    Architectures: ``models.model_architecture`` of the model each ``result.json`` (else ``attack.json``)
    names; one it cannot tell, and the very checkpoint the constants were chosen on, are not refused."""
    if not constants.accepts or not any(get_attack(n).tunable for n in names):
        return
    recorded = constants.chosen_on.get("references") or {}
    chosen = recorded.get("arch")
    for role in ROLES:
        folder = Path(references) / role
        sha, found = references_arch(folder)
        if found is None or found.get("digest") in constants.accepts or (sha and sha == recorded.get(role)):
            continue
        ours, theirs = describe_arch(found), describe_arch(chosen)
        if ours == theirs:
            ours, theirs = f"{ours} [{found.get('digest')}]", f"{theirs} [{chosen.get('digest')}]"
        raise ConstantsMismatch(
            f"{constants.label} were chosen on references of {theirs}, not of the {role} reference's "
            f"architecture {ours} ({folder})",
            "choose them on these references (salmubench attack-calibrate, or "
            "salmubench.attacks.calibration.calibrate) and pass the file it writes as constants")


def references_arch(folder: Path) -> tuple[str | None, dict[str, Any] | None]:
    """(checkpoint sha256, architecture identity) of the reference model a results folder names (None: unknown)."""
    from salmubench.attacks.results import ATTACK_FILE, read_attack
    from salmubench.evaluation.results import RESULT_FILE, read_result
    from salmubench.models import model_architecture
    from salmubench.models.identity import UNNAMED, arch_name_identity

    try:
        model = (read_result(folder).model if (folder / RESULT_FILE).is_file()
                 else read_attack(folder).model if (folder / ATTACK_FILE).is_file() else None)
    except SalmuError:
        return None, None
    if model is None:
        return None, None
    named = model.arch if model.arch and model.arch != UNNAMED else None
    try:
        return model.checkpoint_sha256, model_architecture(model.source, arch=named)
    except SalmuError:  # the model is gone (its attack.json may still be usable): its architecture's name
        pass
    try:
        return model.checkpoint_sha256, arch_name_identity(named) if named else None
    except SalmuError:
        return model.checkpoint_sha256, None


def describe_arch(identity: Mapping[str, Any] | None) -> str:
    """``salmu-tiny (32 px)`` (an unnamed architecture by its digest)."""
    if not identity:
        return "an unrecorded architecture"
    return f"{identity.get('name') or 'unnamed ' + str(identity.get('digest'))} ({identity.get('image_size') or '?'} px)"
