"""The package root's ``unlearn``: one call for one-shot and sequential unlearning.

``salmubench.unlearn(method, model, data, out)`` runs the method once
(:func:`salmubench.unlearning.api.unlearn`); with ``requests=K`` it runs K deletion requests
(:func:`salmubench.sequential.api.unlearn_sequential`). This module sits above both floors so that
``unlearning/`` never imports ``sequential/`` (docs/architecture.md); code that knows which mode it
wants (the CLI, the pipeline) calls that entry directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from salmubench.execution import ExecContext
from salmubench.progress import OnProgress
from salmubench.recipes import DEFAULT


def unlearn(method: str, model_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
            budget: float = 1.0, overrides: dict[str, Any] | None = None, seed: int = 0,
            on_progress: OnProgress | None = None, device: str | None = None, threads: int | None = None,
            recipe: str | None = DEFAULT, requests: int | None = None, request_unit: str = "identity",
            request_seed: int = 0, theta0: str = "previous", clean: str | os.PathLike | None = None,
            evaluate_steps: bool = True, context: ExecContext | None = None, arch: str | None = None,
            imagenet: str | os.PathLike | None = None) -> Path:
    """Unlearn ``data_dir``'s forget set from ``model_dir`` with ``method``; returns the output folder.

    ``requests=None`` (default): one run over the whole forget set (the one-shot entry's arguments).
    ``requests=K``: K deletion requests (docs/sequential.md); ``request_unit``, ``request_seed``,
    ``theta0``, ``clean``, ``evaluate_steps`` and ``imagenet`` (GenKnow of the per-request evaluations)
    are the sequential entry's and are ignored otherwise. ``arch``: the open_clip architecture of a bare
    checkpoint ``model_dir`` (both entries). The run identity (config hash) is the one of the entry called.
    """
    if requests is None:
        from salmubench.unlearning.api import unlearn as unlearn_once

        return unlearn_once(method, model_dir, data_dir, out_dir, budget=budget, overrides=overrides, seed=seed,
                            recipe=recipe, context=context, on_progress=on_progress, device=device, threads=threads,
                            arch=arch)
    from salmubench.sequential.api import unlearn_sequential

    return unlearn_sequential(method, model_dir, data_dir, out_dir, requests, budget=budget, overrides=overrides,
                              seed=seed, recipe=recipe, request_unit=request_unit, request_seed=request_seed,
                              theta0=theta0, clean=clean, evaluate_steps=evaluate_steps, context=context,
                              on_progress=on_progress, device=device, threads=threads, arch=arch, imagenet=imagenet)
