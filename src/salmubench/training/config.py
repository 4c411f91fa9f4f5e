"""Typed training configuration of the reference models, and its presets (the one place they live).

Precedence: code defaults < preset < ``overrides`` (``--set key=value``). The resolved config is
written to ``train.json`` and hashed; ``--resume`` refuses a checkpoint made with another config.

``arch`` is a registered open_clip architecture name (ours, open_clip's), or a path to an open_clip
model config JSON of your own (``--set arch=path/to/my-arch.json``; or a folder holding exactly one):
it is registered with ``open_clip.add_model_config`` and the model is named by the file's stem
(``models.factory.resolve_arch``). ``train.json`` records ``arch`` as given (the path), but the config
hash (:func:`train_config_hash`) takes a path arch by its content: ``{"name": stem, "model_cfg": the
file's JSON}`` in place of the path, so moving the file does not change the hash (editing it does).
A name's hash is ``config_hash(cfg)``, unchanged.

Presets:
    * ``tiny``  -- the ``salmu-test`` architecture, a few dozen steps: tests and smoke runs.
    * ``mini``  -- the embedded default: ``salmu-tiny`` on the generator's ``mini`` data, CPU, minutes.
    * ``paper`` -- ViT-B/16 as the original references (32 epochs, AdamW, warm-up + cosine), GPU.
      Our loop holds the whole corpus in memory only for tiny images; the paper preset streams
      images through a DataLoader (``in_memory=False``). For hundreds of millions of pairs use
      ``open_clip_train`` on an export (docs/training.md).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from salmubench.config import StrictModel, build_config, config_hash
from salmubench.errors import ConfigError

Kind = Literal["compromised", "clean"]
KINDS: tuple[str, ...] = ("compromised", "clean")


class TrainConfig(StrictModel):
    """Hyper-parameters of one reference-model training run (identical for Compromised and Clean)."""

    arch: str = "salmu-tiny"  # open_clip architecture (ours: salmu-test, salmu-tiny; ViT-B-16) or a .json path
    epochs: float = Field(12.0, gt=0)  # passes over the *Compromised* corpus; sets the step count of both
    steps: int | None = Field(None, ge=1)  # explicit optimizer step count (overrides ``epochs``)
    batch_size: int = Field(256, ge=2)  # global batch (split over DDP ranks)
    lr: float = Field(1e-3, gt=0)  # peak learning rate (AdamW)
    weight_decay: float = Field(0.1, ge=0)  # decoupled; not applied to gains, biases, embeddings, logit scale
    beta1: float = 0.9
    beta2: float = 0.98  # open_clip's default for ViTs
    eps: float = 1e-6
    warmup_frac: float = Field(0.05, ge=0, lt=1)  # linear warm-up, fraction of the total steps
    min_lr_frac: float = Field(0.0, ge=0, le=1)  # cosine decays to lr * min_lr_frac
    grad_clip: float | None = Field(None, gt=0)  # max global grad norm (None: no clipping)
    sensitive_oversample: int = Field(2, ge=1)  # each sensitive pair appears this many times per epoch
    identity_mask: bool = True  # same-identity pairs in a batch are not negatives
    # Clean's batch schedule: "matched" = the Compromised schedule with the sensitive pairs left out
    # (same non-sensitive pairs at the same steps); "resample" = its own shuffled corpus (corpus.py)
    clean_schedule: Literal["matched", "resample"] = "matched"
    checkpoint_every: int = Field(200, ge=1)  # steps between resumable checkpoints
    keep_checkpoints: int = Field(1, ge=1)  # newest resumable checkpoints kept
    device: str = "cpu"  # "cpu", "cuda", "cuda:1"; under torchrun each rank uses its local GPU
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16 autocast (GPU); ~7x slower than fp32 on CPU
    threads: int | None = Field(None, ge=1)  # torch intra-op threads per process (None: cores / ranks)
    in_memory: bool = True  # preprocess every image once into RAM; False streams through a DataLoader
    workers: int = Field(0, ge=0)  # DataLoader workers when in_memory is False
    fragile_fraction: float = Field(0.1, gt=0, le=1)  # share of retain_disjoint written as the fragile set


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"arch": "salmu-test", "steps": 30, "batch_size": 64, "lr": 2e-3, "warmup_frac": 0.1,
             "checkpoint_every": 10},
    # tuned on the generator's `mini` data to show the paper's Compromised/Clean contrast in minutes
    # on 2 CPU cores (docs/training.md, "Tuning the embedded default")
    "mini": {"arch": "salmu-tiny", "epochs": 6.0, "batch_size": 256, "lr": 2e-3, "weight_decay": 0.1,
             "warmup_frac": 0.05, "sensitive_oversample": 1, "checkpoint_every": 100},
    # the original references: OpenCLIP ViT-B/16, 32 epochs (SALMUBENCH.md section 1); open_clip's
    # ViT-B/16 recipe for lr/wd/betas; batch per the GPUs available (global batch 4096 here)
    "paper": {"arch": "ViT-B-16", "epochs": 32.0, "batch_size": 4096, "lr": 5e-4, "weight_decay": 0.2,
              "warmup_frac": 0.02, "grad_clip": 1.0, "device": "cuda", "precision": "bf16",
              "in_memory": False, "workers": 8, "checkpoint_every": 1000, "sensitive_oversample": 1},
}


def train_config(preset: str = "mini", overrides: dict[str, Any] | None = None) -> TrainConfig:
    """The resolved config: ``preset`` values, then ``overrides`` on top."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown training preset {preset!r}; available: {', '.join(PRESETS)}")
    return build_config(TrainConfig, {**PRESETS[preset], **(overrides or {})}, what="training config")


def train_config_hash(cfg: TrainConfig) -> str:
    """The config hash of a training run: ``config_hash(cfg)``, with a path ``arch`` taken by its
    content (``models.factory.arch_identity``; a missing or invalid file is a ConfigError naming arch)."""
    from salmubench.models.factory import arch_identity, is_arch_file

    if not is_arch_file(cfg.arch):
        return config_hash(cfg)
    return config_hash(cfg.model_dump(mode="json") | {"arch": arch_identity(cfg.arch)})
