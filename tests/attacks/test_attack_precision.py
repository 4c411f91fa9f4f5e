"""Mixed precision in the attacks (issue 22 item 3): fp32 gives today's values to the bit, bf16 is refused
off CUDA in one line, and with the private CPU-autocast switch (tests only) bf16 fine-tuning and embedding
run and are recorded in ``attack.json``'s ``env``."""

from __future__ import annotations

import pytest

from salmubench import execution
from salmubench.attacks.api import attack, load_attack_data, run_attacks
from salmubench.attacks.results import read_attack
from salmubench.errors import ConfigError
from salmubench.execution import ExecContext
from salmubench.models import create_model

ATTACKS = ["relearn", "benign_finetune"]


@pytest.fixture(scope="module")
def bundle():
    return create_model("salmu-test", seed=0)


def test_fp32_attacks_are_unchanged_and_bf16_close(bundle, tiny_dataset_dir, monkeypatch):
    data = load_attack_data(tiny_dataset_dir)
    plain, _ = run_attacks(bundle, data, ATTACKS, seed=0)
    fp32, _ = run_attacks(bundle, data, ATTACKS, seed=0, context=ExecContext(device="cpu", precision="fp32"))
    for name in ATTACKS:
        assert plain[name].values == fp32[name].values and plain[name].info == fp32[name].info
    with pytest.raises(ConfigError, match="precision bf16 needs a CUDA device"):
        run_attacks(bundle, data, ATTACKS, seed=0, context=ExecContext(device="cpu", precision="bf16"))
    monkeypatch.setattr(execution, "_CPU_AUTOCAST_FOR_TESTS", True)
    bf16, _ = run_attacks(bundle, data, ATTACKS, seed=0, context=ExecContext(device="cpu", precision="bf16"))
    for name in ATTACKS:
        for key, m in bf16[name].values.items():
            assert abs(m.after - fp32[name].values[key].after) < 0.1  # RetFail MRR of a tiny random model


def test_attack_json_records_the_precision(bundle, tiny_dataset_dir, tmp_path):
    attack(bundle, tiny_dataset_dir, tmp_path / "a", attacks="quantize", device="cpu")
    assert read_attack(tmp_path / "a").env["precision"] == "fp32"
