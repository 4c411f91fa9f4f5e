"""Data-parallel unlearning that gives the single-process answer (torchrun; the process group: ``salmubench.runtime``).

**One global batch, split.** Under ``torchrun`` every rank draws the same global batch (the batch streams are
seeded by the run seed, not the rank). Inside the shared runner's steps (:func:`sharded`),
``salmubench.unlearning.losses.encode`` embeds only this rank's share of the rows (:func:`split_apply`) and
concatenates every rank's embeddings with a differentiable all-gather, so each rank evaluates every loss term on
the *global* batch's embeddings: the same value L as one process, in-batch negatives over the whole batch.

**Gradient equation.** Let z = [z_0; …; z_{W-1}] be the global batch's embeddings, z_r the rows rank r embeds
(with autograd, on rank r only). Every rank evaluates the same L(z). The all-gather's backward sums over the
ranks the gradients w.r.t. each rank's rows (a reduce-scatter), so rank r's backward gives

    g_r = Σ_{r'} (∂L^{(r')}/∂z_r)(∂z_r/∂θ) = W · (∂L/∂z_r)(∂z_r/∂θ),

and the runner's flat all-reduce averages (:func:`all_reduce_mean`):

    (1/W) Σ_r g_r = Σ_r (∂L/∂z_r)(∂z_r/∂θ) = ∂L/∂θ,

the single-process gradient of the global batch (up to float summation order). A term computed without
``encode`` (a direct ``model.encode_image`` on the batch, a penalty on the weights) is computed whole on every
rank: each rank's gradient is then the full ∂L/∂θ and the average is ∂L/∂θ again (correct, only not split).

**Rows.** Rank r embeds rows [r·m, min((r+1)·m, B)) with m = ⌈B/W⌉; its output is padded with zero rows to m
rows, so every rank gathers the same shape, and the padding is dropped after the gather. Padding is never
encoded (the recorded passes are the single-process ones), except on a rank left without rows (B < W), which
encodes row B−1 as its padding (dropped too: zero gradient). With one process nothing here runs:
:func:`sharded` is a no-op and ``encode`` calls the towers on the whole batch, as before.

**Statistics outside the loop** (``unlearning.gradients.accumulate_grads``: SalUn's saliency, the SSD and
SalUn-SSD Fishers, SLUG's gradients, label correction): each rank takes every W-th batch
(:func:`process_group`) and the sums are all-reduced, so every rank holds the single-process statistic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch

from salmubench.runtime import DistEnv
from salmubench.training.distributed import gather_with_grad

_ACTIVE: list[DistEnv] = []  # the data-parallel split in force (innermost last); empty: whole batches


@contextlib.contextmanager
def sharded(rank: int, world_size: int) -> Iterator[None]:
    """Within the block, ``losses.encode`` splits batches over the ``world_size`` ranks (no-op for one)."""
    if world_size <= 1:
        yield
        return
    _ACTIVE.append(DistEnv(rank, world_size))
    try:
        yield
    finally:
        _ACTIVE.pop()


def active() -> DistEnv | None:
    """The split in force (:func:`sharded`), None outside it or in one process."""
    return _ACTIVE[-1] if _ACTIVE else None


def local_rows(n: int, env: DistEnv) -> range:
    """Rows rank ``env.rank`` embeds out of ``n``: [r·m, min((r+1)·m, n)), m = ⌈n/W⌉ (empty for a rank past n)."""
    m = -(-n // env.world_size)
    return range(min(env.rank * m, n), min((env.rank + 1) * m, n))


def split_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """``fn(x)`` of the whole batch, computed as ``fn`` of this rank's rows, all-gathered (differentiable)."""
    n = x.shape[0]
    m = -(-n // env.world_size)
    rows = local_rows(n, env)
    # a rank without rows still runs fn (on row n-1, sliced away) so its output joins the graph: the all-gather's
    # backward is a collective every rank must enter
    out = fn(x[rows.start:rows.stop]) if len(rows) else fn(x[n - 1:n])[:0]
    if len(out) < m:
        out = torch.cat([out, out.new_zeros((m - len(out), *out.shape[1:]))])
    return gather_with_grad(out, env)[:n]


def process_group() -> DistEnv:
    """Rank and world size of the joined process group (0 / 1 without one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return DistEnv(dist.get_rank(), dist.get_world_size())
    return DistEnv()


def all_reduce_mean(tensors: list[torch.Tensor], world_size: int, mean: bool = True) -> None:
    """Sum (``mean``: average) ``tensors`` in place over ranks with one flat all-reduce per dtype and device."""
    if world_size == 1 or not tensors:
        return
    import torch.distributed as dist

    groups: dict[tuple, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for group in groups.values():
        flat = torch.cat([t.reshape(-1) for t in group])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        if mean:
            flat.div_(world_size)
        for t, piece in zip(group, flat.split([t.numel() for t in group]), strict=True):
            t.copy_(piece.view_as(t))
