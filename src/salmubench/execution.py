"""How a piece of work runs, as one typed object: device, threads, precision and a progress callback.

The library's long-running entry points (``unlearn``, ``unlearn_sequential``, ``attack``) take an
:class:`ExecContext` and pass that one object down (unlearn -> sequential -> step, attack -> suite)
instead of threading loose ``device=`` / ``threads=`` / ``on_progress=`` keywords through every call.
Execution settings never enter a result's identity (config hash): the same run on another device
or thread count is the same experiment (CPU bytes are pinned by ``runtime``; docs/protocol.md).

``precision``: ``"fp32"`` (the default, every CPU number) or ``"bf16"``: the forward passes (embedding,
unlearning and attack losses) under ``torch.autocast(device_type, dtype=torch.bfloat16)``, weights and
optimiser states kept in fp32, embeddings cast back to float32 before any metric. bf16 needs a CUDA device
(:func:`check_precision`); fp32 runs exactly the code it ran before (no autocast context at all).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any

from salmubench.errors import ConfigError
from salmubench.progress import OnProgress

PRECISIONS = ("fp32", "bf16")
# private switch: allow bf16 on a CPU (CPU autocast), for tests and benchmarks/gpu_check.py --cpu-dry-run only
_CPU_AUTOCAST_FOR_TESTS = False


def check_precision(precision: str, device: Any) -> None:
    """Refuse an unknown precision, and bf16 on anything but a CUDA device, in one line (ConfigError)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "bf16" and not str(device).startswith("cuda") and not _CPU_AUTOCAST_FOR_TESTS:
        raise ConfigError("precision bf16 needs a CUDA device")


def autocast(precision: str, device: Any) -> contextlib.AbstractContextManager:
    """The context of a forward pass at ``precision`` on ``device``: none for fp32 (the fp32 code path is
    unchanged), ``torch.autocast(device type, dtype=torch.bfloat16)`` for bf16 (checked first)."""
    check_precision(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def no_autocast(precision: str, device: Any) -> contextlib.AbstractContextManager:
    """Autocast switched off inside a bf16 forward context (backward, optimiser steps); none for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(torch.device(device).type, enabled=False)


@dataclass(frozen=True)
class ExecContext:
    """Execution settings of one call.

    Attributes:
        device: torch device (``"cpu"``, ``"cuda:1"``); None or ``"auto"``: this rank's CUDA device if
            any, else CPU (:func:`salmubench.runtime.resolve_device`, applied by :meth:`resolved`).
        threads: torch intra-op threads for the call (None: leave torch's setting).
        precision: arithmetic precision (:data:`PRECISIONS`).
        on_progress: progress callback (``salmubench.progress``), or None.
    """

    device: str | None = None
    threads: int | None = None
    precision: str = "fp32"
    on_progress: OnProgress | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ConfigError(f"threads must be an integer >= 1, got {self.threads!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.device is not None and not isinstance(self.device, str):
            raise ConfigError(f"device must be a string such as 'cpu' or 'cuda:0', got {self.device!r}")

    def resolved(self) -> ExecContext:
        """The same context with ``device`` resolved to a concrete torch device string; bf16 off CUDA is
        refused here (:func:`check_precision`)."""
        from salmubench.runtime import resolve_device

        out = dataclasses.replace(self, device=resolve_device(self.device))
        check_precision(out.precision, out.device)
        return out

    def autocast(self) -> contextlib.AbstractContextManager:
        """:func:`autocast` at this context's precision and device."""
        return autocast(self.precision, self.device or "cpu")

    def with_progress(self, on_progress: OnProgress | None) -> ExecContext:
        """The same context reporting to ``on_progress``."""
        return dataclasses.replace(self, on_progress=on_progress)


def exec_context(context: ExecContext | None = None, *, device: str | None = None, threads: int | None = None,
                 on_progress: OnProgress | None = None, precision: str | None = None) -> ExecContext:
    """``context``, or one built from the shorthand keywords the public functions also accept.

    Giving both a context and a shorthand is ambiguous and raises a one-line ConfigError.
    """
    if context is None:
        return ExecContext(device=device, threads=threads, on_progress=on_progress, precision=precision or "fp32")
    given = [name for name, value in (("device", device), ("threads", threads), ("on_progress", on_progress),
                                      ("precision", precision)) if value is not None]
    if given:
        raise ConfigError(f"pass {', '.join(given)} inside context, not beside it")
    return context
