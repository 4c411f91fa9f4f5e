"""Sequential unlearning end to end on the tiny dataset with salmu-test models: K = 1 is the one-shot
run to the byte; a method sees only its request's rows (never a later request's, never a holdout);
θ0 follows the ``theta0`` setting; a run killed after step 2 resumes at step 3; records are complete."""

from __future__ import annotations

import json

import pytest
import torch

from salmubench import recipes
from salmubench.api import unlearn  # the package root's unlearn: one-shot or, with requests=K, sequential
from salmubench.errors import ConfigError
from salmubench.evaluation.evaluator import evaluate
from salmubench.io_utils import read_json
from salmubench.models import load_model
from salmubench.progress import ProgressEvent
from salmubench.sequential.results import read_step, read_summary, step_dir
from salmubench.sequential.runner import forget_split
from salmubench.unlearning import UnlearningMethod
from salmubench.unlearning.base import Budget
from salmubench.unlearning.execute import UNLEARN_FILE
from salmubench.unlearning.gradients import named_trainable
from salmubench.unlearning.registry import ensure_registered


def sha(folder) -> str:
    return read_json(folder / "open_clip_config.json")["salmubench"]["weights_sha256"]


@pytest.fixture
def one_recipe(tmp_path, monkeypatch):
    """A shipped ``structured@1x`` recipe overriding npo and task_vector (so "same recipe" is tested)."""
    path = tmp_path / "structured@1x.json"
    path.write_text(json.dumps({"schema": recipes.RECIPE_SCHEMA, "name": "structured@1x", "selection": "structured",
                                "budget": 1.0, "version": 7,
                                "methods": {"npo": {"overrides": {"lr": 2e-4}},
                                            "task_vector": {"overrides": {"scale": 3.0}}}}))
    monkeypatch.setattr(recipes, "_files", lambda: {"structured@1x": path})
    recipes.load_recipe.cache_clear()
    yield
    recipes.load_recipe.cache_clear()


@pytest.mark.parametrize("method,theta0", [("npo", "original"), ("task_vector", "original"), ("finetune", "previous")])
def test_one_request_is_the_one_shot_run_to_the_byte(method, theta0, seq_models, tiny_dataset_dir, tmp_path, one_recipe):
    comp, clean = seq_models
    one = unlearn(method, comp, tiny_dataset_dir, tmp_path / "one", seed=3)
    seq = unlearn(method, comp, tiny_dataset_dir, tmp_path / "seq", seed=3, requests=1, theta0=theta0,
                  evaluate_steps=method == "npo", clean=clean)
    a, b = read_json(one / UNLEARN_FILE), read_json(seq / UNLEARN_FILE)
    assert sha(one) == sha(seq) == b["checkpoint_sha256"] == a["checkpoint_sha256"]
    assert a["recipe"] == b["recipe"] and b["recipe"]["name"] == "structured@1x" and a["params"] == b["params"]
    assert a["steps"] == b["steps"] and a["cost"]["fwd_passes"] == b["cost"]["fwd_passes"]
    summary = read_summary(seq)
    assert summary.steps[0].step_seed == 3 and summary.cost.optimizer_steps == summary.cost.one_shot_steps == a["steps"]
    if method == "npo":  # after the only request: the evaluator's numbers of the one-shot model, exactly
        result = evaluate(str(one), tiny_dataset_dir, tmp_path / "res", cache_dir=False)
        last = summary.steps[-1].metrics
        for key in ("ret_fail", "assoc_str", "core_assoc", "gen_know", "inter_id_sim", "intra_id_sim"):
            assert last[key].value == result.metrics[key].value, key


class SeqSpy(UnlearningMethod):
    """Records what each run sees; moves every weight by +0.01 (needs a teacher, to check θ0)."""

    needs_teacher = True
    seen: list[dict] = []

    def apply(self, model, data, budget):
        SeqSpy.seen.append({
            "files": list(data.forget.file_names), "ids": set(data.identities), "n": len(data.forget),
            "aligned": (len(data.forget_generic_texts), len(data.forget_attributes)),
            "retain": set(data.retain.file_names), "seed": self.runtime.seed,
            "teacher": {k: v.clone() for k, v in self.teacher.state_dict().items()},
            "start": {k: v.clone() for k, v in model.state_dict().items()},
            "steps": budget.steps(len(data.forget), self.cfg.forget_batch_size)})
        with torch.no_grad():
            for p in named_trainable(model).values():
                p.add_(0.01)
        return model


@pytest.fixture
def spy(isolated_methods):
    SeqSpy.seen = []
    return ensure_registered(SeqSpy).name


@pytest.mark.parametrize("theta0", ["previous", "original"])
def test_a_request_sees_only_its_rows_and_theta0_follows_the_setting(theta0, spy, seq_models, tiny_dataset_dir,
                                                                     tiny_dataset, tmp_path):
    comp, _ = seq_models
    out = unlearn(spy, comp, tiny_dataset_dir, tmp_path / "spy", requests=4, request_unit="association",
                  request_seed=5, theta0=theta0, evaluate_steps=False, seed=11, recipe=None)
    split = forget_split(tiny_dataset, 4, "association", 5)
    forget_files = tiny_dataset.forget.file_names
    holdouts = set(tiny_dataset.holdout_association.file_names) | set(tiny_dataset.holdout_identity.file_names)
    original = load_model(comp).model.state_dict()
    trainable = set(named_trainable(load_model(comp).model))
    assert len(SeqSpy.seen) == 4
    for k, seen in enumerate(SeqSpy.seen, start=1):
        mine = [forget_files[r] for r in split.rows[k - 1]]
        assert seen["files"] == mine and seen["n"] == len(mine) and seen["aligned"] == (len(mine), len(mine))
        later = {forget_files[r] for r in split.pending(k)}
        assert not later & set(seen["files"]) and not later & seen["retain"]  # no row of a later request
        assert not holdouts & (set(seen["files"]) | seen["retain"])  # no holdout row
        assert seen["ids"] == {tiny_dataset.forget.identity_ids[r] for r in split.rows[k - 1]}
        assert seen["steps"] == Budget(1.0).steps(len(mine), 32)
        assert seen["seed"] != 11 and len({s["seed"] for s in SeqSpy.seen}) == 4  # derived per step
        if k > 1:  # each request starts from the previous output
            prev = SeqSpy.seen[k - 2]["start"]
            assert all(torch.allclose(seen["start"][n], prev[n] + 0.01) for n in trainable)
        teacher_is = "original" if k == 1 or theta0 == "original" else "start"
        ref = original if teacher_is == "original" else seen["start"]
        assert all(torch.equal(seen["teacher"][n], ref[n]) for n in ref), (k, theta0)
    summary = read_summary(out)
    assert summary.theta0.setting == theta0 and summary.theta0.role == "teacher"
    assert summary.requests.k == 4 and summary.requests.unit == "association" and summary.requests.digest == split.digest
    assert [s.rows for s in summary.steps] == [len(r) for r in split.rows] and summary.steps[0].metrics is None


def test_a_killed_run_resumes_at_the_next_request(seq_models, tiny_dataset_dir, tmp_path):
    comp, clean = seq_models
    args = dict(requests=3, clean=clean, seed=1, recipe=None)  # salmu-test: the default recipe is refused

    class Killed(Exception):
        pass

    def kill_after_step_2(event: ProgressEvent) -> None:
        if event.task == "requests npo" and event.done == 2:
            raise Killed

    with pytest.raises(Killed):
        unlearn("npo", comp, tiny_dataset_dir, tmp_path / "a", on_progress=kill_after_step_2, **args)
    assert [step_dir(tmp_path / "a", k).exists() for k in (1, 2, 3)] == [True, True, False]
    assert not (tmp_path / "a" / UNLEARN_FILE).exists() and not (tmp_path / "a" / "sequential.json").exists()
    before = {k: (step_dir(tmp_path / "a", k) / "step.json").stat().st_mtime_ns for k in (1, 2)}
    refs = (tmp_path / "a" / "references.json").stat().st_mtime_ns
    events: list[ProgressEvent] = []
    unlearn("npo", comp, tiny_dataset_dir, tmp_path / "a", on_progress=events.append, **args)
    assert {k: (step_dir(tmp_path / "a", k) / "step.json").stat().st_mtime_ns for k in (1, 2)} == before
    assert (tmp_path / "a" / "references.json").stat().st_mtime_ns == refs  # computed once per run
    assert [e.done for e in events if e.task == "requests npo"] == [2, 3]
    unlearn("npo", comp, tiny_dataset_dir, tmp_path / "b", **args)  # never interrupted
    a, b = read_summary(tmp_path / "a"), read_summary(tmp_path / "b")
    assert [s.checkpoint_sha256 for s in a.steps] == [s.checkpoint_sha256 for s in b.steps]
    assert [s.metrics for s in a.steps] == [s.metrics for s in b.steps] and sha(tmp_path / "a") == sha(tmp_path / "b")
    # a finished run is not redone; another θ0 setting is another run (its steps are redone)
    mtime = (tmp_path / "a" / UNLEARN_FILE).stat().st_mtime_ns
    unlearn("npo", comp, tiny_dataset_dir, tmp_path / "a", **args)
    assert (tmp_path / "a" / UNLEARN_FILE).stat().st_mtime_ns == mtime
    unlearn("npo", comp, tiny_dataset_dir, tmp_path / "a", theta0="original", **args)
    c = read_summary(tmp_path / "a")
    assert c.theta0.setting == "original" and c.run.config_hash != a.run.config_hash
    assert c.steps[0].checkpoint_sha256 == a.steps[0].checkpoint_sha256  # step 1: θ0 is the Compromised model either way
    assert c.steps[1].checkpoint_sha256 != a.steps[1].checkpoint_sha256


def test_records_are_self_describing(seq_models, tiny_dataset_dir, tmp_path):
    comp, clean = seq_models
    out = unlearn("finetune", comp, tiny_dataset_dir, tmp_path / "ft", requests=3, clean=clean, budget=2.0,
                  recipe=None)
    summary, record = read_summary(out), read_json(out / UNLEARN_FILE)
    assert record["complete"] and record["sequential"]["requests"]["k"] == 3 and record["sequential"]["theta0"] == {
        "setting": "previous", "role": None}
    assert record["checkpoint_sha256"] == summary.models.final_checkpoint_sha256 == summary.steps[-1].checkpoint_sha256
    assert summary.models.original_checkpoint_sha256 == load_model(comp).checkpoint_sha256
    assert summary.models.clean_checkpoint_sha256 == load_model(clean).checkpoint_sha256
    assert summary.run.budget == 2.0 and summary.run.params["lr"] > 0 and summary.env["python"]
    assert summary.dataset.forget_rows == sum(summary.requests.rows) and summary.protocol.hash
    assert summary.cost.fwd_passes == sum(s.cost["fwd_passes"] for s in summary.steps)
    assert summary.cost.optimizer_steps == sum(Budget(2.0).steps(s.rows, 32) for s in summary.steps)
    assert summary.cost.one_shot_steps == Budget(2.0).steps(summary.dataset.forget_rows, 32)
    for s in summary.steps:
        step = read_step(step_dir(out, s.step))
        assert step.step == s and step.run == summary.run and s.start_checkpoint_sha256
        pending = s.metrics["pending_sim"]
        assert (pending.value is None and pending.compromised is None) == (s.step == 3)
        assert s.metrics["ret_fail"].clean is not None and s.metrics["gen_know"].compromised is not None
    refs = read_json(out / "references.json")
    assert refs["key"]["split"] == summary.requests.digest and set(refs["steps"]) == {"1", "2", "3"}


def test_one_line_errors(seq_models, tiny_dataset_dir, tmp_path):
    comp, clean = seq_models
    with pytest.raises(ConfigError, match="is the input clean; choose a new folder"):
        unlearn("finetune", comp, tiny_dataset_dir, clean, requests=2, clean=clean)
    for kwargs, match in (({"theta0": "first"}, "theta0 'first' is not one of previous, original"),
                          ({"request_unit": "row"}, "request_unit 'row' is not one of identity, association"),
                          ({"requests": 500}, "500 requests need at least 500 identity units")):
        with pytest.raises(ConfigError, match=match):
            unlearn("finetune", comp, tiny_dataset_dir, tmp_path / "x", **{"requests": 2, "recipe": None, **kwargs})
