"""Shared session fixtures: a tiny generated SALMU dataset (seconds) and an offline guard."""

from __future__ import annotations

import os

import pytest

import salmubench  # noqa: F401 - first: pins CPU numerics before torch / numpy load (salmubench.runtime)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory):
    """A ``tiny``-preset dataset (seed 0) generated once per test session; treat it as read-only."""
    from salmubench.data.generate import generate_dataset

    out = tmp_path_factory.mktemp("salmu") / "tiny"
    generate_dataset(out, preset="tiny", seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_dataset(tiny_dataset_dir):
    """The tiny dataset loaded with :func:`salmubench.data.load_dataset` (read-only)."""
    from salmubench.data import load_dataset

    return load_dataset(tiny_dataset_dir)


@pytest.fixture(scope="session")
def mini_dataset_dir(tmp_path_factory):
    """A ``mini``-preset dataset (seed 0; ~10 s, generated only when a test asks; read-only)."""
    from salmubench.data.generate import generate_dataset

    out = tmp_path_factory.mktemp("salmu") / "mini"
    generate_dataset(out, preset="mini", seed=0)
    return out


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread (tiny models run faster so, much faster on a shared CPU)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
