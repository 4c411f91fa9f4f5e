"""The quantizer on hand-made tensors: exact levels, per-row scales, 1-D parameters and logit_scale untouched."""

import pytest
import torch
from torch import nn

from salmubench.attacks.suite.quantize import quantize_model, quantize_tensor


def test_exact_levels_per_row_at_4_and_8_bits():
    # row maxima 7 and 14: scales 1 and 2 at 4 bits (levels +-7), exact in float32
    w = torch.tensor([[7.0, -3.5, 0.5, 2.5], [14.0, 5.0, -3.0, 1.0]])
    q4 = quantize_tensor(w, 4)
    assert torch.equal(q4[0], torch.tensor([7.0, -4.0, 0.0, 2.0]))  # round half to even: -3.5 -> -4, 2.5 -> 2
    assert torch.equal(q4[1], torch.tensor([14.0, 4.0, -4.0, 0.0]))  # 2.5 -> 2, -1.5 -> -2, 0.5 -> 0 (x scale 2)
    q8 = quantize_tensor(w, 8)  # levels +-127
    levels = q8 / (w.abs().amax(dim=1, keepdim=True) / 127)
    assert torch.allclose(levels, levels.round(), atol=1e-4) and levels.abs().max() <= 127 + 1e-4
    assert ((q8 - w).abs() <= w.abs().amax(dim=1, keepdim=True) / 127 / 2 + 1e-6).all()  # within half a step
    assert q4.dtype == torch.float32


def test_max_of_each_row_is_kept_and_zero_rows_stay_zero():
    w = torch.tensor([[3.0, -1.0], [0.0, 0.0], [-5.0, 2.4]])
    q = quantize_tensor(w, 2)  # one level: {-m, 0, m}
    assert torch.equal(q, torch.tensor([[3.0, -0.0], [0.0, 0.0], [-5.0, 0.0]]))


def test_conv_and_embeddings_are_viewed_as_rows():
    w = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2) - 5
    q = quantize_tensor(w, 3)  # levels +-3
    rows = w.reshape(2, -1)
    expected = torch.clamp(torch.round(rows / (rows.abs().amax(1, keepdim=True) / 3)), -3, 3) * \
        (rows.abs().amax(1, keepdim=True) / 3)
    assert torch.allclose(q, expected.reshape(w.shape))


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 3)
        self.norm = nn.LayerNorm(3)
        self.class_embedding = nn.Parameter(torch.randn(3))
        self.logit_scale = nn.Parameter(torch.tensor(2.6592))
        self.text_projection = nn.Parameter(torch.randn(3, 5))
        self.register_buffer("attn_mask", torch.randn(2, 2))


def test_quantize_model_touches_only_matrices():
    torch.manual_seed(0)
    m = Tiny()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    quantize_model(m, 4)
    after = m.state_dict()
    for name in ("proj.bias", "norm.weight", "norm.bias", "class_embedding", "logit_scale", "attn_mask"):
        assert torch.equal(after[name], before[name]), name
    for name in ("proj.weight", "text_projection"):
        assert not torch.equal(after[name], before[name]) and torch.equal(after[name], quantize_tensor(before[name], 4))


def test_bits_must_be_at_least_2():
    with pytest.raises(ValueError):
        quantize_tensor(torch.ones(2, 2), 1)
