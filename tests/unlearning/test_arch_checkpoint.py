"""A bare checkpoint (``.bin`` state dict) is unlearned with ``arch`` (library) / ``--arch`` (CLI); without
it the error is one line (issue 21, item 3)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from salmubench.cli.main import main
from salmubench.errors import CheckpointError
from salmubench.io_utils import read_json
from salmubench.models import load_model
from salmubench.unlearning.api import UNLEARN_FILE, unlearn

WEIGHTS = "open_clip_model.safetensors"


@pytest.fixture(scope="module")
def bare_checkpoint(compromised_dir, tmp_path_factory):
    """The Compromised stand-in's state dict saved as a bare ``.bin`` (as the released checkpoints)."""
    path = tmp_path_factory.mktemp("bare") / "open_clip_pytorch_model.bin"
    torch.save(load_model(compromised_dir).model.state_dict(), path)
    return path


def test_bare_checkpoint_with_arch_unlearns_like_the_folder(bare_checkpoint, compromised_dir, unlearn_data_dir,
                                                            tmp_path):
    args = dict(budget=0.5, seed=3, recipe=None, threads=1)
    from_folder = unlearn("neg_grad", compromised_dir, unlearn_data_dir, tmp_path / "folder", **args)
    from_file = unlearn("neg_grad", bare_checkpoint, unlearn_data_dir, tmp_path / "file", arch="salmu-test", **args)
    a, b = load_file(from_folder / WEIGHTS), load_file(from_file / WEIGHTS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the same weights, the same run
    record = read_json(from_file / UNLEARN_FILE)
    assert record["base_model"] == {"source": str(bare_checkpoint), "arch": "salmu-test"}
    assert load_model(from_file).arch == "salmu-test"


def test_bare_checkpoint_without_arch_is_one_line(bare_checkpoint, unlearn_data_dir, tmp_path, capsys):
    with pytest.raises(CheckpointError, match="architecture name"):
        unlearn("neg_grad", bare_checkpoint, unlearn_data_dir, tmp_path / "lib", recipe=None)
    base = ["unlearn", "--method", "neg_grad", "--model", str(bare_checkpoint), "--data", str(unlearn_data_dir),
            "--recipe", "none", "--budget", "0.5", "--threads", "1", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "x")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--arch" in err
    assert main([*base, "--out", str(tmp_path / "y"), "--arch", "salmu-test"]) == 0
    assert read_json(tmp_path / "y" / UNLEARN_FILE)["base_model"]["arch"] == "salmu-test"


def test_sequential_and_root_entries_take_arch(bare_checkpoint, unlearn_data_dir, tmp_path):
    import salmubench

    out = salmubench.unlearn("neg_grad", bare_checkpoint, unlearn_data_dir, tmp_path / "seq", budget=0.5,
                             recipe=None, requests=2, evaluate_steps=False, arch="salmu-test", threads=1)
    record = read_json(out / UNLEARN_FILE)
    assert record["base_model"]["arch"] == "salmu-test" and record["sequential"]["requests"]["k"] == 2


def test_cli_unlearn_imagenet_needs_requests(compromised_dir, unlearn_data_dir, tmp_path, capsys):
    code = main(["unlearn", "--method", "neg_grad", "--model", str(compromised_dir), "--data", str(unlearn_data_dir),
                 "--out", str(tmp_path / "x"), "--recipe", "none", "--imagenet", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "--requests" in err
