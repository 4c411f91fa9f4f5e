"""Atomic file writes, hashing and the one check of output locations: no file is ever left half-written."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as UTF-8 JSON atomically, keys in insertion order, trailing newline."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; raise SalmuError-friendly ValueError/OSError to the caller."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/salmubench`` (``~/.cache/salmubench`` when XDG_CACHE_HOME is unset): the one
    root of the machine-wide caches (embeddings, decoded image tensors)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "salmubench"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def check_out_dir(path: str | os.PathLike, param: str = "out_dir",
                  inputs: dict[str, str | os.PathLike] | None = None) -> Path:
    """``path`` as a Path once it is usable as an output folder; else a one-line ConfigError.

    The one check of every output location (unlearn, evaluate, train, generate, tune, run,
    leaderboard, export): the path and its existing ancestors must be folders (not files), and it must
    not be one of ``inputs`` (``{parameter name: path}``, e.g. the model being unlearned). The folder
    itself is created by the writer.
    """
    from salmubench.errors import ConfigError

    out = Path(path)
    for part in (out, *out.parents):
        if part.exists() and not part.is_dir():
            what = "is an existing file" if part == out else f"is inside {part}, an existing file"
            raise ConfigError(f"{param} {out} {what}, not a folder; choose a folder")
    for name, other in (inputs or {}).items():
        if other is not None and Path(other).exists() and out.resolve() == Path(other).resolve():
            raise ConfigError(f"{param} {out} is the input {name}; choose a new folder")
    return out
