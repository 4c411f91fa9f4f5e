"""Multi-GPU unlearning gives the single-process answer (issue 22): a 2-process CPU ``torchrun`` (gloo) against one
process on the same global batches.

Under torchrun every rank draws the global batch, embeds its share of the rows and all-gathers the embeddings
with gradient (``salmubench.unlearning.distributed``), so contrastive losses see the global batch's negatives and
the averaged gradient is the single-process one; statistics outside the loop (``accumulate_grads``) are split by
batches and all-reduced. Measured (salmu-test, tiny dataset, CPU, 1x budget): one step's gradient agrees to
max |Δ∇| 4.8e-7 (max |∇| 4.6); after the run max |w_1proc − w_2proc| = 1.1e-5 (neg_grad), 1.8e-4 (finetune,
lr 1e-3), 8.6e-5 (shuffled_captions), 4.7e-10 (ssd): float summation order amplified by Adam's normalised
update (the code before issue 22, with local negatives, gave 4.9e-4 and 8.9e-3). Allowed: :data:`WEIGHT_TOL`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from salmubench.config import config_hash
from salmubench.io_utils import read_json
from salmubench.models import load_model
from salmubench.runtime import DistEnv
from salmubench.unlearning.api import UNLEARN_FILE, unlearn
from salmubench.unlearning.base import Budget
from salmubench.unlearning.distributed import all_reduce_mean, local_rows, sharded
from salmubench.unlearning.execute import run_identity
from salmubench.unlearning.registry import get_method

GRAD_TOL = 1e-5  # max |∇_1proc − mean_r ∇_r| of one step's CLIP-loss gradient (measured 4.8e-7, max |∇| 4.6)
WEIGHT_TOL = 5e-4  # max |w_1proc − w_2proc| after a whole run (measured: see the module docstring)
# forget batch 15 and retain batch 9 do not split evenly over 2 ranks (exercises the padding rows)
RUNS = {
    "neg_grad": {"forget_batch_size": 15},
    "finetune": {"forget_batch_size": 16, "retain_batch_size": 9},  # contrastive: CLIP loss, in-batch negatives
    "shuffled_captions": {"forget_batch_size": 16},  # contrastive on re-paired forget captions
    "ssd": {"forget_batch_size": 8, "retain_batch_size": 8, "retain_samples": 40},  # statistics, no training loop
}

SCRIPT = """
import json, sys, torch
torch.set_num_threads(1)
from salmubench.unlearning.api import unlearn
model_dir, data_dir, root, runs = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
for method, overrides in runs.items():
    unlearn(method, model_dir, data_dir, f"{root}/{method}", budget=1.0, seed=0, recipe=None, overrides=overrides)

# lazy images: the same finetune run, each rank counting the rows it decodes (its share of each batch only)
import os
import torch.distributed as dist
from salmubench.data.lazy_images import LazyImages
decoded = [0]
_decode = LazyImages._decode
def counting(self, row):
    decoded[0] += 1
    return _decode(self, row)
LazyImages._decode = counting
os.environ["SALMUBENCH_UNLEARN_IMAGES"] = "lazy"
unlearn("finetune", model_dir, data_dir, f"{root}/lazy-finetune", budget=1.0, seed=0, recipe=None,
        overrides=runs["finetune"])
del os.environ["SALMUBENCH_UNLEARN_IMAGES"]
LazyImages._decode = _decode
with open(f"{root}/decoded-{dist.get_rank()}.json", "w") as fh:
    json.dump(decoded[0], fh)

# the gradient itself: CLIP loss (in-batch negatives) of 9 retain rows split 5 + 4 (one padding row), and
# cosine loss of 1 row (rank 1 holds none), averaged, against the whole batch's gradient in this process
import torch.distributed as dist
from salmubench.data.loading import load_dataset
from salmubench.models import load_model
from salmubench.unlearning.data import build_unlearn_data
from salmubench.unlearning.distributed import sharded
from salmubench.unlearning.losses import clip_loss_of
from salmubench.unlearning.runner import all_reduce_grads
bundle = load_model(model_dir)
data = build_unlearn_data(load_dataset(data_dir, images="lazy"), bundle.preprocess, bundle.tokenizer)
model = bundle.model
model.logit_scale.requires_grad_(False)
params = [p for p in model.parameters() if p.requires_grad]
from salmubench.unlearning.losses import encode, pair_cosine
found = {}
for n, fn in ((9, clip_loss_of), (1, lambda m, p: -pair_cosine(*encode(m, p)).mean())):
    pairs = data.retain.subset(torch.arange(n))
    model.zero_grad()
    fn(model, pairs).backward()
    whole = [p.grad.clone() for p in params]
    model.zero_grad()
    with sharded(dist.get_rank(), dist.get_world_size()):
        loss = fn(model, pairs)
    loss.backward()
    all_reduce_grads(params, dist.get_world_size())
    found[n] = {"diff": max(float((p.grad - g).abs().max()) for p, g in zip(params, whole)),
                "scale": max(float(g.abs().max()) for g in whole)}
if dist.get_rank() == 0:
    with open(f"{root}/grad.json", "w") as fh:
        json.dump(found, fh)
"""


def test_local_rows_cover_the_batch_in_order():
    for n, world in ((16, 2), (15, 2), (1, 2), (5, 4), (3, 4)):
        parts = [local_rows(n, DistEnv(r, world)) for r in range(world)]
        assert [i for part in parts for i in part] == list(range(n))  # contiguous, in rank order, no row twice
        assert max(len(part) for part in parts) == -(-n // world)  # the padded shape every rank gathers


def test_one_process_is_untouched():
    t = torch.arange(4.0)
    all_reduce_mean([t], 1)  # no collective, no change
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0]
    with sharded(0, 1):
        from salmubench.unlearning.distributed import active

        assert active() is None
    cls = get_method("neg_grad")
    args = (cls, cls.config_cls(), Budget(1.0), 0, "sha", "fp", None)
    assert run_identity(*args) == run_identity(*args, world_size=1)  # every single-process hash unchanged
    assert "world_size" not in run_identity(*args)
    two = run_identity(*args, world_size=2)
    assert two["world_size"] == 2 and config_hash(two) != config_hash(run_identity(*args))


def torchrun(script: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_two_processes_match_one_process(compromised_dir, unlearn_data_dir, tmp_path):
    import json

    script = tmp_path / "dp_run.py"
    script.write_text(SCRIPT)
    proc = torchrun(script, str(compromised_dir), str(unlearn_data_dir), str(tmp_path / "two"), json.dumps(RUNS))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rows, grad in read_json(tmp_path / "two" / "grad.json").items():
        print(f"gradient of {rows} rows: max |Δ∇| = {grad['diff']:.3g}, max |∇| = {grad['scale']:.3g}")
        assert grad["diff"] <= GRAD_TOL < grad["scale"], grad  # the averaged gradient is the global batch's
    torch.set_num_threads(1)
    for method, overrides in RUNS.items():
        one = unlearn(method, compromised_dir, unlearn_data_dir, tmp_path / "one" / method, recipe=None,
                      overrides=overrides)
        two = tmp_path / "two" / method
        rec1, rec2 = read_json(one / UNLEARN_FILE), read_json(two / UNLEARN_FILE)
        assert rec2["world_size"] == 2 and "world_size" not in rec1["params"]
        assert rec2["config_hash"] != rec1["config_hash"]  # another GPU count is another run, not "already done"
        assert rec2["steps"] == rec1["steps"]
        for key in ("fwd_passes", "bwd_passes"):  # the ranks together encode exactly the single-process rows
            assert rec2["cost"][key] == rec1["cost"][key], (method, key)
        if rec1["loss_first"]:  # the logged loss is the global batch's: the same value as one process
            for key, value in rec1["loss_first"].items():
                assert rec2["loss_first"][key] == pytest.approx(value, abs=1e-5), (method, key)
        w1, w2 = load_model(one).model.state_dict(), load_model(two).model.state_dict()
        diff = max(float((w1[k].float() - w2[k].float()).abs().max()) for k in w1)
        moved = max(float((w1[k].float() - w0.float()).abs().max())
                    for k, w0 in load_model(compromised_dir).model.state_dict().items())
        print(f"{method}: max |w_1proc - w_2proc| = {diff:.3g}, max |w - w0| = {moved:.3g}")
        assert moved >= 10 * diff, method  # the difference is under a tenth of what the run moved
        assert diff <= WEIGHT_TOL, (method, diff)
    # lazy images under torchrun: the same answer, each rank decoding about half of every batch's rows
    w1 = load_model(tmp_path / "one" / "finetune").model.state_dict()
    w2 = load_model(tmp_path / "two" / "lazy-finetune").model.state_dict()
    diff = max(float((w1[k].float() - w2[k].float()).abs().max()) for k in w1)
    print(f"finetune, lazy images, 2 processes: max |w_1proc - w_2proc| = {diff:.3g}")
    assert diff <= WEIGHT_TOL
    decoded = [read_json(tmp_path / "two" / f"decoded-{r}.json") for r in (0, 1)]
    print(f"rows decoded per rank: {decoded}")
    assert all(0 < d <= 0.6 * sum(decoded) for d in decoded), decoded  # never the whole batch on both ranks


def test_each_rank_takes_its_own_gpu(monkeypatch):
    from salmubench.runtime import local_device

    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    assert local_device("cuda", DistEnv(3, 4, local_rank=1)) == "cuda:1"  # "cuda" given: still the local GPU
    assert local_device("cuda:0", DistEnv(3, 4, local_rank=1)) == "cuda:1" and chosen == [1, 1]
    assert local_device("cpu", DistEnv(3, 4, local_rank=1)) == "cpu"  # CPU stays CPU
    assert local_device("cuda", DistEnv()) == "cuda" and chosen == [1, 1]  # one process: as given
