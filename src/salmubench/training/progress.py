"""Rich progress bars of a training run: data preparation, then steps with loss and samples/s."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainingBar:
    """Thin handle over a rich Progress (or nothing when disabled)."""

    def __init__(self, progress: Progress | None, title: str) -> None:
        self.progress = progress
        self.title = title
        self.task = None

    def prep(self, total: int) -> Callable[[int], None] | None:
        """A callback advancing a 'preparing images' bar by n rows (None when disabled)."""
        if self.progress is None:
            return None
        task = self.progress.add_task(f"preparing {self.title}", total=total, loss=float("nan"), sps=0.0)
        return lambda n: self.progress.advance(task, n)

    def start(self, total_steps: int, done: int) -> None:
        """Open the steps bar (``done`` steps already run when resuming)."""
        if self.progress is not None:
            self.task = self.progress.add_task(f"training {self.title}", total=total_steps, completed=done,
                                               loss=float("nan"), sps=0.0)

    def update(self, step: int, loss: float, samples_per_second: float) -> None:
        """Move the steps bar to ``step`` and show the loss and throughput."""
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=step, loss=loss, sps=samples_per_second)


@contextlib.contextmanager
def training_progress(enabled: bool, title: str) -> Iterator[TrainingBar]:
    """A TrainingBar shown on the terminal while the block runs (a silent one if not ``enabled``)."""
    if not enabled:
        yield TrainingBar(None, title)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("{task.fields[sps]:.0f} samples/s"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as progress:
        yield TrainingBar(progress, title)
