"""The outcome of a validation (:class:`ValidationReport`) and the helpers every check shares: one
line per problem, a few examples each, metadata JSONs read without raising."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salmubench.errors import DataError
from salmubench.io_utils import read_json

MAX_EXAMPLES = 3


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_dataset`: one line per violation / warning."""

    root: Path
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """``forget 122, holdout_association 60, ...`` (rows per split read)."""
        return ", ".join(f"{k} {v}" for k, v in self.counts.items()) or "no split read"


def examples(items: Iterable[Any]) -> str:
    """Up to ``MAX_EXAMPLES`` of ``items`` (distinct, sorted), with the total when there are more."""
    items = sorted({str(i) for i in items})
    more = f", ... ({len(items)} in all)" if len(items) > MAX_EXAMPLES else ""
    return ", ".join(items[:MAX_EXAMPLES]) + more


def load_json(rep: ValidationReport, name: str, normalise) -> Any:
    """``normalise`` of the JSON file ``name`` in the dataset; None when absent or bad (one error line)."""
    path = rep.root / name
    if not path.is_file():
        return None
    try:
        return normalise(read_json(path))
    except (OSError, ValueError) as exc:
        rep.errors.append(f"{name}: not valid JSON ({exc.__class__.__name__})")
    except DataError as exc:
        rep.errors.append(str(exc))
    return None
