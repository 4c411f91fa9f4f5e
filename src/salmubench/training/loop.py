"""The contrastive training loop of the reference models (flat, nanoGPT-style).

One step: embed the rank's chunk of the global batch, all-gather the embeddings (DDP), identity-
masked CLIP loss on the whole global batch (losses.clip_loss_masked), AdamW step with the learning
rate of that step (linear warm-up, then cosine), clamp the logit scale to [0, ln 100] as open_clip.
Checkpoints every ``checkpoint_every`` steps and on Ctrl-C; ``resume`` continues bit-for-bit.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from salmubench.runtime import DistEnv, barrier
from salmubench.training.checkpointing import TrainState, list_checkpoints, load_checkpoint, save_checkpoint
from salmubench.training.config import TrainConfig
from salmubench.training.corpus import Corpus, batch_positions
from salmubench.training.distributed import gather_with_grad
from salmubench.training.losses import clip_loss_masked, false_negative_mask


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Learning rate of ``step`` (0-based): linear warm-up to ``lr``, then cosine to ``lr*min_lr_frac``.

        warm = round(warmup_frac * total);  lr_s = lr * (s+1)/warm  for s < warm
        lr_s = lr_min + (lr - lr_min) * (1 + cos(pi * (s - warm) / (total - warm))) / 2   otherwise
    """
    warm = round(cfg.warmup_frac * total)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    lr_min = cfg.lr * cfg.min_lr_frac
    progress = (step - warm) / max(1, total - warm)
    return lr_min + (cfg.lr - lr_min) * 0.5 * (1 + math.cos(math.pi * progress))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups as open_clip_train: no decay on gains, biases, 1-d params and the logit scale."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exclude = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """Fused AdamW over :func:`param_groups` (lr is set per step by the loop).

    Fused (one kernel over all tensors) is ~3x faster than the per-tensor default on CPU, where the
    49k-token embedding dominates the update of a tiny CLIP; it computes the same update.
    """
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                             eps=cfg.eps, fused=True)


@dataclass
class Batch:
    """This rank's rows of one global batch, plus the global batch's identity codes."""

    images: torch.Tensor
    tokens: torch.Tensor
    codes: torch.Tensor  # [global batch] identity codes, rank order
    valid: torch.Tensor | None = None  # [global batch] False at blanks (kept only under DDP; see below)

    @property
    def pairs(self) -> int:
        """Pairs of the global batch that count in the loss."""
        return int(self.codes.shape[0] if self.valid is None else self.valid.sum())


def _rank_rows(rows: torch.Tensor, env: DistEnv) -> torch.Tensor:
    per_rank = rows.shape[0] // env.world_size
    return rows[env.rank * per_rank:(env.rank + 1) * per_rank]


def _global_rows(rows: torch.Tensor, env: DistEnv) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Stored rows of a global batch, and its validity mask when it has blanks (index -1).

    One process drops the blanks (a smaller batch, nothing computed for them). Under DDP every rank
    needs the same shape for the all-gather, so a blank stands in as stored row 0 and is dropped
    from the loss after the gather (:func:`train_step`); LayerNorm is per sample, so it influences
    nothing.
    """
    valid = rows >= 0
    if bool(valid.all()):
        return rows, None
    if env.world_size == 1:
        return rows[valid], None
    return rows.clamp(min=0), valid


def iter_batches(corpus: Corpus, cfg: TrainConfig, seed: int, start: int, stop: int, env: DistEnv,
                 device: torch.device) -> Iterator[Batch]:
    """The batches of steps ``start .. stop-1`` for this rank (in memory or streamed)."""
    positions = batch_positions(seed, len(corpus), cfg.batch_size, start, stop)
    global_rows = (_global_rows(corpus.index[p], env) for p in positions)

    def batch(rows: torch.Tensor, valid: torch.Tensor | None, images: torch.Tensor | None = None) -> Batch:
        mine = _rank_rows(rows, env)
        images = corpus.images[mine] if images is None else images
        return Batch(images.to(device, non_blocking=True), corpus.tokens[mine].to(device), corpus.codes[rows].to(device),
                     None if valid is None else valid.to(device))

    if corpus.images is not None:
        for rows, valid in global_rows:
            yield batch(rows, valid)
        return
    all_rows = list(global_rows)  # small: step count x batch of ints
    loader = torch.utils.data.DataLoader(corpus.streamed, batch_sampler=[_rank_rows(r, env).tolist() for r, _ in all_rows],
                                         num_workers=cfg.workers, pin_memory=device.type == "cuda")
    for (rows, valid), images in zip(all_rows, loader, strict=True):
        yield batch(rows, valid, images)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch, lr: float,
               cfg: TrainConfig, env: DistEnv) -> torch.Tensor:
    """One optimizer step on one global batch; returns the (detached) loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    autocast = (torch.autocast(batch.images.device.type, dtype=torch.bfloat16) if cfg.precision == "bf16"
                else contextlib.nullcontext())
    with autocast:
        image_emb, text_emb, scale = model(batch.images, batch.tokens)[:3]
        image_emb, text_emb = gather_with_grad(image_emb, env), gather_with_grad(text_emb, env)
        codes = batch.codes
        if batch.valid is not None:  # DDP with blanks: the loss of the batch without them
            image_emb, text_emb, codes = image_emb[batch.valid], text_emb[batch.valid], codes[batch.valid]
        mask = false_negative_mask(codes) if cfg.identity_mask else None
        loss = clip_loss_masked(image_emb.float(), text_emb.float(), scale.float(), mask)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    with torch.no_grad():
        _unwrap(model).logit_scale.clamp_(0, math.log(100))
    return loss.detach()


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


@dataclass
class LoopResult:
    """What a finished (or interrupted) call of :func:`train_loop` did."""

    state: TrainState
    total_steps: int
    seconds: float  # wall time of the steps run by this process
    samples: int  # pairs trained on by this process (global batch pairs, blanks excluded)


def resume_state(out_dir: Path, model, optimizer, config_hash: str) -> TrainState:
    """The newest checkpoint's state restored into model/optimizer, or a fresh state."""
    ckpts = list_checkpoints(out_dir)
    return load_checkpoint(ckpts[-1], _unwrap(model), optimizer, config_hash) if ckpts else TrainState()


def train_loop(model: torch.nn.Module, optimizer: torch.optim.Optimizer, corpus: Corpus, cfg: TrainConfig,
               total: int, seed: int, out_dir: Path, config_hash: str, state: TrainState, env: DistEnv,
               device: torch.device, reporter=None, stop_after: int | None = None) -> LoopResult:
    """Run steps ``state.step .. total-1``; checkpoint periodically, on Ctrl-C and at ``stop_after``.

    Args:
        reporter: called as ``reporter(step, loss, samples_per_second)`` every few steps (progress bar).
        stop_after: stop (with a checkpoint) once this many steps are done: simulates a crash in tests.
    """
    model.train()
    stop = min(total, stop_after) if stop_after is not None else total
    start, t0, samples = state.step, time.perf_counter(), 0
    log_every = max(1, min(50, total // 100))
    try:
        for batch in iter_batches(corpus, cfg, seed, state.step, stop, env, device):
            loss = train_step(model, optimizer, batch, lr_at(state.step, total, cfg), cfg, env)
            state.step += 1
            samples += batch.pairs
            if state.step % log_every == 0 or state.step == stop:
                value = float(loss)
                state.losses.append([state.step, round(value, 5)])
                if reporter:
                    reporter(state.step, value, samples / (time.perf_counter() - t0))
            if state.step % cfg.checkpoint_every == 0 and state.step < total:
                _checkpoint(out_dir, model, optimizer, state, config_hash, cfg, env, t0)
    except KeyboardInterrupt:
        if state.step > start:
            _checkpoint(out_dir, model, optimizer, state, config_hash, cfg, env, t0)
        raise
    seconds = time.perf_counter() - t0
    if stop < total and state.step > start:
        _checkpoint(out_dir, model, optimizer, state, config_hash, cfg, env, t0)
    return LoopResult(state, total, seconds, samples)


def _checkpoint(out_dir, model, optimizer, state: TrainState, config_hash, cfg, env: DistEnv, t0: float) -> None:
    if env.is_main:
        snapshot = TrainState(state.step, state.losses, state.seconds + time.perf_counter() - t0)
        save_checkpoint(out_dir, _unwrap(model), optimizer, snapshot, config_hash, cfg.keep_checkpoints)
    barrier(env)
