"""Live view of a run (rich): the current stage, stages done / total, elapsed time and an ETA.

The ETA sums an estimate per remaining stage: the mean duration of the stages of the same kind
that ran in this run, else the duration recorded in the stage's previous marker, else a default
per kind scaled by preset (measured on the 2-core machine for ``mini``; rough elsewhere).
"""

from __future__ import annotations

import time
from collections import defaultdict

from rich import get_console
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

DEFAULT_SECONDS = {"data": 60.0, "train": 240.0, "eval": 20.0, "unlearn": 45.0, "attack": 15.0, "leaderboard": 1.0}
PRESET_SCALE = {"tiny": 0.2, "mini": 1.0, "paper": 200.0}
ICONS = {"done": "[green]✓[/]", "cached": "[dim]·[/]", "failed": "[red]✗[/]", "skipped": "[yellow]-[/]",
         "missing": "[red]?[/]"}


def fmt_seconds(seconds: float) -> str:
    """``73 -> "1m13s"``."""
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class RunView:
    """Context manager drawing the run's progress; ``enabled=False`` prints plain lines only."""

    def __init__(self, enabled: bool = True, preset: str = "mini", console: Console | None = None) -> None:
        self.enabled = enabled
        self.scale = PRESET_SCALE.get(preset, 1.0)
        self.console = console or get_console()  # the console the stages' own bars use (nested Live)
        self.measured: dict[str, list[float]] = defaultdict(list)
        self.progress: Progress | None = None
        self.task = None
        self._t0 = 0.0

    def __enter__(self) -> RunView:
        self._t0 = time.perf_counter()
        if self.enabled:
            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"),
                                     console=self.console, transient=False)
            self.progress.__enter__()
            self.task = self.progress.add_task("salmubench run", total=1, eta="-")
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def estimate(self, stage, cache) -> float:
        if self.measured[stage.kind]:
            return sum(self.measured[stage.kind]) / len(self.measured[stage.kind])
        previous = cache.seconds(stage.id)
        return previous if previous is not None else DEFAULT_SECONDS.get(stage.kind, 10.0) * self.scale

    def begin(self, stage, index: int, stages: list, cache) -> None:
        remaining = [s for s in stages[index:] if not cache.is_done(s.id, s.key, s.outputs) or s.key_fn]
        eta = fmt_seconds(sum(self.estimate(s, cache) for s in remaining))
        if self.progress is not None:
            self.progress.update(self.task, total=len(stages), completed=index,
                                 description=f"[{index + 1}/{len(stages)}] {stage.label}", eta=eta)

    def end(self, stage, status) -> None:
        if status.state == "done":
            self.measured[stage.kind].append(status.seconds)
        extra = f" ({fmt_seconds(status.seconds)})" if status.state == "done" else ""
        msg = f": {status.message}" if status.message else ""
        line = f"{ICONS.get(status.state, '')} {stage.label} [dim]{status.state}{extra}[/]{msg}"
        self.console.print(line, highlight=False)
        if self.progress is not None:
            self.progress.advance(self.task)
