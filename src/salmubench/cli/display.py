"""Everything the command line draws, and the only module that imports rich.

* :func:`progress_display`: turns the library's progress events (``salmubench.progress``) into rich
  bars, one per task;
* :class:`RunView`: the live view of ``salmubench run`` (current stage, stages done / total, elapsed
  time, ETA) with the running stage's own tasks as sub-bars;
* :func:`print_table`: tables of ``ls`` and ``eval``.

Bars go to stderr and are drawn only on a terminal; plain lines (``RunView(enabled=False)``) and tables
go to stdout.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from salmubench.progress import OnProgress, ProgressEvent


def _bar(console: Console, transient: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[status]}"), console=console,
                    transient=transient)


class _Tasks:
    """Maps progress events to the tasks of one rich Progress (a task per event ``task`` name)."""

    def __init__(self, progress: Progress, drop_finished: bool) -> None:
        self.progress, self.drop_finished = progress, drop_finished
        self.ids: dict[str, int] = {}

    def __call__(self, event: ProgressEvent) -> None:
        task = self.ids.get(event.task)
        if task is None:
            task = self.ids[event.task] = self.progress.add_task(event.task, total=event.total, status="")
        self.progress.update(task, completed=event.done, total=event.total, status=event.status)
        if self.drop_finished and event.finished:
            self.progress.remove_task(task)
            del self.ids[event.task]


@contextlib.contextmanager
def progress_display(enabled: bool = True, console: Console | None = None) -> Iterator[OnProgress | None]:
    """An ``on_progress`` callback drawing one bar per task while the block runs (None when disabled
    or when stderr is not a terminal)."""
    console = console or Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    with _bar(console, transient=False) as progress:
        yield _Tasks(progress, drop_finished=False)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None,
                boxed: bool = False, console: Console | None = None) -> None:
    """A table on stdout (``boxed``: with borders)."""
    kwargs = {} if boxed else {"box": None}
    table = Table(*headers, title=title, header_style="bold", **kwargs)
    for row in rows:
        table.add_row(*row)
    (console or Console(width=160)).print(table)


# ---- salmubench run ------------------------------------------------------------------------------

DEFAULT_SECONDS = {"data": 60.0, "train": 240.0, "eval": 20.0, "unlearn": 45.0, "attack": 15.0, "sequential": 90.0,
                   "leaderboard": 1.0}
PRESET_SCALE = {"tiny": 0.2, "mini": 1.0, "paper": 200.0}
ICONS = {"done": "[green]✓[/]", "cached": "[dim]·[/]", "failed": "[red]✗[/]", "skipped": "[yellow]-[/]"}


def fmt_seconds(seconds: float) -> str:
    """``73 -> "1m13s"``."""
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class RunView:
    """The view ``run_benchmark`` reports to (``begin`` / ``end`` per stage, ``on_progress`` within one).

    The ETA sums an estimate per remaining stage: the mean duration of the stages of the same kind
    that ran in this run, else the duration recorded in the stage's previous marker, else a default
    per kind scaled by preset (measured on the 2-core machine for ``mini``; rough elsewhere); with
    ``jobs`` > 1 that sum is shared by the jobs. The top line names the running stages (several at once
    under ``--jobs``), their own tasks are sub-bars (prefixed by the stage id under ``--jobs``).
    ``enabled=False`` prints one plain line per finished stage and draws no bar.
    """

    def __init__(self, enabled: bool = True, preset: str = "mini", console: Console | None = None,
                 jobs: int = 1) -> None:
        self.enabled = enabled
        self.jobs = max(1, jobs)
        self.scale = PRESET_SCALE.get(preset, 1.0)
        self.console = console or Console()
        self.measured: dict[str, list[float]] = defaultdict(list)
        self.progress: Progress | None = None
        self.task = None
        self.on_progress: OnProgress | None = None
        self.running: dict[str, str] = {}  # stage id -> label, in start order
        self.ended: set[str] = set()
        self.total = 0
        self._tasks: _Tasks | None = None
        self._t0 = 0.0

    def __enter__(self) -> RunView:
        self._t0 = time.perf_counter()
        if self.enabled:
            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("{task.fields[status]}"),
                                     console=self.console, transient=False)
            self.progress.__enter__()
            self.task = self.progress.add_task("salmubench run", total=1, status="ETA -")
            self.on_progress = self._tasks = _Tasks(self.progress, drop_finished=True)
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
        self.running[stage.id] = stage.label
        self.total = len(stages)
        if self.progress is None:
            return
        remaining = [s for s in stages if s.id not in self.ended
                     and (not cache.is_done(s.id, s.key, s.outputs) or s.key_fn)]
        eta = fmt_seconds(sum(self.estimate(s, cache) for s in remaining) / min(self.jobs, max(1, len(remaining))))
        self.progress.update(self.task, total=len(stages), completed=len(self.ended),
                             description=self._describe(len(stages)), status=f"ETA {eta}")

    def _describe(self, total: int) -> str:
        labels = list(self.running.values())
        if self.jobs == 1 or len(labels) <= 1:
            return f"[{len(self.ended) + 1}/{total}] {labels[0] if labels else ''}"
        shown = ", ".join(labels[:4]) + (f", +{len(labels) - 4}" if len(labels) > 4 else "")
        return f"[{len(self.ended)}/{total}] running {len(labels)}: {shown}"

    def end(self, stage, status) -> None:
        self.running.pop(stage.id, None)
        self.ended.add(stage.id)
        if status.state == "done":
            self.measured[stage.kind].append(status.seconds)
        where = (getattr(status, "resources", None) or {}).get("device") if self.jobs > 1 else None
        extra = f" ({fmt_seconds(status.seconds)}{f', {where}' if where else ''})" if status.state == "done" else ""
        msg = f": {status.message}" if status.message else ""
        line = f"{ICONS.get(status.state, '')} {stage.label} [dim]{status.state}{extra}[/]{msg}"
        self.console.print(line, highlight=False)
        if self.progress is not None:
            if self._tasks is not None:  # the stage's own bars that did not report their end
                for name in [n for n in self._tasks.ids if n.startswith(f"{stage.id}: ")]:
                    self.progress.remove_task(self._tasks.ids.pop(name))
            described = {"description": self._describe(self.total)} if self.running else {}
            self.progress.update(self.task, completed=len(self.ended), **described)
