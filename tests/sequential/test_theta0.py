"""θ0 given by the framework (``Runtime.reference``): the teacher is a frozen copy of it, and task-vector
negation learns its forget vector from it and subtracts that from the current model."""

from __future__ import annotations

import copy

import pytest
import torch

from salmubench.models import create_model
from salmubench.unlearning.base import Budget, Runtime, frozen_copy
from salmubench.unlearning.data import build_unlearn_data, request_data
from salmubench.unlearning.execute import run_method
from salmubench.unlearning.gradients import named_trainable
from salmubench.unlearning.methods.npo import NPO
from salmubench.unlearning.methods.task_vector import ForgetFinetune, TaskVector, TaskVectorConfig
from salmubench.unlearning.runner import run_unlearning


@pytest.fixture(scope="module")
def pieces(tiny_dataset):
    bundle = create_model("salmu-test", seed=0)
    data = request_data(build_unlearn_data(tiny_dataset, bundle.preprocess, bundle.tokenizer), range(0, 40, 2))
    reference = frozen_copy(bundle.model)
    current = copy.deepcopy(bundle.model)
    with torch.no_grad():
        for p in named_trainable(current).values():
            p.add_(0.02 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return data, reference, current


def test_task_vector_from_the_original_is_subtracted_from_the_current_model(pieces):
    data, reference, current = pieces
    cfg = TaskVectorConfig(scale=2.0)
    model = copy.deepcopy(current)
    ref_before = {k: v.clone() for k, v in reference.state_dict().items()}
    out, meter = run_method(TaskVector(cfg, Runtime(seed=4, reference=reference)), model, data, Budget(1.0))
    tuned = copy.deepcopy(reference).requires_grad_(True)
    run_unlearning(tuned, ForgetFinetune(cfg, Runtime(seed=4)), data, Budget(1.0))
    moved, origin, start = named_trainable(tuned), named_trainable(reference), named_trainable(current)
    for name, p in named_trainable(out).items():
        torch.testing.assert_close(p, start[name] - 2.0 * (moved[name] - origin[name]), rtol=0, atol=1e-6)
    assert all(torch.equal(v, ref_before[k]) for k, v in reference.state_dict().items())  # θ0 untouched
    assert meter.bwd_passes > 0  # the fine-tune of the copy is counted


def test_without_a_reference_theta0_is_the_starting_model(pieces):
    data, reference, current = pieces
    method = NPO(runtime=Runtime(seed=0))
    assert method.theta0(current) is current
    method.setup(current, data)
    assert all(torch.equal(a, b) for a, b in zip(method.teacher.state_dict().values(), current.state_dict().values(), strict=True))
    given = NPO(runtime=Runtime(seed=0, reference=reference))
    given.setup(current, data)
    assert all(torch.equal(a, b) for a, b in zip(given.teacher.state_dict().values(), reference.state_dict().values(), strict=True))
    assert NPO.theta0_role() == "teacher" and TaskVector.theta0_role() == "task-vector origin"
