"""Fake stage functions for the orchestrator tests (dependency injection, no torch): fake_stages.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_stages import Fakes  # noqa: E402


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()
