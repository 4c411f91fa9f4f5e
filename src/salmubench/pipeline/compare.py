"""Same numbers? The comparable content of a finished run directory (for "the bytes did not move" checks).

:func:`run_outputs` maps every result JSON of a run (``results/``, the leaderboard, the train and unlearn
records) to its content without timings and with the run dir's own path replaced, and every model file
to its sha256. Two runs made the same way (another ``--jobs``, another version of the code that claims
to change no number) must give equal maps: :func:`differences` lists the keys that differ.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# keys whose values are measurements of this run, not results: dropped before comparing
VOLATILE = ("seconds", "samples_per_second", "created_at", "started_at", "finished_at", "finished_ns", "cost",
            "git_sha")  # the last: the code version (a check across versions compares their numbers)


def stable(obj: Any, run_dir: Path) -> Any:
    """A result document without timings (keys containing a :data:`VOLATILE` word) and with
    ``run_dir``'s path replaced by ``RUN_DIR``."""
    if isinstance(obj, dict):
        return {k: stable(v, run_dir) for k, v in obj.items() if not any(t in k for t in VOLATILE)}
    if isinstance(obj, list):
        return [stable(v, run_dir) for v in obj]
    if isinstance(obj, str):
        return obj.replace(str(run_dir), "RUN_DIR")
    return obj


def run_outputs(run_dir: str | Path) -> dict[str, Any]:
    """``{relative path: stable JSON content or model sha256}`` of a finished run (data, stage markers,
    logs and run.json left out)."""
    run_dir = Path(run_dir)
    out: dict[str, Any] = {}
    for path in sorted(run_dir.rglob("*")):
        rel = str(path.relative_to(run_dir))
        if rel.startswith(("data", ".stages", "logs")) or rel == "run.json" or not path.is_file():
            continue
        if path.suffix == ".json":
            out[rel] = stable(json.loads(path.read_text()), run_dir)
        elif path.suffix == ".safetensors":
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Keys present in only one of two :func:`run_outputs` maps, or with different values (sorted)."""
    return sorted(k for k in a.keys() | b.keys() if a.get(k, object()) != b.get(k, object()))
