"""`salmubench run` on given references calibrates the fine-tuning attacks first: one cached
``attack-calibration`` stage that every attack stage reads (pipeline/plan.py); the embedded tier has none.
Fake stage functions (no torch), real plans."""

from __future__ import annotations

import json

from salmubench.models import create_model, save_model
from salmubench.pipeline import RunConfig, run_benchmark
from salmubench.pipeline.cache import StageCache
from salmubench.pipeline.given import GivenInputs, GivenModel
from salmubench.pipeline.plan import Planner


def calibrating(fakes):
    """The fakes' stage functions with a calibration that writes a small constants file and counts its calls."""
    def calibrate_attacks(compromised, clean, data_dir, out, seed, on_progress, device, threads=None, **extra):
        fakes.calls["calibrate"] += 1
        fakes.extra.append({"stage": "calibrate", "compromised": str(compromised), "clean": str(clean), **extra})
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"relearn": {"lr": 1e-4, "steps": 10}}))
        return {"relearn": {"lr": 1e-4, "steps": 10}}

    fns = fakes.fns()
    fns.calibrate_attacks = calibrate_attacks
    return fns


def given_inputs(tmp_path, sha: str = "a") -> GivenInputs:
    models = {role: GivenModel(spec=str(tmp_path / role), checkpoint_sha256=(sha if role == "compromised" else "b") * 64,
                               arch="ViT-B-16") for role in ("compromised", "clean")}
    return GivenInputs(data_dir=tmp_path / "data", fingerprint="f" * 64, counts={"forget": 10}, models=models)


def plan(tmp_path, fns, given, **kw):
    cfg = RunConfig(out=str(tmp_path / "run"), budgets=(5.0,), **kw)
    return Planner(cfg, fns, ["finetune", "npo"], StageCache(tmp_path / "run"), given=given).build()


def test_a_given_plan_calibrates_before_the_attacks_and_every_attack_reads_it(tmp_path, fakes):
    stages = plan(tmp_path, calibrating(fakes), given_inputs(tmp_path))
    ids = [s.id for s in stages]
    assert ids.count("attack-calibration") == 1 and ids.index("attack-calibration") < ids.index("attack-compromised")
    calib = stages[ids.index("attack-calibration")]
    assert calib.kind == "attack" and calib.outputs == [(tmp_path / "run" / "results" / "attack_constants.json")]
    assert set(calib.deps) == {"data", "ref-compromised", "ref-clean"}
    assert set(calib.key["inputs"]) == {"data", "ref-compromised", "ref-clean"} and calib.key["rule"] == 1
    attacks = [s for s in stages if s.kind == "attack" and s.id != "attack-calibration"]
    assert {s.id for s in attacks} == {"attack-compromised", "attack-clean", "attack-finetune@5x-s0", "attack-npo@5x-s0"}
    assert all("attack-calibration" in s.deps and "attack-calibration" in s.key["inputs"] for s in attacks)
    # another Compromised checkpoint: another calibration, and so other keys for every attack stage
    other = plan(tmp_path, calibrating(fakes), given_inputs(tmp_path, sha="c"))
    before, after = ({s.id: s.key for s in p if s.kind == "attack"} for p in (stages, other))
    assert all(before[i] != after[i] for i in before)


def test_no_calibration_stage_without_attacks_without_the_function_or_on_the_embedded_tier(tmp_path, fakes):
    assert "attack-calibration" not in [s.id for s in plan(tmp_path, calibrating(fakes), given_inputs(tmp_path),
                                                             attacks=False)]
    assert "attack-calibration" not in [s.id for s in plan(tmp_path, fakes.fns(), given_inputs(tmp_path))]
    embedded = plan(tmp_path, calibrating(fakes), None)
    assert "attack-calibration" not in [s.id for s in embedded]
    # the embedded tier's stages and keys are those of a plan without the calibration function
    assert [(s.id, s.deps, s.key) for s in embedded] == [(s.id, s.deps, s.key) for s in plan(tmp_path, fakes.fns(), None)]
    assert all(set(s.deps) <= {s2.id for s2 in embedded} for s in embedded)


def test_a_given_run_passes_the_constants_file_to_every_attack_and_caches_the_calibration(tmp_path, tiny_dataset_dir,
                                                                                         fakes):
    models = tmp_path / "models"
    for kind, seed in (("compromised", 1), ("clean", 2)):
        save_model(create_model("salmu-test", seed=seed), models / kind)
    cfg = RunConfig(data=str(tiny_dataset_dir), compromised=str(models / "compromised"), clean=str(models / "clean"),
                    budgets=(5.0,), out=str(tmp_path / "run"), recipe=None)  # salmu-test: no recipe fits
    report = run_benchmark(cfg, calibrating(fakes))
    assert report.ok and fakes.calls["calibrate"] == 1
    constants = str(tmp_path / "run" / "results" / "attack_constants.json")
    attacked = [e for e in fakes.extra if e["stage"].startswith("attack:")]
    assert len(attacked) == 2 + len(fakes.method_list) and all(e["constants"] == constants for e in attacked)
    assert json.loads((tmp_path / "run" / "results" / "attack_constants.json").read_text())["relearn"]["steps"] == 10
    again = run_benchmark(cfg, calibrating(fakes))
    assert {s.state for s in again.statuses} == {"cached"} and fakes.calls["calibrate"] == 1
