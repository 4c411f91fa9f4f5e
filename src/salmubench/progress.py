"""Progress reporting of the library: a callback, never a progress bar.

Long-running functions (``generate_dataset``, ``train_reference``, ``unlearn``, ``evaluate``,
``tune``, ``validate_dataset``, ``run_benchmark``) take ``on_progress``: a callable receiving a
:class:`ProgressEvent` after each unit of work (an image chunk, an optimiser step, a trial...).
``None`` reports nothing. The library never draws; the command line turns events into rich bars
(``salmubench.cli.display``, the one module that imports rich). A notebook can pass ``print``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One update of one task.

    Attributes:
        task: what is progressing, stable for the task's lifetime ("unlearn npo", "embed forget").
        done: units finished so far.
        total: units in all (None when unknown).
        status: short free text about the latest unit (a loss, a trial's overrides); may be empty.
    """

    task: str
    done: int
    total: int | None = None
    status: str = ""

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


OnProgress = Callable[[ProgressEvent], None]


class Task:
    """Counts the units of one task and reports each update to ``on_progress`` (if any)."""

    def __init__(self, on_progress: OnProgress | None, task: str, total: int | None = None) -> None:
        self.on_progress, self.task, self.total, self.done = on_progress, task, total, 0

    def advance(self, n: int = 1, status: str = "") -> None:
        """``n`` more units are done (``status`` describes the latest)."""
        self.done += n
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(self.task, self.done, self.total, status))

    def update(self, done: int, status: str = "") -> None:
        """The task now stands at ``done`` units."""
        self.done = done - 1
        self.advance(1, status)

    def start(self, done: int = 0) -> Task:
        """Report the task (at ``done`` units, e.g. when resuming) before the first unit ends."""
        self.done = done
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(self.task, self.done, self.total))
        return self
