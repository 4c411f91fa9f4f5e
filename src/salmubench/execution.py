"""How a piece of work runs, as one typed object: device, threads, precision and a progress callback.

The library's long-running entry points (``unlearn``, ``unlearn_sequential``, ``attack``) take an
:class:`ExecContext` and pass that one object down (unlearn -> sequential -> step, attack -> suite)
instead of threading loose ``device=`` / ``threads=`` / ``on_progress=`` keywords through every call.
Execution settings never enter a result's identity (config hash): the same run on another device
or thread count is the same experiment (CPU bytes are pinned by ``runtime``; docs/protocol.md).

``precision``: ``"fp32"`` is the only value today (every salmubench number is computed in fp32);
mixed precision on GPUs (``"bf16"``) is planned on this field (docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from salmubench.errors import ConfigError
from salmubench.progress import OnProgress

PRECISIONS = ("fp32",)


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
        """The same context with ``device`` resolved to a concrete torch device string."""
        from salmubench.runtime import resolve_device

        return dataclasses.replace(self, device=resolve_device(self.device))

    def with_progress(self, on_progress: OnProgress | None) -> ExecContext:
        """The same context reporting to ``on_progress``."""
        return dataclasses.replace(self, on_progress=on_progress)


def exec_context(context: ExecContext | None = None, *, device: str | None = None, threads: int | None = None,
                 on_progress: OnProgress | None = None) -> ExecContext:
    """``context``, or one built from the shorthand keywords the public functions also accept.

    Giving both a context and a shorthand is ambiguous and raises a one-line ConfigError.
    """
    if context is None:
        return ExecContext(device=device, threads=threads, on_progress=on_progress)
    given = [name for name, value in (("device", device), ("threads", threads), ("on_progress", on_progress))
             if value is not None]
    if given:
        raise ConfigError(f"pass {', '.join(given)} inside context, not beside it")
    return context
