"""Export a model as a plain open_clip checkpoint: what the authors' official evaluator consumes.

The official evaluator loads ``open_clip.create_model_and_transforms(ARCH, pretrained=FILE)``, i.e. a
``torch.save``-d state dict of plain tensors (the released Compromised model is such a file,
``open_clip_pytorch_model.bin``). :func:`export_checkpoint` writes one from anything
:func:`salmubench.models.load_model` accepts (a model folder, ``local-dir:``, ``hf-hub:``, a bare checkpoint
with an architecture name):

* a plain ``dict`` of CPU, contiguous tensors, each with its own storage (no views of larger buffers,
  no parameters, no custom classes), so ``torch.load(FILE, weights_only=True)`` reads it and
  ``open_clip.create_model(ARCH).load_state_dict(state, strict=True)`` accepts it;
* ``OUT`` ending in ``.bin`` or ``.pt`` is the file itself; any other ``OUT`` without a suffix (or an
  existing folder) is a folder that gets ``open_clip_pytorch_model.bin`` (the released name);
* written atomically, the same bytes for the same weights whatever the file is called; the architecture to pass with it is returned (:class:`Exported`). When that
  architecture is not one of open_clip's own (``salmu-tiny``, a user's ``my-arch.json``), its open_clip
  model config is written beside the weights as ``<arch>.json``: ``open_clip.add_model_config(that file)``
  registers it under the same name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch

from salmubench.errors import ConfigError
from salmubench.io_utils import atomic_path, atomic_write_json, check_out_dir, sha256_file
from salmubench.models.checkpoint import load_model
from salmubench.models.factory import ClipBundle

FOLDER_WEIGHTS = "open_clip_pytorch_model.bin"  # the released Compromised model's file name
SUFFIXES = (".bin", ".pt")


@dataclass(frozen=True)
class Exported:
    """What :func:`export_checkpoint` wrote."""

    path: Path  # the weights file
    arch: str  # the open_clip architecture name to create the model with
    builtin: bool  # True: one of open_clip's own architectures (e.g. ViT-B-16); False: see model_config
    model_config: Path | None  # <arch>.json beside the weights when the architecture is not open_clip's own
    tensors: int
    sha256: str


def export_path(out: str | os.PathLike) -> Path:
    """The weights file ``out`` names: itself when it ends in .bin / .pt, else ``out/open_clip_pytorch_model.bin``."""
    path = Path(out)
    if path.suffix in SUFFIXES and not path.is_dir():
        return path
    if path.suffix and not path.is_dir():
        raise ConfigError(f"out {path}: a checkpoint file must end in {' or '.join(SUFFIXES)} "
                          f"(or name a folder, which gets {FOLDER_WEIGHTS})")
    return path / FOLDER_WEIGHTS


def plain_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict as a plain dict of detached CPU tensors, each contiguous with its own storage."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def open_clip_builtin(arch: str) -> bool:
    """True when ``arch`` is one of open_clip's own architectures (not ours, not a user's file)."""
    from salmubench.models.factory import _from_files, list_model_configs

    return arch in open_clip.list_models() and arch not in list_model_configs() and arch not in _from_files


def export_checkpoint(model: str | os.PathLike | ClipBundle, out: str | os.PathLike,
                      arch: str | None = None) -> Exported:
    """Write ``model``'s open_clip state dict as a plain torch checkpoint at ``out`` (module docstring).

    Args:
        model: anything ``load_model`` accepts (or a loaded :class:`ClipBundle`).
        out: a ``.bin`` / ``.pt`` file, or a folder (gets ``open_clip_pytorch_model.bin``).
        arch: open_clip architecture of a bare checkpoint file (as for ``load_model``).
    """
    target = export_path(out)
    check_out_dir(target.parent, "out")
    if target.is_dir():
        raise ConfigError(f"out {target} is an existing folder, not a file; choose another name")
    bundle = model if isinstance(model, ClipBundle) else load_model(model, arch=arch)
    source = Path(str(bundle.source).removeprefix("local-dir:"))
    if source.is_file() and source.resolve() == target.resolve():
        raise ConfigError(f"out {target} is the input model file; choose another name")
    state = plain_state_dict(bundle.model)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)  # through a file object: the archive is named "archive", not after the (random) temp file
        fh.flush()
        os.fsync(fh.fileno())
    name, builtin, config = bundle.arch, open_clip_builtin(bundle.arch), None
    if not builtin:
        if name not in open_clip.list_models():  # "local-dir": a folder that recorded no name
            name = target.parent.name if target.name == FOLDER_WEIGHTS else target.stem
            name = f"{name}-exported" if name in open_clip.list_models() else name
        config = target.parent / f"{name}.json"
        atomic_write_json(config, bundle.model_cfg)
    return Exported(path=target, arch=name, builtin=builtin, model_config=config, tensors=len(state),
                    sha256=sha256_file(target))
