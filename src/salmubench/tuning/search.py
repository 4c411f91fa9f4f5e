"""Grid search of a method's hyperparameters on the validation slice (``salmubench tune``).

A **trial** = unlearn V_A from the Compromised model with one override dict (the method's code
defaults plus the grid point), with the step-matched budget of :func:`~.selection.tuning_budget`,
then compute the proxy metrics of :mod:`.validation` and score them with the leaderboard's
functions against the Compromised and Clean models' proxy values. The chosen config is the trial
of highest score (rounded to 4 decimals); ties go to the cheaper trial (fewer forward + backward
sample passes), then to the earlier grid point.

Output folder::

    OUT/references.json               proxy values of the Compromised and Clean models (cached)
    OUT/trials/<method>/<key>.json    one finished trial: its proxies (key = hash of everything they
                                      depend on; scores are recomputed against the references)
    OUT/tune_<method>.json            all trials, proxies, scores and the chosen config (atomic)
    OUT/tune_summary.json             chosen config of every method tuned by the last call

Resumable: a trial whose file exists is read, not re-run, so a killed search continues where it
stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from salmubench.config import build_config, config_hash
from salmubench.errors import ConfigError
from salmubench.evaluation.reference_cache import keyed_json
from salmubench.io_utils import atomic_write_json, check_out_dir, read_json
from salmubench.progress import OnProgress, Task
from salmubench.runtime import resolve_device, torch_threads
from salmubench.tuning.architecture import check_out_folder, same_architecture
from salmubench.tuning.pareto import pareto_data, pareto_front  # noqa: F401 - pareto_front re-exported
from salmubench.tuning.selection import (
    DEFAULT_SELECTION,
    SELECTIONS,
    check_selection,
    meets_effectiveness_target,
    score_proxies,
    tuning_budget,
)
from salmubench.tuning.spaces import grid, size_class, space_record
from salmubench.tuning.validation import (
    VALIDATION_VERSION,
    ValidationViews,
    gen_know_proxy,
    load_tuning_source,
    make_views,
    proxy_metrics,
    validation_split,
)

TUNE_SCHEMA = "salmubench.tune/1"
TRIALS_DIR = "trials"
REFERENCES_FILE = "references.json"
SUMMARY_FILE = "tune_summary.json"
SCORE_DECIMALS = 4


@dataclass
class TuneSetup:
    """What every trial shares: the references, the validation views and the tensorised V_A data."""

    bundle: Any  # the Compromised ClipBundle (trials deep-copy its model)
    clean_sha256: str | None
    views: ValidationViews
    data: Any  # UnlearnData of V_A + retain
    n_forget: int  # rows of the whole forget split (the real run's budget unit)
    budget: float
    seed: int
    fingerprint: str
    references: dict[str, dict[str, float]]
    device: str = "cpu"
    selection: str = DEFAULT_SELECTION  # the protocol whose choice is ``chosen`` (all are recorded)
    proxy_imagenet: Any = None  # what the GenKnow proxy reads (validation.gen_know_proxy); None: zeroshot split
    gen_know_proxy: dict[str, Any] | None = None  # its record (source, identity or note); in keys if imagenet
    arch: dict[str, Any] | None = None  # the Compromised model's architecture (models.model_architecture): tuned_on


def prepare(model: str | os.PathLike, clean: str | os.PathLike, data_dir: str | os.PathLike,
            out_dir: str | os.PathLike, budget: float = 1.0, seed: int = 0, device: str = "cpu",
            selection: str = DEFAULT_SELECTION, *, arch: str | None = None,
            imagenet: str | os.PathLike | None = None, tune_imagenet: str | os.PathLike | None = None) -> TuneSetup:
    """Load the references and the holdout-free data, draw the split, compute the reference proxies
    (``arch``, ``imagenet``, ``tune_imagenet``: :func:`tune`'s)."""
    from salmubench.evaluation.embed import EmbeddingBank
    from salmubench.models import load_model, model_architecture
    from salmubench.unlearning.base import Budget
    from salmubench.unlearning.data import build_unlearn_data

    Budget(budget)  # validates
    check_selection(selection)
    ds = load_tuning_source(data_dir)
    split = validation_split(ds, seed=seed)
    views = make_views(ds, split)
    images, proxy = gen_know_proxy(ds, tune_imagenet, imagenet)
    comp = load_model(model, arch=arch, device=device)
    clean_bundle = load_model(clean, arch=arch, device=device)
    key = config_hash({"version": VALIDATION_VERSION, "comp": comp.checkpoint_sha256,
                       "clean": clean_bundle.checkpoint_sha256, "data": ds.fingerprint, "split": split.digest,
                       **({"gen_know_proxy": proxy} if images is not None else {})})

    def compute() -> dict[str, Any]:
        refs = {name: proxy_metrics(views, EmbeddingBank(b, device=device), imagenet=images)
                for name, b in (("compromised", comp), ("clean", clean_bundle))}
        return {"key": key, "split": {**split.counts(), "digest": split.digest},
                "models": {"compromised": str(model), "clean": str(clean)}, "gen_know_proxy": proxy, **refs}

    record = keyed_json(Path(out_dir) / REFERENCES_FILE, key).get_or_compute(compute)
    refs = {name: record[name] for name in ("compromised", "clean")}
    data = build_unlearn_data(views.a, comp.preprocess, comp.tokenizer)
    return TuneSetup(bundle=comp, clean_sha256=clean_bundle.checkpoint_sha256, views=views, data=data,
                     n_forget=len(ds.forget), budget=float(budget), seed=seed, fingerprint=ds.fingerprint,
                     references=refs, device=device, selection=selection, proxy_imagenet=images, gen_know_proxy=proxy,
                     arch=model_architecture(comp))


def trial_key(setup: TuneSetup, method: str, params: dict[str, Any]) -> str:
    """Cache key of a trial: method, resolved params, budget, seed, starting model, data, split.

    The Clean model is not part of it: a trial's proxies depend only on the model it unlearns from,
    and its scores are recomputed against the current references every time (:func:`rescore`).
    """
    return config_hash({"version": VALIDATION_VERSION, "method": method, "params": params, "budget": setup.budget,
                        "seed": setup.seed, "base": setup.bundle.checkpoint_sha256, "data": setup.fingerprint,
                        "split": setup.views.split.digest,
                        **({"gen_know_proxy": setup.gen_know_proxy} if setup.proxy_imagenet is not None else {})}, 16)


def rescore(setup: TuneSetup, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its scores (under ``setup.selection``, and under every protocol in
    ``scores_by_selection``) and effectiveness-target flags computed against ``setup.references``."""
    proxies = record.get("proxies")
    if not proxies or not all(math.isfinite(v) for v in proxies.values()):
        zero = {"score": 0.0}
        return {**record, "scores": zero, "scores_by_selection": {s: zero for s in SELECTIONS}}
    comp, clean = setup.references["compromised"], setup.references["clean"]
    by_selection = {s: score_proxies(proxies, comp, clean, s) for s in SELECTIONS}
    return {**record, "scores": by_selection[setup.selection], "scores_by_selection": by_selection,
            "effectiveness_target": meets_effectiveness_target(proxies, comp, clean)}


def run_trial(setup: TuneSetup, method: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Unlearn V_A with ``method`` + ``overrides`` and score the proxies (no caching here)."""
    from salmubench.evaluation.embed import EmbeddingBank
    from salmubench.unlearning.api import run_method
    from salmubench.unlearning.base import Budget, Runtime, UnlearningError
    from salmubench.unlearning.registry import get_method

    cls = get_method(method)
    cfg = build_config(cls.config_cls, overrides, what=f"{method} config")
    budget_tune = tuning_budget(setup.budget, setup.n_forget, len(setup.data.forget), cfg.forget_batch_size)
    budget = Budget(budget_tune)
    model = copy.deepcopy(setup.bundle.model)
    start = time.perf_counter()
    record: dict[str, Any] = {"method": method, "overrides": overrides, "params": cfg.model_dump(mode="json"),
                              "budget_tune": budget_tune,
                              "steps": budget.steps(len(setup.data.forget), cfg.forget_batch_size)}
    runtime = Runtime(seed=setup.seed)
    try:
        model, meter = run_method(cls(cfg, runtime), model, setup.data, budget)
    except UnlearningError as exc:
        return {**record, "error": str(exc), "proxies": None, "scores": {"score": 0.0}, "cost": None,
                "seconds": round(time.perf_counter() - start, 3)}
    bundle = dataclasses.replace(setup.bundle, model=model, checkpoint_sha256=None)
    proxies = proxy_metrics(setup.views, EmbeddingBank(bundle, device=setup.device), imagenet=setup.proxy_imagenet)
    if not all(math.isfinite(v) for v in proxies.values()):
        record["error"] = "non-finite proxy metric"
    record["steps_run"] = len(runtime.log)  # optimiser steps the runner logged (0: training-free)
    return rescore(setup, {**record, "proxies": proxies, "cost": meter.as_dict(),
                           "seconds": round(time.perf_counter() - start, 3)})


def choose(trials: list[dict[str, Any]], selection: str | None = None) -> int:
    """Index of the best trial: highest rounded score (under ``selection``; default the trials'
    ``scores``), then fewest sample passes, then grid order."""
    def key(k: int) -> tuple[float, int, int]:
        t = trials[k]
        cost = t.get("cost") or {}
        passes = int(cost.get("fwd_passes", 0)) + int(cost.get("bwd_passes", 0)) if cost else 1 << 62
        scores = t["scores"] if selection is None else t["scores_by_selection"][selection]
        return (-round(float(scores["score"]), SCORE_DECIMALS), passes, k)

    if not trials:
        raise ConfigError("no trials to choose from")
    return min(range(len(trials)), key=key)


def tune_method(setup: TuneSetup, method: str, out_dir: str | os.PathLike,
                space: list[dict[str, Any]] | None = None,
                on_trial: Callable[[dict[str, Any], bool], None] | None = None) -> dict[str, Any]:
    """Run (or resume) ``method``'s grid, write ``tune_<method>.json`` and return its content.

    Args:
        setup: from :func:`prepare`.
        method: registered method name.
        out_dir: the tuning output folder.
        space: override dicts to try (default: :func:`~.spaces.grid` of ``method`` on ``setup.arch``).
        on_trial: called after each trial with (trial record, whether it came from the cache).
    """
    from salmubench.unlearning.registry import get_method

    cls = get_method(method)
    searched = space_record(method, setup.arch) if space is None else {"rule": "given by the caller"}
    space = grid(method, setup.arch) if space is None else space
    folder = Path(out_dir) / TRIALS_DIR / method
    trials = []
    for overrides in space:
        params = build_config(cls.config_cls, overrides, what=f"{method} config").model_dump(mode="json")
        key = trial_key(setup, method, params)
        path = folder / f"{key}.json"
        record = keyed_json(path, key).lookup()
        cached = record is not None
        if record is None:
            record = {"key": key, **run_trial(setup, method, overrides)}
            atomic_write_json(path, record)
        record = rescore(setup, record)
        trials.append(record)
        if on_trial:
            on_trial(record, cached)
    best = choose(trials)
    by_selection = {}
    for sel in SELECTIONS:
        k = choose(trials, sel)
        by_selection[sel] = {"index": k, "overrides": trials[k]["overrides"], "params": trials[k]["params"],
                             "proxies": trials[k]["proxies"], "scores": trials[k]["scores_by_selection"][sel]}
    meeting = [k for k, t in enumerate(trials) if (t.get("effectiveness_target") or {}).get("all")]
    target_pick = meeting[choose([trials[k] for k in meeting])] if meeting else None
    result = {"schema": TUNE_SCHEMA, "method": method, "budget": setup.budget, "seed": setup.seed,
              "validation_version": VALIDATION_VERSION, "selection": setup.selection,
              "gen_know_proxy": setup.gen_know_proxy, "tuned_on": setup.arch, "search_space": searched,
              "split": {**setup.views.split.counts(), "digest": setup.views.split.digest},
              "references": setup.references, "grid": space, "trials": trials,
              "chosen": {"index": best, "overrides": trials[best]["overrides"], "params": trials[best]["params"],
                         "proxies": trials[best]["proxies"], "scores": trials[best]["scores"]},
              "chosen_by_selection": by_selection,
              # informative: the best-scoring trial among those meeting the effectiveness target on the proxies
              "target_choice": None if target_pick is None else {
                  "index": target_pick, "overrides": trials[target_pick]["overrides"],
                  "proxies": trials[target_pick]["proxies"], "scores": trials[target_pick]["scores"]},
              "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_json(Path(out_dir) / f"tune_{method}.json", result)
    return result


def resolve_methods(method: str) -> list[str]:
    """``all`` -> every registered method with a search space; else a comma list of names or external
    specs (``path.py:Class``), each checked (unknown, or no search space: one-line ConfigError)."""
    from salmubench.unlearning.registry import get_method, method_names

    if method == "all":
        return [m for m in method_names() if get_method(m).search_space]
    specs = [m.strip() for m in method.split(",") if m.strip()]
    if not specs:
        raise ConfigError("method is empty: give a method name, a comma list or 'all'")
    names = []
    for spec in specs:
        names.append(get_method(spec).name)  # unknown name -> ConfigError with suggestions
        grid(spec)
    return names


def tune(method: str, model: str | os.PathLike, clean: str | os.PathLike, data_dir: str | os.PathLike,
         out_dir: str | os.PathLike, budget: float = 1.0, seed: int = 0, threads: int | None = 1,
         device: str = "cpu", on_progress: OnProgress | None = None, selection: str = DEFAULT_SELECTION,
         on_trial: Callable[[dict[str, Any], bool], None] | None = None, *, arch: str | None = None,
         imagenet: str | os.PathLike | None = None,
         tune_imagenet: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """Tune one method, a comma list, or ``all``; returns ``{method: tune_<method>.json content}``.

    Args:
        method: registered name or external spec (``path.py:Class``), a comma list, or ``all``.
        model / clean: the Compromised and Clean model folders.
        data_dir: the dataset (its holdout splits are never read).
        out_dir: output folder (resumable, see the module docstring).
        budget: the real run's budget in forget-set passes (the tuning runs match its step count).
        seed: seed of the validation split and of every trial's run.
        threads: torch CPU threads during the search (1 is fastest for tiny models on a busy CPU).
        device: torch device (``runtime.resolve_device``: None / "auto" = CUDA if available).
        on_progress: progress callback, one event per trial (``salmubench.progress``).
        selection: the selection protocol whose choice is reported as ``chosen`` (``structured`` or
            ``forget-retain``, docs/tuning.md); every protocol's choice is recorded in
            ``chosen_by_selection`` and in one recipe file each (``recipe_<selection>@<budget>x.json``).
        on_trial: per-trial callback (see :func:`tune_method`).
        arch: open_clip architecture of bare checkpoints ``model`` / ``clean`` (``.bin`` / ``.pt``).
        imagenet / tune_imagenet: the folder the evaluation reports as GenKnow (never read) / the GenKnow
            proxy's images (default: the zeroshot split); :func:`~.validation.gen_know_proxy`.

    The Compromised model's architecture picks each method's space (``spaces.grid``) and is recorded as
    ``tuned_on``; an ``out_dir`` holding files tuned on another architecture is refused (``architecture``).
    """
    methods = resolve_methods(method)
    out = check_out_dir(out_dir, "out_dir", inputs={"model": model, "clean": clean, "data_dir": data_dir})
    check_out_folder(out, model, arch)  # from the model's config, before loading anything
    results: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    with torch_threads(threads):
        setup = prepare(model, clean, data_dir, out, budget=budget, seed=seed, device=resolve_device(device),
                        selection=selection, arch=arch, imagenet=imagenet, tune_imagenet=tune_imagenet)
        task = Task(on_progress, "tune", sum(len(grid(m, setup.arch)) for m in methods)).start()
        for name in methods:
            def hook(record: dict[str, Any], cached: bool, name: str = name) -> None:
                task.advance(status=f"{name} {record['overrides']}")
                if on_trial:
                    on_trial(record, cached)

            results[name] = tune_method(setup, name, out, on_trial=hook)
    summary_key = f"{setup.views.split.digest}:{budget}:{seed}:{selection}"
    previous = keyed_json(out / SUMMARY_FILE, summary_key).lookup() or {}
    chosen = dict(previous.get("chosen") or {})
    chosen.update({m: {"overrides": r["chosen"]["overrides"], **r["chosen"]["scores"]} for m, r in results.items()})
    atomic_write_json(out / SUMMARY_FILE, {"schema": TUNE_SCHEMA, "key": summary_key, "budget": budget,
                                           "seed": seed, "selection": selection,
                                           "last_call_seconds": round(time.perf_counter() - start, 1),
                                           "chosen": chosen})
    write_recipes(out, setup)
    return results


def tune_records(out_dir: str | os.PathLike, setup: TuneSetup) -> dict[str, dict[str, Any]]:
    """Every ``tune_<method>.json`` in ``out_dir`` made with ``setup``'s split, budget, seed and architecture."""
    out = {}
    for path in sorted(Path(out_dir).glob("tune_*.json")):
        try:
            record = read_json(path)
        except (OSError, ValueError):
            continue
        same = (isinstance(record, dict) and record.get("schema") == TUNE_SCHEMA
                and record.get("budget") == setup.budget and record.get("seed") == setup.seed
                and (record.get("split") or {}).get("digest") == setup.views.split.digest
                and "chosen_by_selection" in record and same_architecture(record, setup)
                and (record.get("gen_know_proxy") or {}).get("sha256") == (setup.gen_know_proxy or {}).get("sha256"))
        if same:
            out[record["method"]] = record
    return out


def write_recipes(out_dir: str | os.PathLike, setup: TuneSetup) -> dict[str, Path]:
    """Write ``recipe_<selection>@<budget>x.json`` for every protocol, from the tune files in ``out_dir``.

    A recipe holds, per tuned method, the chosen overrides under that protocol, with the proxies,
    scores and the provenance of the search (references, data, split, seconds); see
    :mod:`salmubench.recipes`. ``pareto@<budget>x.json`` (every trial's efficacy/utility under each protocol)
    is written beside them.
    """
    from salmubench.recipes import RECIPE_SCHEMA, recipe_name

    records = tune_records(out_dir, setup)
    provenance = {"compromised_sha256": setup.bundle.checkpoint_sha256, "clean_sha256": setup.clean_sha256,
                  "data_fingerprint": setup.fingerprint, "validation_version": VALIDATION_VERSION,
                  "split": {**setup.views.split.counts(), "digest": setup.views.split.digest},
                  "seed": setup.seed, "references": setup.references, "gen_know_proxy": setup.gen_know_proxy,
                  "search_space": size_class(setup.arch),
                  "trials": sum(len(r["trials"]) for r in records.values()),
                  "trial_seconds": round(sum(float(t.get("seconds") or 0) for r in records.values()
                                             for t in r["trials"]), 1)}
    paths = {}
    for sel in SELECTIONS:
        name = recipe_name(sel, setup.budget)
        methods = {m: {"overrides": r["chosen_by_selection"][sel]["overrides"],
                       "proxies": r["chosen_by_selection"][sel]["proxies"],
                       "scores": r["chosen_by_selection"][sel]["scores"], "trials": len(r["trials"])}
                   for m, r in sorted(records.items())}
        paths[sel] = Path(out_dir) / f"recipe_{name}.json"
        atomic_write_json(paths[sel], {"schema": RECIPE_SCHEMA, "name": name, "selection": sel,
                                       "budget": setup.budget, "version": 1, "tuned_on": setup.arch,
                                       "tuning": provenance,
                                       "methods": methods})
    atomic_write_json(Path(out_dir) / f"pareto@{setup.budget:g}x.json", pareto_data(records, setup))
    return paths

