"""The field's methods with custom training steps (SalUn's mask + restore, also in salun_ssd; SCRUB's two updates per step)
under a 2-process CPU ``torchrun``: every rank ends with the same weights and SalUn's unmasked weights
stay bit-identical to θ0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from salmubench.io_utils import read_json
from salmubench.models import load_model
from salmubench.unlearning.api import UNLEARN_FILE

DDP_SCRIPT = """
import hashlib, json, os, sys
import torch
from salmubench.unlearning.api import unlearn
method, model_dir, data_dir, out = sys.argv[1:5]
unlearn(method, model_dir, data_dir, out, budget=1.0, seed=0, recipe=None,  # code defaults (mask share)
        overrides={"forget_batch_size": 16, "retain_batch_size": 8, "weight_decay": 0.1})
from salmubench.models import load_model
import torch.distributed as dist
rank = dist.get_rank()
state = load_model(out).model.state_dict()
digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest()
with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
    json.dump({"rank": rank, "digest": digest}, fh)
"""


def torchrun(script: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["salun", "salun_ssd", "scrub"])
def test_two_process_run_of_custom_train_steps(method, compromised_dir, unlearn_data_dir, tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / method
    proc = torchrun(script, method, str(compromised_dir), str(unlearn_data_dir), str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    digests = {read_json(out / f"rank{r}.json")["digest"] for r in range(2)}
    assert len(digests) == 1  # same averaged gradients, same masks, same restores on every rank
    assert read_json(out / UNLEARN_FILE)["world_size"] == 2
    new, old = load_model(out).model.state_dict(), load_model(compromised_dir).model.state_dict()
    moved = {k for k in old if not torch.equal(new[k], old[k])}
    assert moved and "logit_scale" not in moved
    if method in ("salun", "salun_ssd"):  # with weight decay 0.1, only masked entries may move: most entries are unchanged
        changed = sum(int((new[k] != old[k]).sum()) for k in old)
        total = sum(v.numel() for v in old.values())
        assert changed <= 0.5 * total + 1
