"""Typed, frozen configuration models and ``--set key=value`` overrides.

Precedence (documented in docs/protocol.md): code defaults < preset < ``--set`` overrides.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from salmubench.errors import ConfigError

M = TypeVar("M", bound="StrictModel")


class StrictModel(BaseModel):
    """Base of every config: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def config_hash(cfg: BaseModel | dict[str, Any], length: int = 12) -> str:
    """Stable short sha256 of a config's canonical JSON (sorted keys)."""
    data = cfg.model_dump(mode="json") if isinstance(cfg, BaseModel) else cfg
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """Parse ``["lr=1e-5", "steps=3"]`` into a dict; values are JSON when they parse as JSON."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {pair!r} is not key=value")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def build_config(cls: type[M], overrides: dict[str, Any] | None = None, what: str = "config") -> M:
    """Instantiate ``cls`` from overrides; unknown keys and bad values give a one-line ConfigError."""
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(cls.model_fields))
    if unknown:
        valid = ", ".join(sorted(cls.model_fields)) or "(none)"
        raise ConfigError(f"unknown {what} key(s) {', '.join(unknown)}; valid keys: {valid}")
    try:
        return cls(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid {what} value for {loc}: {first['msg']}") from None
