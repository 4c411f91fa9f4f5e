"""Mixed precision (issue 22 item 3): fp32 is today's code path to the byte, bf16 is refused off CUDA in
one line, and (behind the private CPU-autocast switch, tests only) bf16 embeddings agree with fp32 ones."""

from __future__ import annotations

import json

import numpy as np
import pytest

from salmubench import execution
from salmubench.cli.main import main
from salmubench.errors import ConfigError
from salmubench.evaluation.embed import EmbeddingBank
from salmubench.evaluation.evaluator import embedding_cache_dir, evaluate
from salmubench.execution import ExecContext

BF16_TOLERANCE = 0.02  # max |bf16 - fp32| of an L2-normalised embedding entry (bf16: 8 mantissa bits)
REFUSAL = "precision bf16 needs a CUDA device"


@pytest.fixture
def cpu_autocast(monkeypatch):
    monkeypatch.setattr(execution, "_CPU_AUTOCAST_FOR_TESTS", True)


def _embed(bank: EmbeddingBank, data) -> tuple[np.ndarray, np.ndarray]:
    return bank.images(data.forget), bank.texts(data.forget.texts)


def test_fp32_is_byte_identical_to_no_precision(bundle, data):
    plain, fp32 = _embed(EmbeddingBank(bundle, batch_size=4), data), _embed(
        EmbeddingBank(bundle, batch_size=4, precision="fp32"), data)
    for a, b in zip(plain, fp32, strict=True):
        assert a.dtype == b.dtype == np.float32 and a.tobytes() == b.tobytes()


def test_fp32_evaluation_writes_what_it_wrote(model_dirs, eval_data_dir, tmp_path):
    before = evaluate(model_dirs["a"], eval_data_dir, tmp_path / "a", cache_dir=False)
    after = evaluate(model_dirs["a"], eval_data_dir, tmp_path / "b", cache_dir=False, precision="fp32")
    assert {k: m.value for k, m in before.metrics.items()} == {k: m.value for k, m in after.metrics.items()}
    official = before.files["official"]
    assert (tmp_path / "a" / official).read_bytes() == (tmp_path / "b" / official).read_bytes()
    assert after.extras["precision"] == before.extras["precision"] == "fp32"


def test_bf16_on_cpu_is_refused_in_one_line(bundle, model_dirs, eval_data_dir, tmp_path, capsys):
    for make in (lambda: EmbeddingBank(bundle, device="cpu", precision="bf16"),
                 lambda: ExecContext(device="cpu", precision="bf16").resolved(),
                 lambda: evaluate(model_dirs["a"], eval_data_dir, tmp_path / "x", device="cpu", precision="bf16")):
        with pytest.raises(ConfigError, match=REFUSAL) as err:
            make()
        assert "\n" not in str(err.value)
    assert not (tmp_path / "x" / "result.json").exists()
    code = main(["eval", "--model", str(model_dirs["a"]), "--data", str(eval_data_dir), "--out",
                 str(tmp_path / "y"), "--precision", "bf16", "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and REFUSAL in err and err.count("\n") == 1
    with pytest.raises(ConfigError, match="not one of fp32, bf16"):
        ExecContext(precision="fp16")


def test_bf16_embeddings_agree_with_fp32(bundle, data, cpu_autocast):
    fp32, bf16 = _embed(EmbeddingBank(bundle), data), _embed(EmbeddingBank(bundle, precision="bf16"), data)
    for a, b in zip(fp32, bf16, strict=True):
        assert b.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)  # cast back, then normalised
        assert 0 < np.abs(a - b).max() < BF16_TOLERANCE  # autocast did run, and agrees


def test_bf16_evaluation_records_its_precision_and_cache(bundle, data, model_dirs, eval_data_dir, tmp_path,
                                                         cpu_autocast):
    fp32_dir = embedding_cache_dir(bundle, data, tmp_path / "cache")
    bf16_dir = embedding_cache_dir(bundle, data, tmp_path / "cache", "bf16")
    assert bf16_dir.name == f"{fp32_dir.name}-bf16"
    result = evaluate(model_dirs["a"], eval_data_dir, tmp_path / "r", cache_dir=tmp_path / "cache", precision="bf16")
    assert result.extras["precision"] == "bf16"
    assert json.loads((tmp_path / "r" / "result.json").read_text())["extras"]["precision"] == "bf16"
    assert bf16_dir.is_dir() and not fp32_dir.exists()
