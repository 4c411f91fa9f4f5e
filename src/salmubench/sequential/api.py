"""``unlearn_sequential(...)``: K deletion requests, one method run per request (docs/sequential.md).

The public entry of sequential unlearning (``salmubench.unlearn(..., requests=K)`` at the package
root calls it). It shares its front half with the one-shot ``salmubench.unlearning.api.unlearn``
(``unlearning.job.prepare_job``: method, recipe, config, output folder, run identity) and hands the
loop to :class:`salmubench.sequential.runner.SequentialRun`.

Output folder: ``OUT/steps/step-NNN/`` (each request's model, ``step.json`` written last),
``OUT/references.json`` (the references' values on every row view, cached), ``OUT/sequential.json``
(the summary) and the final model as an open_clip local-dir with ``unlearn.json`` written last.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from salmubench.errors import ConfigError
from salmubench.execution import ExecContext, exec_context
from salmubench.progress import OnProgress
from salmubench.recipes import DEFAULT
from salmubench.sequential.runner import SequentialRun, SequentialSettings
from salmubench.unlearning.job import prepare_job


def unlearn_sequential(method: str, model_dir: str | os.PathLike, data_dir: str | os.PathLike,
                       out_dir: str | os.PathLike, requests: int, budget: float = 1.0,
                       overrides: dict[str, Any] | None = None, seed: int = 0, recipe: str | None = DEFAULT,
                       request_unit: str = "identity", request_seed: int = 0, theta0: str = "previous",
                       clean: str | os.PathLike | None = None, evaluate_steps: bool = True,
                       context: ExecContext | None = None, *, on_progress: OnProgress | None = None,
                       device: str | None = None, threads: int | None = None, arch: str | None = None,
                       imagenet: str | os.PathLike | None = None) -> Path:
    """Unlearn ``data_dir``'s forget set from ``model_dir`` as ``requests`` deletion requests.

    The forget set is split into K requests; the method runs K times, each run starting from the
    previous output and seeing only its request's forget rows; ``budget`` applies per request. Each
    step is saved, evaluated and resumable.

    Args:
        method / model_dir / data_dir / out_dir / budget / overrides / seed / recipe: as for the
            one-shot ``salmubench.unlearning.api.unlearn``.
        requests: K, the number of deletion requests (>= 1; K = 1 is the one-shot run).
        request_unit: ``"identity"`` (a request = all of a person's forget rows) or ``"association"``
            (one identity and attribute type).
        request_seed: seed of the request split.
        theta0: θ0 of methods that use one (teacher, task-vector origin): ``"previous"`` (the model
            being unlearned, i.e. the previous request's output) or ``"original"`` (the Compromised
            model at every step). Recorded.
        clean: the Clean model, the target of the efficacy metrics after each request (without it
            those targets are left empty).
        evaluate_steps: evaluate after each request (default True).
        context: execution settings (:class:`salmubench.execution.ExecContext`); one process only
            (torchrun is refused in one line).
        on_progress / device / threads: shorthands for the same fields of ``context`` (not both).
        arch: open_clip architecture of a bare checkpoint ``model_dir`` / ``clean`` (a ``.bin`` / ``.pt``
            state dict); ignored for model folders.
        imagenet: the ImageNet-1K val set (an ImageFolder or parquet shards, ``evaluation.imagenet``) for
            GenKnow after each request and of the references; without it GenKnow comes from the data's
            zeroshot split, as in ``evaluate``. Part of the run identity when given.

    Returns:
        The output folder.
    """
    job = prepare_job(method, out_dir, budget, overrides, seed, recipe,
                      inputs={"model_dir": model_dir, "clean": clean}, model=model_dir, arch=arch)
    ctx = exec_context(context, device=device, threads=threads, on_progress=on_progress).resolved()
    if ctx.precision != "fp32":
        raise ConfigError(f"precision {ctx.precision} is not supported by sequential unlearning (fp32 only)")
    settings = SequentialSettings(requests=requests, unit=request_unit, seed=request_seed, theta0=theta0,
                                  clean=clean, evaluate=evaluate_steps, imagenet=imagenet)
    return SequentialRun.start(job, model_dir, data_dir, settings, ctx, arch=arch).finish()
