"""Distributed data parallel maths of reference training (the process group itself: ``salmubench.runtime``).

``torchrun --nproc_per_node=N`` runs the same command on N ranks. Each rank computes the embeddings of
its chunk of the global batch; :func:`gather_with_grad` concatenates every rank's embeddings with a
differentiable all-gather (as open_clip's ``gather_features(gather_with_grad=True)``), so each rank
evaluates the identity-masked loss on the *full* global batch, which equals the single-process loss.
Gradients: the all-gather's backward sums the W identical per-rank losses' gradients into each
rank's own rows (W x dL/dz), and DDP averages parameters' gradients over the W ranks (/W): the
result is dL/dtheta of the single-process run.
"""

from __future__ import annotations

import warnings

import torch

from salmubench.runtime import DistEnv


def gather_with_grad(x: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """All ranks' ``x`` concatenated along dim 0 in rank order, differentiable w.r.t. the local rows."""
    if not env.distributed:
        return x
    import torch.distributed.nn

    with warnings.catch_warnings():  # deprecated in favour of a private API; still the public one (open_clip too)
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(torch.distributed.nn.all_gather(x), dim=0)
