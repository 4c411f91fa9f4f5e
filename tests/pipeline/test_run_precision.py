"""``salmubench run --precision``: bf16 (CUDA only, one-shot) enters the eval / unlearn / attack stage keys,
fp32 leaves every key as it was; the stage functions get ``precision`` only when it is not fp32."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from salmubench.cli.main import main
from salmubench.pipeline import RunConfig
from salmubench.pipeline.cache import StageCache
from salmubench.pipeline.plan import PRECISION_STAGES, Planner


def _stages(tmp_path, fakes, **kw):
    cfg = RunConfig(out=str(tmp_path / "run"), **kw)
    return Planner(cfg, fakes.fns(), ["finetune"], StageCache(tmp_path / "run")).build()


def test_bf16_enters_only_the_forward_pass_stage_keys(tmp_path, fakes):
    fp32 = {s.id: s.key for s in _stages(tmp_path, fakes)}
    default = {s.id: s.key for s in _stages(tmp_path, fakes, precision="fp32")}
    assert fp32 == default and not any("precision" in k for k in fp32.values())
    bf16 = _stages(tmp_path, fakes, precision="bf16", device="cuda")
    assert {s.kind for s in bf16 if "precision" in s.key} == set(PRECISION_STAGES)
    for s in bf16:
        assert ("precision" in s.key) == (s.kind in PRECISION_STAGES)
        if s.kind in ("data", "train"):
            assert s.key == fp32[s.id]


@pytest.mark.parametrize("kw", [{}, {"device": "cpu"}, {"devices": ("cuda:0", "cpu")},
                                {"device": "cuda", "requests": 2}])
def test_bf16_needs_cuda_and_one_shot_unlearning(kw):
    with pytest.raises(ValidationError, match="precision bf16"):
        RunConfig(precision="bf16", **kw)


def test_cli_refuses_bf16_without_cuda_in_one_line(tmp_path, capsys):
    assert main(["run", "--preset", "tiny", "--out", str(tmp_path / "r"), "--precision", "bf16"]) != 0
    err = capsys.readouterr().err
    assert "--precision bf16 needs a CUDA --device or --devices" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()
