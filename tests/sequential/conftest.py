"""Fixtures of the sequential-unlearning tests: the shared tiny dataset, salmu-test stand-ins of the
Compromised and Clean models, one torch thread, and a private embedding cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from salmubench.models import create_model, save_model


@pytest.fixture(scope="session")
def seq_models(tmp_path_factory) -> tuple[Path, Path]:
    """(compromised, clean): two randomly initialised salmu-test models (seeds 0 and 1)."""
    root = tmp_path_factory.mktemp("seq-models")
    for name, seed in (("compromised", 0), ("clean", 1)):
        save_model(create_model("salmu-test", seed=seed), root / name)
    return root / "compromised", root / "clean"


@pytest.fixture(autouse=True)
def _quiet(one_torch_thread, monkeypatch, tmp_path):
    """One torch thread; the references' embedding cache in the test's own folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
