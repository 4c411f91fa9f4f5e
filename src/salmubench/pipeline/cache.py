"""Stage markers: a stage is done iff its marker exists and records the same key (docs/run.md).

``RUN_DIR/.stages/<stage_id>.json`` is written atomically *after* a stage's outputs are complete,
so a crash or Ctrl-C never leaves a stage marked done without its outputs. A stage that started
but did not finish leaves a ``<stage_id>.started.json`` record: when the same key runs again, its
partial outputs are resumed (training checkpoints) or overwritten; when the key changed, its
outputs are deleted first, so stale files of another configuration are never mixed in.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from salmubench.config import config_hash
from salmubench.io_utils import atomic_write_json, read_json

STAGES_DIR = ".stages"
MARKER_SCHEMA = "salmubench.stage/1"


def key_hash(key: dict[str, Any]) -> str:
    """Stable 16-hex hash of a stage key (its resolved config and the hashes of its inputs)."""
    return config_hash(key, length=16)


class StageCache:
    """Markers of the stages of one run dir."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir) / STAGES_DIR

    def _marker(self, stage_id: str) -> Path:
        return self.dir / f"{stage_id}.json"

    def _started(self, stage_id: str) -> Path:
        return self.dir / f"{stage_id}.started.json"

    def record(self, stage_id: str) -> dict[str, Any] | None:
        """The done-marker of a stage, or None (missing or unreadable)."""
        try:
            data = read_json(self._marker(stage_id))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def is_done(self, stage_id: str, key: dict[str, Any], outputs: list[Path] = ()) -> bool:
        """Marker present, same key hash, and every declared output still exists."""
        rec = self.record(stage_id)
        return bool(rec and rec.get("key_hash") == key_hash(key) and all(Path(p).exists() for p in outputs))

    def begin(self, stage_id: str, key: dict[str, Any], outputs: list[Path], fresh: bool = False) -> bool:
        """Prepare a stage to run; returns True if it resumes a partial run of the same key.

        Outputs left by a run of a different key (or by a done-marker of another key) are deleted,
        and so are all outputs when ``fresh`` (``--redo``).
        """
        h = key_hash(key)
        old = [self.record(stage_id), _read(self._started(stage_id))]
        same = not fresh and any(r and r.get("key_hash") == h for r in old)
        if not same:
            for path in outputs:
                _remove(Path(path))
        self._marker(stage_id).unlink(missing_ok=True)
        atomic_write_json(self._started(stage_id), {"schema": MARKER_SCHEMA, "stage": stage_id, "key_hash": h,
                                                    "key": key, "started_at": _now()})
        return same

    def finish(self, stage_id: str, key: dict[str, Any], seconds: float, info: dict[str, Any] | None = None) -> None:
        """Write the done-marker (atomically) and drop the started record."""
        atomic_write_json(self._marker(stage_id), {
            "schema": MARKER_SCHEMA, "stage": stage_id, "key_hash": key_hash(key), "key": key,
            "seconds": round(seconds, 3), "finished_at": _now(), "finished_ns": time.time_ns(),
            "info": info or {}})
        self._started(stage_id).unlink(missing_ok=True)

    def seconds(self, stage_id: str) -> float | None:
        """Recorded duration of a done stage (for ETA estimates)."""
        rec = self.record(stage_id)
        return float(rec["seconds"]) if rec and isinstance(rec.get("seconds"), (int, float)) else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
