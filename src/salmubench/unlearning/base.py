"""The unlearning method interface: configs, budgets, batches, cost accounting, method classes.

A method is one file (docs/adding_a_method.md): a :class:`MethodConfig` subclass with commented
defaults and an :class:`UnlearningMethod` subclass registered with ``@register_method("name")``,
declaring its ``search_space`` for ``salmubench tune`` beside its config.

* Gradient methods subclass :class:`~salmubench.unlearning.runner.GradientMethod` and implement
  ``loss(model, batch, step)`` returning named terms; the keys ending in ``_loss`` are summed and
  minimised by the shared runner (``runner.py``, which defines ``GradientMethod`` beside the loop
  that trains it), which owns the optimiser, the schedule, the steps and the **budget**.
* Training-free methods subclass :class:`UnlearningMethod` and implement ``apply`` directly; the
  cost meter attached to the model counts their forward/backward passes in the same unit.

Cost unit (our choice): a *sample pass* is one input (an image or a caption) through one tower of
one model, forward or backward. A plain CLIP step on B pairs costs 2B forward and 2B backward sample
passes; a frozen teacher's forward on the same B pairs adds 2B forward passes.
"""

from __future__ import annotations

import copy
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from salmubench.config import StrictModel
from salmubench.data.torch_data import PairTensors
from salmubench.errors import SalmuError
from salmubench.progress import OnProgress
from salmubench.seeding import torch_generator_for
from salmubench.unlearning.data import UnlearnData

STREAMS = ("forget", "retain", "forget_generic")


class UnlearningError(SalmuError):
    """Unlearning could not complete (e.g. the loss became non-finite)."""


class MethodConfig(StrictModel):
    """Settings shared by every method; subclasses add their own fields with commented defaults."""

    lr: float = Field(1e-4, gt=0)  # AdamW peak learning rate (tiny CLIPs need ~1e-4; ViT-B/16 ~1e-6)
    weight_decay: float = Field(0.0, ge=0)  # AdamW decoupled weight decay
    forget_batch_size: int = Field(32, ge=1)  # forget pairs per step; also sets the budget unit
    retain_batch_size: int = Field(32, ge=1)  # retain pairs per step (methods that use retain)
    warmup_fraction: float = Field(0.1, ge=0, lt=1)  # linear warm-up share of the steps, then cosine
    min_lr_ratio: float = Field(0.0, ge=0, le=1)  # cosine floor as a fraction of lr
    max_grad_norm: float | None = Field(1.0, gt=0)  # global gradient-norm clip; None disables


@dataclass(frozen=True)
class Budget:
    """Compute budget in passes over the forget set: 1.0 = one pass at the forget batch size."""

    passes: float = 1.0

    def __post_init__(self) -> None:
        if not (self.passes > 0 and math.isfinite(self.passes)):
            raise UnlearningError(f"budget must be a positive number of forget-set passes, got {self.passes}")

    def steps(self, n_forget: int, forget_batch_size: int) -> int:
        """Optimiser steps: ``ceil(passes * ceil(n_forget / forget_batch_size))`` (at least 1)."""
        per_pass = max(1, math.ceil(n_forget / forget_batch_size))
        return max(1, math.ceil(self.passes * per_pass - 1e-9))


@dataclass
class Batch:
    """One step's data; a stream the method did not declare is None.

    ``forget_index`` / ``retain_index`` are row indices into ``UnlearnData.forget`` / ``.retain``
    (useful for per-row precomputed data such as re-paired captions).
    """

    forget: PairTensors | None = None
    retain: PairTensors | None = None
    forget_generic: PairTensors | None = None
    forget_index: torch.Tensor | None = None
    retain_index: torch.Tensor | None = None


def _batch_size(args: tuple) -> int:
    return int(args[0].shape[0]) if args and isinstance(args[0], torch.Tensor) and args[0].dim() else 0


@dataclass
class CostMeter:
    """Counts forward and backward sample passes through the towers of watched models.

    Forward hooks on each tower count the inputs it encodes; when that tower's output takes part in
    a backward pass, a tensor hook counts the same inputs as backward passes.
    """

    fwd_images: int = 0
    fwd_texts: int = 0
    bwd_images: int = 0
    bwd_texts: int = 0
    seconds: float = 0.0
    _handles: list[Any] = field(default_factory=list, repr=False)
    _start: float | None = field(default=None, repr=False)

    def _hook(self, kind: str):
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            n = _batch_size(args)
            setattr(self, f"fwd_{kind}", getattr(self, f"fwd_{kind}") + n)
            if isinstance(output, torch.Tensor) and output.requires_grad:
                output.register_hook(lambda grad: self._count_bwd(kind, n))

        hook._salmu_cost_hook = True  # type: ignore[attr-defined]
        return hook

    def _count_bwd(self, kind: str, n: int) -> None:
        setattr(self, f"bwd_{kind}", getattr(self, f"bwd_{kind}") + n)

    def watch(self, model: nn.Module) -> None:
        """Start counting passes through ``model``'s image and text towers."""
        for kind, tower in towers(model).items():
            self._handles.append(tower.register_forward_hook(self._hook(kind)))

    def start(self) -> None:
        self._start = time.perf_counter()

    def stop(self) -> None:
        """Stop the clock and remove every hook."""
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self._start = None
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @property
    def fwd_passes(self) -> int:
        return self.fwd_images + self.fwd_texts

    @property
    def bwd_passes(self) -> int:
        return self.bwd_images + self.bwd_texts

    def as_dict(self) -> dict[str, float | int]:
        return {"unlearn_seconds": round(self.seconds, 3), "fwd_passes": self.fwd_passes,
                "bwd_passes": self.bwd_passes, "fwd_images": self.fwd_images, "fwd_texts": self.fwd_texts,
                "bwd_images": self.bwd_images, "bwd_texts": self.bwd_texts}


def towers(model: nn.Module) -> dict[str, nn.Module]:
    """The modules whose forward marks one image / one caption entering a tower (open_clip CLIP)."""
    text = getattr(model, "text", None) or getattr(model, "token_embedding", None)
    if text is None or not hasattr(model, "visual"):
        raise UnlearningError(f"{type(model).__name__} is not an open_clip CLIP model (no visual/text tower)")
    return {"images": model.visual, "texts": text}


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with gradients off and no cost hooks (a teacher θ0)."""
    teacher = copy.deepcopy(model)
    for module in teacher.modules():
        for key, hook in list(module._forward_hooks.items()):
            if getattr(hook, "_salmu_cost_hook", False):
                del module._forward_hooks[key]
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher


@dataclass
class Runtime:
    """Execution settings the framework hands a method (not hyperparameters: not in the config)."""

    seed: int = 0
    on_progress: OnProgress | None = None  # called with a ProgressEvent per optimiser step (rank 0)
    meter: CostMeter = field(default_factory=CostMeter)
    rank: int = 0
    world_size: int = 1
    log: list[dict[str, float]] = field(default_factory=list)  # per-step loss terms (rank 0)
    # "fp32" or "bf16": the runner's forward passes (train_step) under execution.autocast; weights and
    # optimiser states stay fp32 (backward and steps run with autocast off)
    precision: str = "fp32"
    # θ0 of methods that use one (teacher, task-vector origin): None = the starting model (every one-shot
    # run); sequential unlearning with theta0="original" passes the frozen Compromised model here
    # (docs/sequential.md). Never modified by a method.
    reference: nn.Module | None = None


class UnlearningMethod(ABC):
    """Base of every method. Subclasses set ``config_cls``, ``streams`` and implement ``apply``.

    Class attributes:
        name: registry key, set by ``@register_method``.
        config_cls: the method's typed config.
        streams: which of ``forget``, ``retain``, ``forget_generic`` batches the method consumes.
        needs_teacher: if True, ``self.teacher`` is a frozen copy of θ0 (:meth:`theta0`: the starting
            model, unless the framework gives another reference in ``runtime.reference``).
        reference_role: what else the method uses θ0 for (e.g. task_vector: the origin of the forget
            task vector); it must read θ0 through :meth:`theta0`. None: only as teacher (if any).
        search_space: ``{config key: [values]}`` that ``salmubench tune`` searches (Cartesian
            product in key order; every key a field of ``config_cls``). Empty: runnable, not tunable.
        description: one line for ``salmubench ls methods`` (defaults to the docstring's first line).
    """

    name: ClassVar[str] = ""
    config_cls: ClassVar[type[MethodConfig]] = MethodConfig
    streams: ClassVar[tuple[str, ...]] = ("forget",)
    needs_teacher: ClassVar[bool] = False
    reference_role: ClassVar[str | None] = None
    search_space: ClassVar[dict[str, list[Any]]] = {}
    description: ClassVar[str] = ""

    def __init__(self, cfg: MethodConfig | None = None, runtime: Runtime | None = None) -> None:
        self.cfg = cfg if cfg is not None else self.config_cls()
        self.runtime = runtime or Runtime()
        self.teacher: nn.Module | None = None

    @classmethod
    def summary(cls) -> str:
        """One-line description (``description`` or the first line of the module/class docstring)."""
        if cls.description:
            return cls.description
        import sys

        doc = sys.modules[cls.__module__].__doc__ or cls.__doc__ or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    @classmethod
    def theta0_role(cls) -> str | None:
        """How the method uses θ0 (``"teacher"``, ``reference_role``, both, or None: not at all)."""
        roles = (["teacher"] if cls.needs_teacher else []) + ([cls.reference_role] if cls.reference_role else [])
        return " + ".join(roles) or None

    def theta0(self, model: nn.Module) -> nn.Module:
        """θ0 of this run: ``runtime.reference`` when the framework gives one, else the starting ``model``.

        One-shot runs always get the starting model (the Compromised model). In sequential unlearning
        (docs/sequential.md) the starting model is the previous request's output, and
        ``theta0="original"`` makes θ0 the Compromised model instead. Read-only: never modify it.
        """
        return self.runtime.reference if self.runtime.reference is not None else model

    def generator(self, *names: str | int) -> torch.Generator:
        """A torch generator for this method's random draws, derived from the run seed."""
        return torch_generator_for(self.runtime.seed, "method", self.name, *names)

    def setup(self, model: nn.Module, data: UnlearnData) -> None:
        """Called by the framework before ``apply``: builds the teacher (a frozen copy of θ0), then ``prepare``."""
        if self.needs_teacher:
            self.teacher = frozen_copy(self.theta0(model))
            self.runtime.meter.watch(self.teacher)
        self.prepare(model, data)

    def prepare(self, model: nn.Module, data: UnlearnData) -> None:  # noqa: B027 - optional hook
        """Optional: precompute what the method needs (masks, re-paired captions, ...)."""

    @abstractmethod
    def apply(self, model: nn.Module, data: UnlearnData, budget: Budget) -> nn.Module:
        """Unlearn in place (or return a new model); the result is what gets saved."""
