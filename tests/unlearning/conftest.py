"""Fixtures for the unlearning tests: the shared tiny dataset, a "Compromised" salmu-test model,
and the ``UnlearnData`` a method receives."""

from __future__ import annotations

from pathlib import Path

import pytest

from salmubench.data.loading import load_dataset
from salmubench.models import create_model, save_model
from salmubench.unlearning.data import build_unlearn_data


@pytest.fixture(scope="session")
def unlearn_data_dir(tiny_dataset_dir) -> Path:
    """The shared ``tiny`` dataset (tests/conftest.py): read-only."""
    return Path(tiny_dataset_dir)


@pytest.fixture(scope="session")
def compromised_dir(tmp_path_factory) -> Path:
    """A randomly initialised salmu-test model saved as the stand-in Compromised model."""
    out = tmp_path_factory.mktemp("compromised")
    save_model(create_model("salmu-test", seed=0), out)
    return out


@pytest.fixture(scope="session")
def bundle():
    """The same salmu-test model in memory (tests deep-copy ``bundle.model`` before training)."""
    return create_model("salmu-test", seed=0)


@pytest.fixture(scope="session")
def unlearn_data(unlearn_data_dir, bundle):
    return build_unlearn_data(load_dataset(unlearn_data_dir), bundle.preprocess, bundle.tokenizer)


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test of this folder on one torch thread (``one_torch_thread`` in tests/conftest.py)."""
