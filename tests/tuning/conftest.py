"""Fixtures of the tuning tests: the shared tiny dataset and two salmu-test "references"."""

from __future__ import annotations

from pathlib import Path

import pytest

from salmubench.models import create_model, save_model


@pytest.fixture(scope="session")
def tune_models(tmp_path_factory) -> tuple[Path, Path]:
    """(compromised, clean) folders: two randomly initialised salmu-test models (different seeds)."""
    root = tmp_path_factory.mktemp("tune_models")
    save_model(create_model("salmu-test", seed=0), root / "compromised")
    save_model(create_model("salmu-test", seed=1), root / "clean")
    return root / "compromised", root / "clean"


@pytest.fixture(scope="session")
def tune_setup(tune_models, tiny_dataset_dir, tmp_path_factory):
    """A prepared TuneSetup on the tiny dataset (references' proxies computed once)."""
    from salmubench.tuning.search import prepare

    comp, clean = tune_models
    return prepare(comp, clean, tiny_dataset_dir, tmp_path_factory.mktemp("tune_setup"), budget=1.0, seed=0)


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test of this folder on one torch thread (``one_torch_thread`` in tests/conftest.py)."""
