"""Mixed precision in unlearning (issue 22 item 3): fp32 hashes and records as before (plus the recorded
precision), bf16 is refused off CUDA in one line, and with the private CPU-autocast switch (tests only) a bf16
run trains fp32 weights under autocast, records its precision and hashes as another run."""

from __future__ import annotations

import pytest
import torch

from salmubench import execution
from salmubench.config import config_hash
from salmubench.errors import ConfigError
from salmubench.execution import ExecContext
from salmubench.io_utils import read_json
from salmubench.models import load_model
from salmubench.unlearning.api import UNLEARN_FILE, unlearn
from salmubench.unlearning.job import prepare_job

KW = {"budget": 0.25, "overrides": {"retain_batch_size": 8}, "recipe": None}


def test_fp32_identity_is_unchanged(tmp_path):
    job = prepare_job("finetune", tmp_path / "o", 0.25, None, 0, None)
    assert job.identity("sha", "fp") == job.identity("sha", "fp", "fp32")
    assert "precision" not in job.identity("sha", "fp")
    assert job.identity("sha", "fp", "bf16") == {**job.identity("sha", "fp"), "precision": "bf16"}


def test_bf16_on_cpu_is_refused_in_one_line(compromised_dir, unlearn_data_dir, tmp_path):
    with pytest.raises(ConfigError, match="precision bf16 needs a CUDA device") as err:
        unlearn("finetune", compromised_dir, unlearn_data_dir, tmp_path / "o",
                context=ExecContext(device="cpu", precision="bf16"), **KW)
    assert "\n" not in str(err.value) and not (tmp_path / "o" / UNLEARN_FILE).exists()


def test_fp32_and_bf16_runs_record_their_precision(compromised_dir, unlearn_data_dir, tmp_path, monkeypatch):
    fp32 = read_json(unlearn("finetune", compromised_dir, unlearn_data_dir, tmp_path / "a", device="cpu", **KW)
                     / UNLEARN_FILE)
    assert fp32["precision"] == "fp32"
    job = prepare_job("finetune", tmp_path / "a", **KW)
    base = load_model(compromised_dir).checkpoint_sha256
    assert fp32["config_hash"] == config_hash(job.identity(base, fp32["data_fingerprint"]))  # no precision in it
    monkeypatch.setattr(execution, "_CPU_AUTOCAST_FOR_TESTS", True)
    out = unlearn("finetune", compromised_dir, unlearn_data_dir, tmp_path / "b",
                  context=ExecContext(device="cpu", precision="bf16"), **KW)
    bf16 = read_json(out / UNLEARN_FILE)
    assert bf16["precision"] == "bf16" and bf16["config_hash"] != fp32["config_hash"]
    assert all(p.dtype == torch.float32 for p in load_model(out).model.parameters())  # weights stay fp32
    assert abs(bf16["loss_first"]["retain_loss"] - fp32["loss_first"]["retain_loss"]) < 0.05
