"""One cache for what is computed on the two reference models (Compromised, Clean) and then reused.

Tuning (the references' proxy values, ``TUNE_DIR/references.json``), sequential requests (the
references' values on every row view, ``OUT/references.json``) and the attacks (the references'
attacked values, ``RESULTS/<role>/attack.json``) all need values of the references that are costly
to compute and must be recomputed exactly when what they depend on changes. :class:`ReferenceCache`
is the one rule for all three: a record is read from its file and used only when it *matches* the
request (for the two ``references.json`` files: the same ``key`` and schema; for attack records:
the attack suite's own match rule); otherwise it is computed, written atomically (a killed run never
leaves a half-written record) and returned. An unreadable or foreign file is a miss, never an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from salmubench.io_utils import atomic_write_json, read_json

R = TypeVar("R")


@dataclass(frozen=True)
class ReferenceCache(Generic[R]):
    """A record of reference values stored in one file.

    Attributes:
        path: the file.
        matches: whether a stored record answers the current request.
        read: file -> record (raises OSError / ValueError on an unreadable file: a miss).
        write: writes a computed record to the file (None: ``compute`` writes it itself).
    """

    path: Path
    matches: Callable[[R], bool]
    read: Callable[[Path], R] = read_json
    write: Callable[[Path, R], None] | None = atomic_write_json

    def lookup(self) -> R | None:
        """The stored record if the file is readable and it matches; else None."""
        if not self.path.is_file():
            return None
        try:
            record = self.read(self.path)
        except (OSError, ValueError):
            return None
        return record if self.matches(record) else None

    def get_or_compute(self, compute: Callable[[], R]) -> R:
        """The stored record when it matches, else ``compute()`` (then stored)."""
        record = self.lookup()
        if record is None:
            record = compute()
            if self.write is not None:
                self.write(self.path, record)
        return record


def keyed_json(path: str | os.PathLike, key: Any, schema: str | None = None) -> ReferenceCache[dict]:
    """A JSON record that matches when it holds ``"key": key`` (and ``"schema": schema`` if given)."""

    def matches(record: Any) -> bool:
        return (isinstance(record, dict) and record.get("key") == key
                and (schema is None or record.get("schema") == schema))

    return ReferenceCache(Path(path), matches)
