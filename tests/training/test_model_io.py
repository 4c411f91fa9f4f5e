"""Model I/O: our saved folders load in plain open_clip; pickled payloads are refused, never run."""

from __future__ import annotations

import pickle

import open_clip
import pytest
import torch

from salmubench.errors import CheckpointError
from salmubench.models import create_model, load_model, save_model


def test_saved_model_loads_in_plain_open_clip(tmp_path):
    bundle = create_model("salmu-test", seed=3)
    digest = save_model(bundle, tmp_path / "m", extra={"role": "compromised"})
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{tmp_path / 'm'}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{tmp_path / 'm'}")
    assert tokenizer.context_length == bundle.context_length
    images = torch.randn(3, 3, 32, 32)
    tokens = bundle.tokenizer(["a red square", "Ana lives in Lima", "x"])
    model.eval(), bundle.model.eval()
    with torch.no_grad():
        assert torch.allclose(model.encode_image(images), bundle.model.encode_image(images), atol=1e-6)
        assert torch.allclose(model.encode_text(tokens), bundle.model.encode_text(tokens), atol=1e-6)
    again = load_model(tmp_path / "m")
    assert again.checkpoint_sha256 == digest and again.arch == "salmu-test"


class _Payload:
    """Unpickling this object would create ``marker`` (stands in for arbitrary code)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "open_clip_pytorch_model.bin"
    state = {k: v for k, v in create_model("salmu-test", seed=0).model.state_dict().items()}
    torch.save({"state_dict": state, "evil": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_model(path, arch="salmu-test")
    assert not marker.exists()
    with pytest.raises(CheckpointError):  # the same through a folder + arch name
        load_model(tmp_path, arch="salmu-test")
    assert not marker.exists()
    raw = tmp_path / "raw.bin"  # a bare pickle (not a torch zip) too
    raw.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(CheckpointError):
        load_model(raw, arch="salmu-test")
    assert not marker.exists()


def test_weights_only_checkpoint_with_arch_loads(tmp_path):
    bundle = create_model("salmu-test", seed=1)
    torch.save({"state_dict": {f"module.{k}": v for k, v in bundle.model.state_dict().items()}}, tmp_path / "ck.pt")
    loaded = load_model(tmp_path / "ck.pt", arch="salmu-test")
    a, b = bundle.model.state_dict(), loaded.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_saved_weights_are_byte_identical_across_processes(tmp_path):
    """Same weights -> same file bytes -> same sha256, whichever process writes them (safetensors
    stores metadata in a per-process randomly ordered map, so more than one key would vary)."""
    import subprocess
    import sys

    script = ("import sys; from salmubench.models import create_model, save_model; "
              "print(save_model(create_model('salmu-test', seed=0), sys.argv[1]))")
    digests = {subprocess.run([sys.executable, "-c", script, str(tmp_path / f"m{i}")], check=True,
                              capture_output=True, text=True).stdout.split()[-1] for i in range(4)}
    assert len(digests) == 1
    assert len({(tmp_path / f"m{i}" / "open_clip_model.safetensors").read_bytes() for i in range(4)}) == 1
