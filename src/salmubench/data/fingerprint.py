"""Fingerprints of a dataset directory: which files define its content and the sha256 that names it
(recorded in every result, part of every cache key)."""

from __future__ import annotations

from pathlib import Path

from salmubench.data import schema as S
from salmubench.io_utils import read_json, sha256_bytes, sha256_file


def dataset_files(root: Path) -> list[Path]:
    """Every file of a dataset dir that defines its content (parquet + metadata JSONs), sorted."""
    files = sorted((root / S.DATA_DIR).glob("*.parquet")) + sorted((root / S.EXTRA_DIR).glob("*.parquet"))
    for name in (S.IDENTITIES_JSON, S.CAPTIONS_JSON, S.GENERIC_CAPTIONS_JSON, S.ZEROSHOT_CLASSES_JSON,
                 S.UNSEEN_IDENTITIES_JSON):
        if (root / name).is_file():
            files.append(root / name)
    return files


def dataset_fingerprint(root: Path) -> str:
    """sha256 over (relative path, sha256) of every content file; fragile-set files excluded.

    The fragile set is written after training, so it is fingerprinted separately (its own hash is
    recorded in results) to keep the data fingerprint stable across that step.
    """
    manifest = root / S.MANIFEST_JSON
    if manifest.is_file():
        files = read_json(manifest).get("files")
        if isinstance(files, dict) and files:
            lines = [f"{k}:{v}" for k, v in sorted(files.items())]
            return sha256_bytes("\n".join(lines).encode())
    lines = [f"{p.relative_to(root).as_posix()}:{sha256_file(p)}" for p in dataset_files(root)]
    return sha256_bytes("\n".join(lines).encode())


def partial_fingerprint(root: Path, manifest: dict | None, shards: dict[str, list[Path]]) -> str:
    """Fingerprint of a restricted load: the manifest's (same as a full load), else the files read."""
    if manifest and isinstance(manifest.get("files"), dict) and manifest["files"]:
        return dataset_fingerprint(root)
    files = sorted(p for paths in shards.values() for p in paths)
    return sha256_bytes("\n".join(f"{p.relative_to(root).as_posix()}:{sha256_file(p)}" for p in files).encode())
