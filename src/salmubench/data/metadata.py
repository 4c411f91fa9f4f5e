"""Reading the metadata JSONs of a dataset directory: each file's accepted shapes normalised to one
(the released files and ours differ in shape; the loader and the validator share these)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from salmubench.data import schema as S
from salmubench.errors import DataError
from salmubench.io_utils import read_json


def read_optional_json(path: Path, default: Any) -> Any:
    """The parsed JSON at ``path``, ``default`` when there is no such file (DataError if unparsable)."""
    if not path.is_file():
        return default
    try:
        return read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None


def normalise_identities(raw: Any) -> dict[str, dict[str, Any]]:
    """identities_metadata.json as ``{identity_id: record}``; accepts a dict or a list of records."""
    if isinstance(raw, dict):
        return {str(k).zfill(8) if str(k).isdigit() else str(k): v for k, v in raw.items()}
    if isinstance(raw, list):
        out = {}
        for rec in raw:
            key = rec.get("identity_id", rec.get("id"))
            if key is None:
                raise DataError(f"{S.IDENTITIES_JSON}: record without identity_id")
            out[str(key).zfill(8)] = rec
        return out
    raise DataError(f"{S.IDENTITIES_JSON}: expected an object or a list of records")


def normalise_captions_metadata(raw: Any) -> dict[str, dict[str, str]]:
    """sensitive_set_captions_metadata.json as ``{file_name: {data_field, caption}}``."""
    if isinstance(raw, list):
        raw = {r["file_name"]: r for r in raw if isinstance(r, dict) and "file_name" in r}
    if not isinstance(raw, dict):
        raise DataError(f"{S.CAPTIONS_JSON}: expected an object keyed by file_name")
    return {k: v for k, v in raw.items() if isinstance(v, dict)}


def normalise_generic_captions(raw: Any) -> dict[str, str]:
    """sensitive_set_generic_captions.json as ``{file_name: caption}`` (str or {caption}/{text})."""
    if isinstance(raw, list):
        raw = {r["file_name"]: r for r in raw if isinstance(r, dict) and "file_name" in r}
    if not isinstance(raw, dict):
        raise DataError(f"{S.GENERIC_CAPTIONS_JSON}: expected an object keyed by file_name")
    out = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            value = value.get("generic_caption") or value.get("caption") or value.get("text")
        if isinstance(value, str):
            out[key] = value
    return out


def normalise_fragile_ids(raw: Any) -> list[str] | None:
    """fragile_set_ids.json as a list of file names (accepts a list or {"ids"/"file_names": [...]})."""
    if raw is None:
        return None
    if isinstance(raw, dict):
        raw = raw.get("file_names") or raw.get("ids") or list(raw)
    return [str(x) for x in raw]
