"""The shared runner and data access: budget, schedule, cost accounting, determinism, no holdouts."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from salmubench.data import schema as S
from salmubench.data.loading import load_dataset
from salmubench.io_utils import read_json
from salmubench.models import load_model
from salmubench.unlearning import (
    Budget,
    GradientMethod,
    MethodConfig,
    Runtime,
    UnlearnData,
    UnlearningError,
    get_method,
    make_unlearn_data,
)
from salmubench.unlearning.api import UNLEARN_FILE, run_method, unlearn
from salmubench.unlearning.losses import clip_loss_of
from salmubench.unlearning.runner import lr_factor, rank_slice, run_unlearning


def test_budget_steps_are_forget_passes():
    assert Budget(1.0).steps(125, 32) == 4
    assert Budget(5).steps(125, 32) == 20
    assert Budget(0.5).steps(125, 32) == 2
    assert Budget(0.01).steps(125, 32) == 1
    assert Budget(1.0).steps(128, 32) == 4 and Budget(1.0).steps(129, 32) == 5
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(UnlearningError):
            Budget(bad)


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    total = 100
    factors = [lr_factor(s, total, 0.1, 0.1) for s in range(total)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))
    assert factors[-1] == pytest.approx(0.1, abs=0.01)
    assert lr_factor(0, 1, 0.0, 0.0) == 1.0


def test_rank_slices_partition_the_batch():
    idx = torch.arange(7)
    parts = [rank_slice(idx, r, 2) for r in range(2)]
    assert torch.equal(torch.cat(parts), idx)
    assert all(len(rank_slice(torch.arange(1), r, 2)) == 1 for r in range(2))


def test_unlearn_data_never_holds_holdouts(unlearn_data_dir, bundle):
    from salmubench.unlearning import build_unlearn_data

    ds = load_dataset(unlearn_data_dir)
    data = build_unlearn_data(ds, bundle.preprocess, bundle.tokenizer)
    holdout = set(ds.holdout_association.file_names) | set(ds.holdout_identity.file_names)
    assert holdout, "the fixture must have holdout rows for this test to mean anything"
    seen = set(data.forget.file_names) | set(data.retain.file_names)
    assert not seen & holdout
    assert data.forget.file_names == ds.forget.file_names
    expected_retain = ds.retain_synth.file_names + (
        ds.split(S.GENERAL_RETAIN).file_names if ds.has_split(S.GENERAL_RETAIN) else [])
    assert data.retain.file_names == expected_retain
    assert set(data.identities) == {i for i in ds.forget.identity_ids if i}
    holdout_only = {i for i in ds.holdout_identity.identity_ids if i}
    assert not holdout_only & set(data.identities)
    # the type itself has no field that could carry a holdout split
    assert {f.name for f in dataclasses.fields(UnlearnData)} == {
        "forget", "retain", "forget_generic_texts", "forget_attributes", "identities", "tokenizer",
        "retain_sources"}


def test_generic_texts_and_attributes_are_row_aligned(unlearn_data_dir, unlearn_data):
    ds = load_dataset(unlearn_data_dir)
    for k, name in enumerate(unlearn_data.forget.file_names[:20]):
        assert unlearn_data.forget_generic_texts[k] == ds.generic_captions[name]
        assert unlearn_data.forget_attributes[k] == ds.attribute_of(name)


def _run(name, bundle, data, seed=0, budget=1.0, **overrides):
    cls = get_method(name)
    runtime = Runtime(seed=seed)
    model, meter = run_method(cls(cls.config_cls(**overrides), runtime), copy.deepcopy(bundle.model),
                              data, Budget(budget))
    return model, meter, runtime


def test_steps_and_cost_accounting(bundle, unlearn_data):
    n_f, n_r = len(unlearn_data.forget), len(unlearn_data.retain)
    fbs, rbs = 16, 8
    steps = math.ceil(n_f / fbs)
    # finetune reads only retain data, yet gets the same number of steps (one forget pass)
    _, meter, runtime = _run("finetune", bundle, unlearn_data, forget_batch_size=fbs, retain_batch_size=rbs)
    assert len(runtime.log) == steps and n_r >= rbs
    assert meter.fwd_images == meter.fwd_texts == steps * rbs
    assert meter.bwd_passes == meter.fwd_passes == 2 * steps * rbs
    # a teacher method: teacher forwards count as forward passes, never as backward passes
    _, meter, runtime = _run("delete_salmu", bundle, unlearn_data, forget_batch_size=fbs,
                             retain_batch_size=rbs)
    student = n_f + steps * rbs  # every forget row once + student retain rows
    assert meter.fwd_images == student + steps * rbs
    assert meter.bwd_images == meter.bwd_texts == student
    assert meter.seconds > 0


def test_seed_controls_the_result(bundle, unlearn_data):
    a, _, _ = _run("neg_grad", bundle, unlearn_data, seed=0, forget_batch_size=16)
    b, _, _ = _run("neg_grad", bundle, unlearn_data, seed=0, forget_batch_size=16)
    c, _, _ = _run("neg_grad", bundle, unlearn_data, seed=1, forget_batch_size=16)
    key = "visual.conv1.weight"
    assert torch.equal(a.state_dict()[key], b.state_dict()[key])
    assert not torch.equal(a.state_dict()[key], c.state_dict()[key])


def test_budget_scales_steps(bundle, unlearn_data):
    _, m1, r1 = _run("neg_grad", bundle, unlearn_data, budget=1.0)
    _, m2, r2 = _run("neg_grad", bundle, unlearn_data, budget=2.0)
    assert len(r2.log) == 2 * len(r1.log)
    assert m2.fwd_images == 2 * m1.fwd_images == 2 * len(unlearn_data.forget)


class _Exploding(GradientMethod):
    name = "exploding"

    def loss(self, model, batch, step):
        return {"forget_loss": clip_loss_of(model, batch.forget) * float("nan")}


class _NoLoss(GradientMethod):
    name = "no_loss"

    def loss(self, model, batch, step):
        return {"forget_cos": torch.tensor(0.0)}


@pytest.mark.parametrize(("cls", "message"), [(_Exploding, "not finite"), (_NoLoss, "no '\\*_loss' term")])
def test_bad_losses_fail_with_one_line(cls, message, bundle, unlearn_data):
    model = copy.deepcopy(bundle.model)
    with pytest.raises(UnlearningError, match=message) as info:
        run_unlearning(model, cls(MethodConfig()), unlearn_data, Budget(0.1))
    assert "\n" not in str(info.value)
    assert model.logit_scale.requires_grad  # restored after the failure


def test_gradient_hooks_restrict_updates(bundle, unlearn_data):
    class VisualOnly(GradientMethod):
        name = "visual_only"

        def trainable_parameters(self, model):
            return list(model.visual.parameters())

        def loss(self, model, batch, step):
            return {"forget_loss": -clip_loss_of(model, batch.forget)}

    model = copy.deepcopy(bundle.model)
    run_unlearning(model, VisualOnly(MethodConfig(lr=1e-3)), unlearn_data, Budget(0.5))
    new, old = model.state_dict(), bundle.model.state_dict()
    assert not torch.equal(new["visual.conv1.weight"], old["visual.conv1.weight"])
    assert torch.equal(new["token_embedding.weight"], old["token_embedding.weight"])


def test_empty_retain_is_refused_for_retain_methods(bundle, unlearn_data):
    data = make_unlearn_data(unlearn_data.forget, unlearn_data.retain.subset([]), unlearn_data.tokenizer)
    with pytest.raises(UnlearningError, match="retain"):
        _run("finetune", bundle, data)


def test_unlearn_resumes_and_redoes_on_changes(compromised_dir, unlearn_data_dir, tmp_path):
    # recipe=None: a salmu-test model, on which "default" (the code defaults, tuned on salmu-tiny) is refused
    out = unlearn("neg_grad", compromised_dir, unlearn_data_dir, tmp_path / "m", budget=0.5, recipe=None)
    first = read_json(out / UNLEARN_FILE)
    mtime = (out / "open_clip_model.safetensors").stat().st_mtime_ns
    unlearn("neg_grad", compromised_dir, unlearn_data_dir, tmp_path / "m", budget=0.5, recipe=None)
    assert (out / "open_clip_model.safetensors").stat().st_mtime_ns == mtime  # skipped
    unlearn("neg_grad", compromised_dir, unlearn_data_dir, tmp_path / "m", budget=0.5,
            overrides={"lr": 2e-4}, recipe=None)
    second = read_json(out / UNLEARN_FILE)
    assert second["config_hash"] != first["config_hash"] and second["params"]["lr"] == 2e-4
    assert second["base_checkpoint_sha256"] == load_model(compromised_dir).checkpoint_sha256
    assert second["checkpoint_sha256"] == load_model(out).checkpoint_sha256
    assert second["data_fingerprint"] == load_dataset(unlearn_data_dir).fingerprint
    for key in ("unlearn_seconds", "fwd_passes", "bwd_passes"):
        assert key in second["cost"]


DDP_SCRIPT = """
import hashlib, json, os, sys, torch
torch.set_num_threads(1)
from salmubench.unlearning.api import unlearn
from salmubench.unlearning.base import Runtime
model_dir, data_dir, out = sys.argv[1:4]
unlearn("delete_salmu", model_dir, data_dir, out, budget=1.0, seed=0, recipe=None,  # salmu-test: no recipe fits
        overrides={"forget_batch_size": 16, "retain_batch_size": 8})
from salmubench.models import load_model
import torch.distributed as dist
rank = dist.get_rank()
state = load_model(out).model.state_dict()
digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest()
with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
    json.dump({"rank": rank, "digest": digest}, fh)
"""


@pytest.mark.slow
def test_two_process_data_parallel_run(compromised_dir, unlearn_data_dir, tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(compromised_dir), str(unlearn_data_dir), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = {read_json(out / f"rank{r}.json")["digest"] for r in range(2)}
    assert len(digests) == 1  # every rank saw the same averaged gradients
    record = read_json(out / UNLEARN_FILE)
    assert record["world_size"] == 2
    single = unlearn("delete_salmu", compromised_dir, unlearn_data_dir, tmp_path / "single", budget=1.0, recipe=None,
                     overrides={"forget_batch_size": 16, "retain_batch_size": 8})
    solo = read_json(single / UNLEARN_FILE)
    # the two ranks together process exactly the rows of the single-process run
    assert record["cost"]["bwd_passes"] == solo["cost"]["bwd_passes"]
    assert record["steps"] == solo["steps"]
