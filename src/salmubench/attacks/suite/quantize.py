"""quantize: post-training quantization at 8 and 4 bits. Does rounding the weights undo the forgetting?

**Threat model.** No adversary: the model is compressed for deployment. Unlearning with small
weight updates can sit below the quantization step, so the quantized unlearned model falls back
to the quantized original. Zhang et al., "Catastrophic Failure of LLM Unlearning via
Quantization" (ICLR 2025, arXiv 2410.16454): 21% of the forgotten knowledge kept at full
precision, 83% after 4-bit quantization.

**Procedure** (exactly this scheme, so independent code can reproduce it):

* every parameter with >= 2 dimensions (linear, conv, token and positional embeddings, projection
  matrices) is viewed as rows, ``w.reshape(w.shape[0], -1)``;
* each row is rounded symmetrically to the nearest level: ``scale = max|row| / (2^(b-1) - 1)``,
  ``q = clamp(round(w / scale), -(2^(b-1) - 1), 2^(b-1) - 1)``, ``w' = q * scale`` (an all-zero
  row stays zero); rounding is torch's round-half-to-even;
* 1-D parameters (biases, norms, class embedding) and ``logit_scale`` are untouched;
* the result is dequantized back to float32 before evaluation (buffers are not touched).

Then RetFail MRR and AssocStr on the forget split, at each bit width. Headline: RetFail, the worse
(larger) position of the two bit widths.

**Constants.** ``BITS = (8, 4)``.
"""

from __future__ import annotations

import torch
from torch import nn

from salmubench.attacks.base import AttackContext, AttackOutput, Measure, register_attack

BITS = (8, 4)
KEEP = ("logit_scale", "logit_bias")  # scalars kept exactly (they are 0-D / 1-D anyway)
CONSTANTS = {"bits": list(BITS), "granularity": "per row of w.reshape(w.shape[0], -1)", "symmetric": True,
             "rounding": "half to even", "untouched": "parameters with < 2 dims, logit_scale",
             "dtype_after": "float32"}


def quantize_tensor(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Row-wise symmetric round-to-nearest quantization of ``w`` (>= 2-D), dequantized to float32."""
    if bits < 2:
        raise ValueError(f"bits must be >= 2, got {bits}")
    levels = 2 ** (bits - 1) - 1
    rows = w.detach().to(torch.float32).reshape(w.shape[0], -1)
    scale = rows.abs().amax(dim=1, keepdim=True) / levels
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(rows / safe), -levels, levels)
    return (q * scale).reshape(w.shape)


@torch.no_grad()
def quantize_model(model: nn.Module, bits: int) -> nn.Module:
    """Quantize every >= 2-D parameter of ``model`` in place (see the module docstring); returns it."""
    for name, p in model.named_parameters():
        if p.ndim >= 2 and name.rpartition(".")[2] not in KEEP:
            p.copy_(quantize_tensor(p, bits).to(p.dtype))
    return model


@register_attack("quantize", kind="recovery", headline=tuple(f"ret_fail@{b}bit" for b in BITS), constants=CONSTANTS)
def quantize(ctx: AttackContext) -> AttackOutput:
    """RetFail and AssocStr on forget after 8- and 4-bit row-wise symmetric quantization."""
    before = {k: ctx.metric(k, ctx.data).value for k in ("ret_fail", "assoc_str")}
    values = {}
    for i, bits in enumerate(BITS):
        ctx.progress(f"{bits}-bit", i, len(BITS))
        emb = ctx.embeddings(quantize_model(ctx.copy_model(), bits))
        for key in ("ret_fail", "assoc_str"):
            values[f"{key}@{bits}bit"] = Measure(after=ctx.metric(key, ctx.data, emb).value, before=before[key])
    return AttackOutput(values=values, info={"bits": list(BITS)})
