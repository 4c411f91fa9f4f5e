"""Distributed data parallel set-up: ``torchrun --nproc_per_node=N`` runs the same command on N ranks.

Backend: ``nccl`` when training on CUDA, ``gloo`` on CPU. Each rank computes the embeddings of its
chunk of the global batch; :func:`gather_with_grad` concatenates every rank's embeddings with a
differentiable all-gather (as open_clip's ``gather_features(gather_with_grad=True)``), so each rank
evaluates the identity-masked loss on the *full* global batch, which equals the single-process loss.
Gradients: the all-gather's backward sums the W identical per-rank losses' gradients into each
rank's own rows (W x dL/dz), and DDP averages parameters' gradients over the W ranks (/W): the
result is dL/dtheta of the single-process run.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: rank, world size, local rank (all 0/1/0 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when the torchrun environment variables are set for more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_distributed(device: str) -> DistEnv:
    """Join the process group if launched by torchrun (idempotent); single-process env otherwise."""
    if not launched_by_torchrun():
        return DistEnv()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    env = DistEnv(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return env


def rank_device(device: str, env: DistEnv) -> torch.device:
    """The device of this rank: ``cuda:{local_rank}`` for CUDA under torchrun, else ``device``."""
    if device.startswith("cuda") and env.distributed:
        return torch.device("cuda", env.local_rank)
    return torch.device(device)


def gather_with_grad(x: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """All ranks' ``x`` concatenated along dim 0 in rank order, differentiable w.r.t. the local rows."""
    if not env.distributed:
        return x
    with warnings.catch_warnings():  # deprecated in favour of a private API; still the public one (open_clip too)
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(torch.distributed.nn.all_gather(x), dim=0)


def barrier(env: DistEnv) -> None:
    """Wait for every rank (no-op single-process)."""
    if env.distributed:
        dist.barrier()



def shutdown_distributed() -> None:
    """Leave the process group if one was joined (end of a torchrun command)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
