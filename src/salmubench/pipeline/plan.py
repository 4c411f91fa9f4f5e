"""The stages of one benchmark run, their cache keys, dependencies and outputs (docs/run.md).

Run-dir layout::

    RUN_DIR/run.json                          resolved run config (+ tier, and the given inputs' fingerprints)
    RUN_DIR/data/                             generated dataset (+ fragile set after Compromised); given tier: none
    RUN_DIR/models/{compromised,clean}/       reference models (open_clip local-dir + train.json); given: none
    RUN_DIR/models/unlearned/<method>@<b>x-s<seed>/   unlearned models (+ unlearn.json)
    RUN_DIR/results/<name>/                   result.json + evaluation_<slug>.json (+ attack.json) per model
    RUN_DIR/results/attack_constants.json     given tier: the fine-tuning attacks' lr, steps chosen on its references
    RUN_DIR/sequential/<name>-K<k>-<unit>/    sequential runs (--requests K): steps, sequential.json
    RUN_DIR/leaderboard.{md,csv,json}, RUN_DIR/report.html
    RUN_DIR/.stages/<stage_id>.json           done-markers (key + seconds); RUN_DIR/logs/ tracebacks

Every key holds the stage's resolved config plus the key hashes of the stages it reads, so a change
anywhere upstream invalidates exactly the stages downstream of it. Execution settings (device,
progress bars) are not part of any key.

The real tier (``pipeline/given.py``) replaces the ``data`` and ``train-*`` stages by ``data`` and
``ref-*`` stages keyed on the given data's fingerprint and the given checkpoints' sha256; the stages
after them are the same, reading the given paths, plus one ``attack-calibration`` stage before the
attacks (the fine-tuning attacks' budget chosen on the given references, docs/attacks.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salmubench import recipes
from salmubench.evaluation.protocol import protocol_hash
from salmubench.evaluation.results import RESULT_FILE, read_result, write_result
from salmubench.pipeline.cache import StageCache, key_hash
from salmubench.pipeline.config import RunConfig
from salmubench.pipeline.given import GivenInputs
from salmubench.pipeline.stages import StageFns
from salmubench.progress import OnProgress
from salmubench.version import __version__

REFERENCES = ("compromised", "clean")
PRECISION_STAGES = ("eval", "unlearn", "attack")  # stages whose key holds a precision other than fp32


@dataclass
class Stage:
    """One unit of cached work."""

    id: str
    kind: str  # data | train | eval | unlearn | attack | sequential | leaderboard
    label: str
    deps: tuple[str, ...]
    outputs: list[Path]
    action: Callable[[bool], dict | None]  # resume -> info
    key: dict[str, Any] = field(default_factory=dict)
    key_fn: Callable[[], dict[str, Any]] | None = None  # key known only at run time (leaderboard)
    after_all: bool = False  # starts only once every other stage has ended (the leaderboard reads them all)

    def resolved_key(self) -> dict[str, Any]:
        return self.key_fn() if self.key_fn else self.key


def slug(method: str, budget: float, seed: int) -> str:
    """Folder name of one unlearning run: ``finetune@1x-s0``."""
    return f"{method}@{budget:g}x-s{seed}"


def sequential_slug(method: str, budget: float, seed: int, requests: int, unit: str, request_seed: int,
                    theta0: str) -> str:
    """Folder name of one sequential run: ``npo@1x-s0-K5-identity`` (``-r<seed>`` for a request seed other
    than 0, ``-theta0-original`` for the original θ0)."""
    name = f"{slug(method, budget, seed)}-K{requests}-{unit}"
    return name + (f"-r{request_seed}" if request_seed else "") + ("-theta0-original" if theta0 == "original" else "")


def display_name(method: str, budget: float, seed: int) -> str:
    """Result name of one unlearning run: ``finetune@1x/s0`` (the leaderboard groups seeds)."""
    return f"{method}@{budget:g}x/s{seed}"


class Planner:
    """Builds the ordered stage list of a run from its config and the stage functions."""

    def __init__(self, cfg: RunConfig, fns: StageFns, methods: list[str], cache: StageCache,
                 on_progress: OnProgress | None = None, given: GivenInputs | None = None) -> None:
        self.cfg, self.fns, self.methods, self.cache = cfg, fns, methods, cache
        self.on_progress = on_progress
        self.given = given
        self.root = Path(cfg.out).resolve()
        self.data = given.data_dir if given else self.root / "data"
        self.stages: list[Stage] = []
        self.hashes: dict[str, str] = {}
        # execution settings read by the stage actions when they run (not part of any key): the runner
        # sets them per stage (a worker's device and thread share under --jobs / --devices)
        self.device: str | None = cfg.device
        self.threads: int | None = cfg.threads

    def _add(self, stage: Stage) -> Stage:
        self.stages.append(stage)
        if self.cfg.precision != "fp32" and stage.kind in PRECISION_STAGES:  # fp32 keys are unchanged
            stage.key["precision"] = self.cfg.precision
        if not stage.key_fn:
            self.hashes[stage.id] = key_hash(stage.key)
        return stage

    # ------------------------------------------------------------ the two tiers
    def ref_stage(self, kind: str) -> str:
        """The stage that provides reference ``kind``: ``train-<kind>``, or ``ref-<kind>`` when given."""
        return f"ref-{kind}" if self.given else f"train-{kind}"

    def model_of(self, kind: str) -> Path | str:
        """Reference ``kind``'s model: the trained folder, or the given spec."""
        return self.given.models[kind].spec if self.given else self.root / "models" / kind

    def model_kw(self) -> dict[str, Any]:
        """Keywords of stage functions that load a reference (arch of given checkpoints)."""
        return {"arch": self.cfg.arch} if self.cfg.arch else {}

    def eval_kw(self) -> dict[str, Any]:
        """Keywords of the evaluating stage functions (ImageNet for GenKnow when given)."""
        return {"imagenet": self.cfg.imagenet} if self.cfg.imagenet else {}

    def precision_kw(self) -> dict[str, Any]:
        """``precision`` for the evaluate / unlearn / attack stage functions, only when not fp32."""
        return {"precision": self.cfg.precision} if self.cfg.precision != "fp32" else {}

    def build(self) -> list[Stage]:
        if self.given:
            self._given_data()
            for kind in REFERENCES:
                self._given_reference(kind)
        else:
            self._data()
            for kind in REFERENCES:
                self._train(kind)
        for kind in ("clean", "compromised"):  # Clean first: the others' KS statistic reads it
            self._eval_reference(kind)
        attacks = self.cfg.attacks and self.fns.attack is not None
        if attacks and self.given and self.fns.calibrate_attacks is not None:
            self._attack_calibration()
        if attacks:  # references first: the methods' positions read their attack files
            for kind in REFERENCES:
                self._attack(kind, kind, self.ref_stage(kind), None)
        for method in self.methods:
            for budget in self.cfg.budgets:
                for seed in self.cfg.seeds:
                    self._unlearn(method, budget, seed)
                    self._eval_unlearned(method, budget, seed)
                    if attacks:
                        name = slug(method, budget, seed)
                        self._attack(name, display_name(method, budget, seed), f"unlearn-{name}", method)
        if self.cfg.requests and self.fns.unlearn_sequential is not None:
            for method in self.methods:
                for budget in self.cfg.budgets:
                    for seed in self.cfg.seeds:
                        self._sequential(method, budget, seed)
        self._leaderboard()
        return self.stages

    # ------------------------------------------------------------ stages
    def _data(self) -> None:
        key = {"stage": "data", "preset": self.cfg.preset, "seed": self.cfg.data_seed, "salmubench": __version__,
               "config": self.fns.data_config(self.cfg.preset) if self.fns.data_config else {}}
        run = lambda resume: self.fns.generate(out_dir=self.data, preset=self.cfg.preset,  # noqa: E731
                                               seed=self.cfg.data_seed, on_progress=self.on_progress)
        self._add(Stage("data", "data", f"generate data ({self.cfg.preset})", (), [self.data], run, key))

    def _given_data(self) -> None:
        given = self.given
        key = {"stage": "data", "tier": "given", "fingerprint": given.fingerprint, "salmubench": __version__}
        run = lambda resume: {"counts": given.counts}  # noqa: E731 - checked and fingerprinted before planning
        self._add(Stage("data", "data", f"given data ({given.fingerprint[:8]})", (), [], run, key))

    def _given_reference(self, kind: str) -> None:
        model = self.given.models[kind]
        key = {"stage": "reference", "kind": kind, "checkpoint_sha256": model.checkpoint_sha256, "arch": model.arch,
               "spec": model.spec if model.checkpoint_sha256 is None else None, "salmubench": __version__}
        run = lambda resume: model.record()  # noqa: E731 - loaded and hashed before planning
        self._add(Stage(f"ref-{kind}", "reference", f"given {kind} ({model.arch})", ("data",), [], run, key))

    def _train(self, kind: str) -> None:
        out = self.root / "models" / kind
        key = {"stage": "train", "kind": kind, "preset": self.cfg.preset, "seed": self.cfg.train_seed,
               "data": self.hashes["data"], "salmubench": __version__,
               "config": self.fns.train_config(self.cfg.preset) if self.fns.train_config else {}}

        def run(resume: bool) -> dict:
            return self.fns.train(kind=kind, data_dir=self.data, out_dir=out, preset=self.cfg.preset,
                                  seed=self.cfg.train_seed, resume=resume, on_progress=self.on_progress,
                                  device=self.device, threads=self.threads)

        self._add(Stage(f"train-{kind}", "train", f"train {kind}", ("data",), [out], run, key))

    def _eval_key(self, model_stage: str, role: str, name: str, extra_deps: tuple[str, ...]) -> dict:
        deps = {d: self.hashes[d] for d in ("data", self.ref_stage("compromised"), model_stage, *extra_deps)}
        return {"stage": "eval", "role": role, "name": name, "protocol": protocol_hash(), "inputs": deps,
                "salmubench": __version__}

    def _eval_reference(self, kind: str) -> None:
        out = self.root / "results" / kind
        extra = ("eval-clean",) if kind == "compromised" else ()
        key = self._eval_key(self.ref_stage(kind), kind, kind, extra)
        ref = self.root / "results" / "clean" if kind == "compromised" else None
        model = self.model_of(kind)

        def run(resume: bool) -> dict:
            info = self.fns.evaluate(model_dir=model, data_dir=self.data, out_dir=out, role=kind, name=kind,
                                     run_info=None, reference_clean=ref, on_progress=self.on_progress,
                                     device=self.device, threads=self.threads, **self.model_kw(), **self.eval_kw(),
                                     **self.precision_kw())
            if not self.given:
                attach_cost(out, train_seconds=self.cache.seconds(f"train-{kind}"))
            return info

        deps = ("data", self.ref_stage("compromised"), self.ref_stage(kind), *extra)
        self._add(Stage(f"eval-{kind}", "eval", f"evaluate {kind}", deps, [out], run, key))

    def _unlearn(self, method: str, budget: float, seed: int) -> None:
        name = slug(method, budget, seed)
        out = self.root / "models" / "unlearned" / name
        overrides, resolved, recipe = self._method_key(method, budget)
        key = {"stage": "unlearn", "method": method, "budget": budget, "seed": seed, "overrides": overrides,
               "recipe": recipe, "config": resolved, "base": self.hashes[self.ref_stage("compromised")],
               "data": self.hashes["data"], "salmubench": __version__}
        source = self.fns.method_source(method) if self.fns.method_source else None
        if source:  # an external method: editing its file invalidates its runs
            key["source"] = source

        def run(resume: bool) -> dict:
            return self.fns.unlearn(method=method, model_dir=self.model_of("compromised"),
                                    data_dir=self.data, out_dir=out, budget=budget, overrides=overrides,
                                    seed=seed, on_progress=self.on_progress, device=self.device,
                                    threads=self.threads, recipe=self.cfg.recipe, **self.model_kw(),
                                    **self.precision_kw())

        self._add(Stage(f"unlearn-{name}", "unlearn", f"unlearn {display_name(method, budget, seed)}",
                        ("data", self.ref_stage("compromised")), [out], run, key))

    def _method_key(self, method: str, budget: float) -> tuple[dict, dict, dict | None]:
        """(user overrides, resolved config, recipe record) of a method at a budget."""
        overrides = dict(self.cfg.overrides.get(method, {}))
        effective, recipe = recipes.apply(self.cfg.recipe, method, budget, overrides)
        resolved = self.fns.method_config(method, effective) if self.fns.method_config else {}
        return overrides, resolved, recipe

    def _sequential(self, method: str, budget: float, seed: int) -> None:
        """K deletion requests, one after the other (docs/sequential.md): one stage per method x budget x
        seed; the library resumes it at the next unfinished request."""
        cfg = self.cfg
        name = sequential_slug(method, budget, seed, cfg.requests, cfg.request_unit, cfg.request_seed, cfg.theta0)
        out = self.root / "sequential" / name
        overrides, resolved, recipe = self._method_key(method, budget)
        key = {"stage": "sequential", "method": method, "budget": budget, "seed": seed, "overrides": overrides,
               "recipe": recipe, "config": resolved, "requests": cfg.requests, "unit": cfg.request_unit,
               "request_seed": cfg.request_seed, "theta0": cfg.theta0, "protocol": protocol_hash(),
               "base": self.hashes[self.ref_stage("compromised")], "clean": self.hashes[self.ref_stage("clean")],
               "data": self.hashes["data"], "salmubench": __version__}
        source = self.fns.method_source(method) if self.fns.method_source else None
        if source:
            key["source"] = source

        def run(resume: bool) -> dict:
            return self.fns.unlearn_sequential(
                method=method, model_dir=self.model_of("compromised"), clean_dir=self.model_of("clean"),
                data_dir=self.data, out_dir=out, budget=budget, overrides=overrides, seed=seed, requests=cfg.requests,
                request_unit=cfg.request_unit, request_seed=cfg.request_seed, theta0=cfg.theta0,
                on_progress=self.on_progress, device=self.device, threads=self.threads, recipe=cfg.recipe,
                **self.model_kw(), **self.eval_kw())

        label = f"sequential {display_name(method, budget, seed)} ({cfg.requests} {cfg.request_unit} requests)"
        deps = ("data", self.ref_stage("compromised"), self.ref_stage("clean"))
        self._add(Stage(f"sequential-{name}", "sequential", label, deps, [out], run, key))

    def _eval_unlearned(self, method: str, budget: float, seed: int) -> None:
        name = slug(method, budget, seed)
        model, out = self.root / "models" / "unlearned" / name, self.root / "results" / name
        key = self._eval_key(f"unlearn-{name}", "unlearned", display_name(method, budget, seed), ("eval-clean",))

        def run(resume: bool) -> dict:
            record = (self.cache.record(f"unlearn-{name}") or {}).get("info") or {}
            run_info = {"method": method, "budget": budget, "seed": seed, "params": record.get("params") or {},
                        "config_hash": record.get("config_hash"), "recipe": record.get("recipe")}
            info = self.fns.evaluate(model_dir=model, data_dir=self.data, out_dir=out, role="unlearned",
                                     name=display_name(method, budget, seed), run_info=run_info,
                                     reference_clean=self.root / "results" / "clean",
                                     on_progress=self.on_progress, device=self.device, threads=self.threads,
                                     **self.eval_kw(), **self.precision_kw())
            cost = record.get("cost") or {}
            attach_cost(out, **{k: cost.get(k) for k in ("unlearn_seconds", "fwd_passes", "bwd_passes")})
            return info

        self._add(Stage(f"eval-{name}", "eval", f"evaluate {display_name(method, budget, seed)}",
                        ("data", self.ref_stage("compromised"), "eval-clean", f"unlearn-{name}"), [out], run, key))

    def _attack_calibration(self) -> None:
        """Given references: the fine-tuning attacks' lr and steps chosen on them by the fixed rule
        (``attacks.calibration``); writes ``results/attack_constants.json``, read by every attack stage."""
        from salmubench.attacks.calibration import CONSTANTS_FILE, DEFAULT_LRS, DEFAULT_STEPS, RULE_VERSION

        out = self.root / "results" / CONSTANTS_FILE
        deps = ("data", *(self.ref_stage(k) for k in REFERENCES))
        key = {"stage": "attack-calibration", "rule": RULE_VERSION, "grid": {"lrs": DEFAULT_LRS, "steps": DEFAULT_STEPS},
               "seed": self.cfg.attack_seed, "suite": self.fns.attack_config() if self.fns.attack_config else {},
               "inputs": {d: self.hashes[d] for d in deps}, "salmubench": __version__}

        def run(resume: bool) -> dict:
            return self.fns.calibrate_attacks(compromised=self.model_of("compromised"), clean=self.model_of("clean"),
                                              data_dir=self.data, out=out, seed=self.cfg.attack_seed,
                                              on_progress=self.on_progress, device=self.device, threads=self.threads,
                                              **self.model_kw())

        self._add(Stage("attack-calibration", "attack", "calibrate the fine-tuning attacks", deps, [out], run, key))

    def _attack(self, name: str, display: str, model_stage: str, method: str | None) -> None:
        """Recovery attacks on one model (docs/attacks.md); writes ``results/<name>/attack.json``."""
        is_ref = method is None
        model = self.model_of(name) if is_ref else self.root / "models" / "unlearned" / name
        results = self.root / "results"
        refs = () if is_ref else tuple(f"attack-{k}" for k in REFERENCES)
        calib = next((s for s in self.stages if s.id == "attack-calibration"), None)  # given references only
        calibrated, constants = (((calib.id,), {"constants": str(calib.outputs[0])}) if calib else ((), {}))
        deps = ("data", self.ref_stage("compromised"), model_stage, f"eval-{name}", *refs, *calibrated)
        key = {"stage": "attack", "name": display, "seed": self.cfg.attack_seed, "protocol": protocol_hash(),
               "suite": self.fns.attack_config() if self.fns.attack_config else {},
               "inputs": {d: self.hashes[d] for d in deps}, "salmubench": __version__}

        def run(resume: bool) -> dict:
            return self.fns.attack(model_dir=model, data_dir=self.data, out_dir=results / name,
                                   role=name if is_ref else "unlearned", name=display,
                                   references=None if is_ref else results, seed=self.cfg.attack_seed,
                                   on_progress=self.on_progress, device=self.device, threads=self.threads,
                                   **(self.model_kw() if is_ref else {}), **constants, **self.precision_kw())

        self._add(Stage(f"attack-{name}", "attack", f"attack {display}", deps,
                        [results / name / "attack.json"], run, key))

    def _leaderboard(self) -> None:
        outputs = [self.root / f"leaderboard.{ext}" for ext in ("md", "csv", "json")] + [self.root / "report.html"]
        # attack files and sequential summaries feed it too
        evals = [s.id for s in self.stages if s.kind in ("eval", "attack", "sequential")]

        def key_fn() -> dict:  # the evaluations done so far, and when (a redone one changes the key)
            keys = {s.id: s.key for s in self.stages if s.id in evals}
            done = {i: f"{self.hashes[i]}@{self.cache.record(i).get('finished_ns')}" for i in evals
                    if self.cache.is_done(i, keys[i])}
            return {"stage": "leaderboard", "evals": done, "salmubench": __version__}

        def run(resume: bool) -> dict:  # only this plan's finished results (not stale ones of older plans)
            from salmubench.leaderboard import rebuild

            keys = {s.id: s for s in self.stages if s.id in evals}
            dirs = [keys[i].outputs[0] for i in evals if keys[i].kind in ("eval", "sequential")
                    and self.cache.is_done(i, keys[i].key, keys[i].outputs)]
            data, _ = rebuild(dirs, self.root)
            return {"rows": len(data["rows"])}

        self._add(Stage("leaderboard", "leaderboard", "leaderboard + report",
                        ("eval-compromised", "eval-clean"), outputs, run, key_fn=key_fn, after_all=True))


def attach_cost(result_dir: Path, **cost: float | int | None) -> None:
    """Record costs known to the pipeline (training / unlearning) in a written result.json."""
    path = Path(result_dir) / RESULT_FILE
    if not path.is_file():
        return
    result = read_result(path)
    updates = {k: v for k, v in cost.items() if v is not None}
    if updates:
        result.cost = result.cost.model_copy(update=updates)
        write_result(result, result_dir)
