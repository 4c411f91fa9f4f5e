"""Train a reference model (Compromised or Clean) from scratch: ``train_reference``.

The two references differ only in their corpus (corpus.py): same architecture, seed (same initial
weights), config, batch order generator and number of optimizer steps. The result is a model folder
in open_clip's local-dir layout plus ``train.json`` (resolved config, steps, seconds, data
fingerprint, weights sha256). Works single-process or under ``torchrun`` (DDP, distributed.py).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from salmubench.data.dataset import SalmuDataset
from salmubench.data.loading import load_dataset
from salmubench.errors import ConfigError
from salmubench.io_utils import atomic_write_json, check_out_dir, read_json
from salmubench.models import ClipBundle, create_model, save_model
from salmubench.progress import OnProgress, Task
from salmubench.runtime import DistEnv, barrier, default_threads, environment, init_distributed, rank_device
from salmubench.training.checkpointing import TrainState, list_checkpoints, remove_checkpoints
from salmubench.training.config import KINDS, TrainConfig, train_config, train_config_hash
from salmubench.training.corpus import Corpus, build_corpus, corpus_size, total_steps
from salmubench.training.loop import LoopResult, make_optimizer, resume_state, train_loop

log = logging.getLogger(__name__)
TRAIN_JSON = "train.json"
TRAIN_SCHEMA = "salmubench.train/1"


def _check_out_dir(out: Path, resume: bool) -> bool:
    """True if ``out`` already holds the finished model of this run (resume); errors if reuse is unsafe."""
    if (out / TRAIN_JSON).is_file():
        if resume:
            return True
        raise ConfigError(f"out_dir {out} already holds a trained model; choose another out_dir "
                          f"(or pass resume=True to keep it)")
    if list_checkpoints(out) and not resume:
        raise ConfigError(f"out_dir {out} holds an interrupted run; pass resume=True to continue it, "
                          f"or choose another out_dir")
    return False


def _setup_torch(cfg: TrainConfig, env: DistEnv) -> torch.device:
    torch.set_num_threads(cfg.threads or default_threads(env.world_size))
    device = rank_device(cfg.device, env)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' requested but no CUDA device is available (use device 'cpu')")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    return device


def _wrap_ddp(model: torch.nn.Module, env: DistEnv, device: torch.device) -> torch.nn.Module:
    if not env.distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def _record(kind: str, preset: str, seed: int, cfg: TrainConfig, ds: SalmuDataset, corpus: Corpus,
            result: LoopResult, digest: str, env: DistEnv, prep_seconds: float) -> dict[str, Any]:
    seconds = result.state.seconds + result.seconds
    return {
        "schema": TRAIN_SCHEMA,
        "kind": kind,
        "preset": preset,
        "seed": seed,
        "config": cfg.model_dump(mode="json"),
        "config_hash": train_config_hash(cfg),
        "steps": result.total_steps,
        "epochs_over_own_corpus": round(result.total_steps * cfg.batch_size / len(corpus), 3),
        "seconds": round(seconds, 2),
        "prep_seconds": round(prep_seconds, 2),
        "samples_per_second": round(result.samples / max(result.seconds, 1e-9), 1),
        "world_size": env.world_size,
        "dataset": {"root": str(ds.root), "fingerprint": ds.fingerprint, "corpus": corpus.parts,
                    "corpus_pairs": corpus.real_pairs, "corpus_positions": len(corpus),
                    "compromised_corpus_pairs": corpus_size(ds, "compromised", cfg.sensitive_oversample),
                    "truncated_captions": corpus.truncated},
        "sha256": digest,
        "loss": {"first": result.state.losses[0][1] if result.state.losses else None,
                 "last": result.state.losses[-1][1] if result.state.losses else None,
                 "curve": result.state.losses},
        "execution": {"device": cfg.device, "threads": torch.get_num_threads()},
        "env": environment(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def train_reference(kind: str, data_dir: str | os.PathLike, out_dir: str | os.PathLike, preset: str = "mini",
                    seed: int = 0, resume: bool = False, on_progress: OnProgress | None = None,
                    overrides: dict[str, Any] | None = None, stop_after: int | None = None) -> Path:
    """Train the ``kind`` ("compromised" | "clean") reference model from scratch; returns its folder.

    Args:
        kind: "compromised" (retain + all sensitive splits) or "clean" (retain only).
        data_dir: SALMUBench dataset directory (ours or the released layout).
        out_dir: model folder to create (open_clip local-dir layout + train.json + checkpoints/).
        preset: training preset (config.PRESETS): tiny, mini, paper.
        seed: model initialisation and batch order seed (same for both references).
        resume: continue from the newest checkpoint in ``out_dir`` (bit-identical on CPU).
        on_progress: progress callback (``salmubench.progress``; rank 0 only): image preparation, then steps.
        overrides: config values on top of the preset (``--set key=value``).
        stop_after: stop after this many steps with a checkpoint (simulated crash; tests).
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown reference kind {kind!r}; choose one of {', '.join(KINDS)}")
    cfg = train_config(preset, overrides)
    out = check_out_dir(out_dir, "out_dir", inputs={"data_dir": data_dir})
    if _check_out_dir(out, resume):
        return out
    chash = train_config_hash(cfg)  # first: a path arch that is missing or invalid fails here, in one line
    env = init_distributed(cfg.device)
    if cfg.batch_size % env.world_size:
        raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by the {env.world_size} ranks")
    device = _setup_torch(cfg, env)
    t0 = time.perf_counter()
    # an in-memory corpus decodes every image once, in order: the encoded images can stay in their shards
    # (lazy); a streamed corpus reads random rows every step, so they are held in memory
    ds = load_dataset(data_dir, images="lazy" if cfg.in_memory else "memory")
    bundle = create_model(cfg.arch, seed=seed, device="cpu")
    on_progress = on_progress if env.is_main else None
    title = f"{kind} ({bundle.arch})"
    prep_task = Task(on_progress, f"preparing {title}", corpus_size(ds, kind, 1)).start()
    corpus = build_corpus(ds, kind, bundle, cfg, progress=prep_task.advance)
    steps = total_steps(ds, cfg)
    bundle.model.to(device)
    optimizer = make_optimizer(bundle.model, cfg)
    state = resume_state(out, bundle.model, optimizer, chash) if resume else TrainState()
    model = _wrap_ddp(bundle.model, env, device)
    prep = time.perf_counter() - t0
    step_task = Task(on_progress, f"training {title}", steps).start(state.step)

    def report(step: int, loss: float, samples_per_second: float) -> None:
        step_task.update(step, f"loss {loss:.3f}, {samples_per_second:.0f} samples/s")

    result = train_loop(model, optimizer, corpus, cfg, steps, seed, out, chash, state, env, device,
                        reporter=report, stop_after=stop_after)
    if result.state.step < steps:
        return out
    if env.is_main:
        _finish(out, bundle, kind, preset, seed, cfg, ds, corpus, result, env, prep)
    barrier(env)
    return out


def _finish(out: Path, bundle: ClipBundle, kind: str, preset: str, seed: int, cfg: TrainConfig, ds: SalmuDataset,
            corpus: Corpus, result: LoopResult, env: DistEnv, prep: float) -> None:
    bundle.model.eval()
    digest = save_model(bundle, out, extra={"role": kind, "seed": seed, "preset": preset,
                                            "config_hash": train_config_hash(cfg), "data_fingerprint": ds.fingerprint})
    atomic_write_json(out / TRAIN_JSON, _record(kind, preset, seed, cfg, ds, corpus, result, digest, env, prep))
    remove_checkpoints(out)


def read_train_record(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``train.json`` of a reference model folder."""
    path = Path(model_dir) / TRAIN_JSON
    if not path.is_file():
        raise ConfigError(f"{model_dir}: no {TRAIN_JSON} (not a trained reference model)")
    return read_json(path)
