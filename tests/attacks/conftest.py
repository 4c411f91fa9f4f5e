"""Fixtures of the attack tests: the shared tiny dataset and two tiny references trained on it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_refs(tiny_dataset_dir, tmp_path_factory) -> Path:
    """A run-dir-like folder: ``models/{compromised,clean}`` (tiny training preset, 30 steps each) and
    ``results/{compromised,clean}/result.json`` (evaluated on the tiny data). Read-only for tests that
    do not copy it (attacks write attack.json into results/ only in copies)."""
    import torch

    from salmubench.evaluation.evaluator import evaluate
    from salmubench.training.reference import train_reference

    root = tmp_path_factory.mktemp("attack_refs")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for kind in ("compromised", "clean"):
            train_reference(kind, tiny_dataset_dir, root / "models" / kind, preset="tiny", seed=0,
                            overrides={"threads": 1})
            evaluate(str(root / "models" / kind), tiny_dataset_dir, root / "results" / kind, role=kind, name=kind,
                     cache_dir=False)
    finally:
        torch.set_num_threads(before)
    return root


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test of this folder on one torch thread (``one_torch_thread`` in tests/conftest.py)."""
