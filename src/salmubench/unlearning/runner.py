"""Gradient methods and the shared loop that trains them: optimiser, schedule, steps, budget, batches.

:class:`GradientMethod` (implement ``loss``) lives here, beside the loop it hands itself to, so the
method interface (``base.py``) never imports the loop and the loop never imports a method module.

* **Budget.** ``steps = ceil(budget · ceil(|D_f| / forget_batch_size))``: 1× is one pass over the
  forget set at the method's forget batch size, whatever streams the method uses (so FT, which only
  reads retain data, gets the same number of steps as NegGrad). Forget batches walk seeded shuffled
  epochs of D_f; retain batches are drawn alongside from their own seeded stream of epochs.
* **Optimiser.** AdamW (lr, weight_decay from the method config) over the parameters the method
  exposes, linear warm-up for ``warmup_fraction`` of the steps then cosine decay to
  ``min_lr_ratio·lr``; global gradient-norm clipping at ``max_grad_norm``.
* **Step context.** ``train_step`` receives a :class:`StepContext` with the step index and the run's
  ``total_steps`` (for schedules over the run, e.g. SCRUB's max-steps, ℓ1-sparse's decaying weight).
* **Logit scale frozen** (METHODS.md: contrastive fine-tuning at small batch is unstable).
* **Determinism.** All batch orders come from generators derived from the run seed
  (``salmubench.seeding``); the same seed gives the same model.
* **Distributed.** Under ``torchrun`` (``torch.distributed`` initialised) every rank draws the same
  global forget/retain batch; inside each step (``unlearning.distributed.sharded``) ``losses.encode``
  embeds this rank's share of its rows and all-gathers the embeddings with gradient, so every loss
  (in-batch negatives included) is the global batch's, as one process computes it. The gradients are
  averaged in one flat all-reduce (:func:`all_reduce_grads`) before the ``on_after_backward`` hook,
  clipping and stepping: the update is the single-process one (the derivation:
  ``unlearning.distributed``). Our choice: an explicit all-reduce instead of the
  ``DistributedDataParallel`` wrapper, because methods call ``encode_image``/``encode_text`` (and
  teachers) directly, which DDP's forward hooks do not see; the update is the same.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from salmubench.data.torch_data import iter_batches
from salmubench.execution import autocast, no_autocast
from salmubench.progress import Task
from salmubench.seeding import derive_seed, torch_generator_for
from salmubench.unlearning.base import Batch, Budget, UnlearningError, UnlearningMethod
from salmubench.unlearning.data import UnlearnData
from salmubench.unlearning.distributed import all_reduce_mean, sharded
from salmubench.unlearning.gradients import FROZEN_PARAMETERS


class GradientMethod(UnlearningMethod):
    """A method trained by the shared runner: implement ``loss``; override ``train_step`` rarely."""

    # True when every image of a batch reaches the model through ``losses.encode`` (which embeds only this
    # rank's rows under torchrun): the sampler then hands out lazy batches, so a rank decodes only its rows.
    # A method that reads ``batch.forget.images`` itself (DELETE) sets False and gets dense batches.
    encodes_through_losses: bool = True

    def loss(self, model: nn.Module, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Named terms for this step; keys ending in ``_loss`` are summed and minimised."""
        raise NotImplementedError(f"{type(self).__name__} must implement loss() or train_step()")

    def train_step(self, model: nn.Module, batch: Batch, step: int, ctx: StepContext) -> dict[str, torch.Tensor]:
        """One optimiser step. Alternating schemes (SCRUB) call ``ctx.backward_and_step`` twice."""
        terms = self.loss(model, batch, step)
        ctx.backward_and_step(terms)
        return terms

    def trainable_parameters(self, model: nn.Module) -> Iterable[nn.Parameter]:
        """Parameters given to the optimiser (the runner freezes the logit scale before asking)."""
        return [p for p in model.parameters() if p.requires_grad]

    def on_after_backward(self, model: nn.Module) -> None:  # noqa: B027 - optional hook
        """Optional: edit gradients after backward and all-reduce, before clipping (e.g. masks)."""

    def apply(self, model: nn.Module, data: UnlearnData, budget: Budget) -> nn.Module:
        return run_unlearning(model, self, data, budget)


def lr_factor(step: int, total: int, warmup_fraction: float, min_ratio: float) -> float:
    """Multiplier of the peak lr at ``step``: linear warm-up, then cosine to ``min_ratio``."""
    warm = int(round(warmup_fraction * total))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def index_stream(n: int, batch_size: int, generator: torch.Generator, drop_last: bool) -> Iterator[torch.Tensor]:
    """Endless index batches over seeded shuffled epochs of ``range(n)``."""
    drop = drop_last and n >= batch_size
    while True:
        yield from iter_batches(n, batch_size, generator=generator, shuffle=True, drop_last=drop)


def rank_slice(index: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's share of a batch (every rank gets at least one row); the runner's batches are global,
    split at encoding instead (``unlearning.distributed``)."""
    if world_size == 1:
        return index
    if len(index) < world_size:
        index = index[torch.arange(world_size) % len(index)]
    return torch.tensor_split(index, world_size)[rank]


class BatchSampler:
    """Yields the :class:`Batch` of each step for the streams a method declared."""

    def __init__(self, method: GradientMethod, data: UnlearnData, device: torch.device) -> None:
        cfg, rt = method.cfg, method.runtime
        self.method, self.data, self.device = method, data, device
        # under torchrun with lazy images: batches stay lazy, and losses.encode decodes this rank's rows only
        self.rank_rows_only = rt.world_size > 1 and method.encodes_through_losses
        self.forget = index_stream(len(data.forget), cfg.forget_batch_size,
                                   torch_generator_for(rt.seed, "unlearn", "forget"), drop_last=False)
        self.retain = None
        if "retain" in method.streams:
            if len(data.retain) == 0:
                raise UnlearningError(f"method {method.name!r} needs retain data but the retain set is empty")
            self.retain = index_stream(len(data.retain), cfg.retain_batch_size,
                                       torch_generator_for(rt.seed, "unlearn", "retain"), drop_last=True)

    def next(self) -> Batch:
        """The global batch of the step, the same on every rank (``losses.encode`` splits its rows)."""
        streams = self.method.streams
        f_idx = next(self.forget)
        batch = Batch(forget_index=f_idx)
        if "forget" in streams:
            batch.forget = self._rows(self.data.forget, f_idx)
        if "forget_generic" in streams:
            batch.forget_generic = self._rows(self.data.forget_generic, f_idx)
        if self.retain is not None:
            r_idx = next(self.retain)
            batch.retain_index = r_idx
            batch.retain = self._rows(self.data.retain, r_idx)
        return batch

    def _rows(self, pairs, index: torch.Tensor):
        """The batch's rows of ``pairs`` on the device: dense (``subset``), or, for a rank of a torchrun
        run whose images are lazy, a lazy view whose rows are decoded when ``losses.encode`` embeds this
        rank's share (``take``: dense images stay dense, so the two give the same tensors)."""
        rows = pairs.take(index) if self.rank_rows_only else pairs.subset(index)
        return rows.to(self.device)


@dataclass
class StepContext:
    """What a ``train_step`` uses to turn loss terms into an optimiser update.

    ``step`` is the current step (0-based) and ``total_steps`` the number of steps of the whole run
    (the budget's), so a method with a schedule over the run reads it here.
    """

    model: nn.Module
    method: GradientMethod
    optimizer: torch.optim.Optimizer
    params: list[nn.Parameter]
    total_steps: int
    step: int = 0

    def backward(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """Zero grads, backpropagate the sum of the ``*_loss`` terms, average grads across ranks."""
        with self._full_precision():
            total = total_loss(terms, self.method.name, self.step)
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            all_reduce_grads(self.params, self.method.runtime.world_size)
            self.method.on_after_backward(self.model)
        return total

    def optimizer_step(self) -> None:
        """Clip the global gradient norm (if configured) and apply one AdamW step."""
        with self._full_precision():
            if self.method.cfg.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(self.params, self.method.cfg.max_grad_norm)
            self.optimizer.step()

    def _full_precision(self):
        """Autocast off (backward, clipping, the fp32 optimiser step) inside a bf16 ``train_step``."""
        return no_autocast(self.method.runtime.precision, next(self.model.parameters()).device)

    def backward_and_step(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        total = self.backward(terms)
        self.optimizer_step()
        return total


def total_loss(terms: dict[str, torch.Tensor], method: str, step: int) -> torch.Tensor:
    """Sum of the terms whose key ends in ``_loss``; UnlearningError if none or not finite."""
    parts = [v for k, v in terms.items() if k.endswith("_loss")]
    if not parts:
        raise UnlearningError(f"method {method!r} returned no '*_loss' term (got {', '.join(terms)})")
    total = torch.stack([p.reshape(()) for p in parts]).sum()
    if not torch.isfinite(total):
        bad = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in terms.items())
        raise UnlearningError(f"method {method!r}: loss is not finite at step {step} ({bad}); try a lower lr")
    return total


def all_reduce_grads(params: list[nn.Parameter], world_size: int) -> None:
    """Average gradients over ranks in one flat all-reduce (no-op in a single process)."""
    if world_size == 1:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    all_reduce_mean([p.grad for p in params], world_size)


def make_adamw(params: list[nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, fused when torch supports it for these tensors (same maths, ~6x faster step on CPU)."""
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _freeze_logit_scale(model: nn.Module) -> dict[str, bool]:
    before = {}
    for name in FROZEN_PARAMETERS:
        param = getattr(model, name, None)
        if isinstance(param, nn.Parameter):
            before[name] = param.requires_grad
            param.requires_grad_(False)
    return before


def run_unlearning(model: nn.Module, method: GradientMethod, data: UnlearnData, budget: Budget) -> nn.Module:
    """Train ``model`` in place with ``method`` for ``budget`` forget-set passes; returns it."""
    cfg, rt = method.cfg, method.runtime
    steps = budget.steps(len(data.forget), cfg.forget_batch_size)
    if len(data.forget) == 0:
        raise UnlearningError("the forget set is empty")
    torch.manual_seed(derive_seed(rt.seed, "unlearn", "torch", method.name))
    frozen = _freeze_logit_scale(model)
    params = [p for p in method.trainable_parameters(model) if p.requires_grad]
    if not params:
        raise UnlearningError(f"method {method.name!r} exposes no trainable parameters")
    optimizer = make_adamw(params, cfg.lr, cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, steps, cfg.warmup_fraction, cfg.min_lr_ratio))
    sampler = BatchSampler(method, data, next(model.parameters()).device)
    ctx = StepContext(model, method, optimizer, params, total_steps=steps)
    model.train()
    task = Task(rt.on_progress if rt.rank == 0 else None, f"unlearn {method.name}", steps).start()
    try:
        for step in range(steps):
            ctx.step = step
            batch = sampler.next()
            with autocast(rt.precision, sampler.device), sharded(rt.rank, rt.world_size):  # fp32, 1 rank: no-ops
                terms = method.train_step(model, batch, step, ctx)
            schedule.step()
            record = {k: float(v.detach()) for k, v in terms.items()}
            rt.log.append({"step": step, **record})
            task.advance(status=_fmt(record))
    finally:
        model.eval()
        for name, flag in frozen.items():
            getattr(model, name).requires_grad_(flag)
    return model


def _fmt(record: dict[str, float]) -> str:
    return " ".join(f"{k.removesuffix('_loss')}={v:.3f}" for k, v in record.items() if k.endswith("_loss"))
