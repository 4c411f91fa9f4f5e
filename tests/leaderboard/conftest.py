"""Fixtures of the leaderboard tests."""

from pathlib import Path

import pytest
from lb_factory import write_run


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A hand-made run dir: both references and five methods x two seeds with per-row arrays."""
    return write_run(tmp_path / "run")
