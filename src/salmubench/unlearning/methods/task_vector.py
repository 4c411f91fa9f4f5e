"""Task-vector negation: fine-tune θ0 on the forget pairs, then step the other way.

    θ_f = θ0 after ``steps(budget)`` AdamW steps minimising L_clip(D_f)      (the "forget task")
    τ   = θ_f − θ0                                                        (task vector)
    θ_u = θ0 − λ · τ

The fine-tuning uses the shared runner (same optimiser, schedule, budget, seeded batches, cost
accounting) on the model itself; afterwards every trainable weight is set to θ0 − λ·(θ_f − θ0).
The logit scale is frozen by the runner, so its task-vector entry is 0 and it never changes.

* Data: D_f only.
* Source: Ilharco, Ribeiro, Wortsman, Gururangan, Schmidt, Hajishirzi, Farhadi, "Editing models with
  task arithmetic", ICLR 2023 (§3 "Forgetting via negation").
* Budget: the fine-tuning runs the runner's ``budget · ceil(|D_f| / forget_batch_size)`` steps.
* θ0 in sequential unlearning (docs/sequential.md): θ0 is the origin of the task vector. With the
  default ``theta0="previous"`` it is the current model (θ0 := the previous request's output, the
  formula above). With ``theta0="original"`` the forget task is learned from the Compromised model
  θ_C instead, τ = θ_f − θ_C with θ_f = θ_C fine-tuned on the request's pairs, and its negation is
  added to the current model: θ_u = θ_cur − λ·τ (task arithmetic: one negated vector per request).
* Defaults (``TaskVectorConfig``): λ and lr tuned with ``salmubench tune`` on a validation slice of
  forget identities (docs/tuning.md), as the paper tunes λ on held-out validation data; a method itself
  never sees it.
"""

from __future__ import annotations

import copy

import torch
from pydantic import Field

from salmubench.unlearning import Batch, GradientMethod, MethodConfig, UnlearningMethod, register_method
from salmubench.unlearning.gradients import named_trainable
from salmubench.unlearning.losses import clip_loss_of
from salmubench.unlearning.runner import run_unlearning


class TaskVectorConfig(MethodConfig):
    lr: float = Field(6e-5, gt=0)  # tuned on the validation slice, docs/tuning.md
    # tuned on the validation slice, docs/tuning.md
    scale: float = Field(8.0, gt=0)  # λ: how far to step against the forget task vector


class ForgetFinetune(GradientMethod):
    """Helper (not registered): minimise L_clip on forget pairs, to build the task vector."""

    name = "task_vector.finetune"
    config_cls = TaskVectorConfig
    streams = ("forget",)

    def loss(self, model, batch: Batch, step: int):
        return {"forget_finetune_loss": clip_loss_of(model, batch.forget)}


@register_method("task_vector")
class TaskVector(UnlearningMethod):
    """Task-vector negation: θ0 − λ·(θ_f − θ0), θ_f = θ0 fine-tuned on the forget pairs."""

    config_cls = TaskVectorConfig
    search_space = {"scale": [3.0, 5.0, 8.0, 12.0, 18.0], "lr": [3.6e-5, 6e-5, 1e-4, 1.7e-4]}  # salmubench tune (docs/tuning.md)
    streams = ("forget",)
    reference_role = "task-vector origin"

    def apply(self, model, data, budget):
        params = named_trainable(model)
        theta0 = self.theta0(model)
        if theta0 is not model:  # sequential, theta0="original": learn τ from θ0, subtract it from the model
            return self._negate_from(theta0, model, data, budget)
        origin = {n: p.detach().clone() for n, p in params.items()}
        run_unlearning(model, ForgetFinetune(self.cfg, self.runtime), data, budget)
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(origin[name] - self.cfg.scale * (p - origin[name]))
        return model

    def _negate_from(self, theta0, model, data, budget):
        """θ_u = model − λ·(θ_f − θ0), θ_f = a copy of θ0 fine-tuned on the forget pairs (passes counted)."""
        tuned = copy.deepcopy(theta0)
        tuned.requires_grad_(True)
        self.runtime.meter.watch(tuned)
        origin = {n: p.detach().clone() for n, p in named_trainable(tuned).items()}
        run_unlearning(tuned, ForgetFinetune(self.cfg, self.runtime), data, budget)
        moved = named_trainable(tuned)
        with torch.no_grad():
            for name, p in named_trainable(model).items():
                p.sub_(self.cfg.scale * (moved[name] - origin[name]))
        return model
