"""``salmubench export-checkpoint``: a plain open_clip checkpoint that plain torch + open_clip load strictly."""

from __future__ import annotations

import json

import open_clip
import pytest
import torch

from salmubench.cli.main import main
from salmubench.errors import ConfigError
from salmubench.models import create_model, save_model
from salmubench.models.export import FOLDER_WEIGHTS, export_checkpoint, export_path, open_clip_builtin


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("m") / "model"
    bundle = create_model("salmu-test", seed=5)
    save_model(bundle, folder)
    return folder, {k: v.clone() for k, v in bundle.model.state_dict().items()}


def reload_plain(path, config):
    """What the authors' evaluator does: torch.load(weights_only=True), open_clip.create_model, strict load."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert type(state) is dict and all(type(v) is torch.Tensor for v in state.values())
    assert all(v.is_contiguous() and v.device.type == "cpu" for v in state.values())
    open_clip.add_model_config(config)  # salmu-test is not one of open_clip's own: its config is beside the file
    model = open_clip.create_model(config.stem, pretrained=None)
    model.load_state_dict(state, strict=True)
    return model


def test_export_to_a_bin_file_reloads_in_plain_open_clip(model_dir, tmp_path):
    folder, original = model_dir
    done = export_checkpoint(folder, tmp_path / "out" / "model.bin")
    assert done.path == tmp_path / "out" / "model.bin" and done.arch == "salmu-test" and not done.builtin
    assert done.model_config == tmp_path / "out" / "salmu-test.json"
    assert json.loads(done.model_config.read_text()) == open_clip.get_model_config("salmu-test")
    model = reload_plain(done.path, done.model_config)
    state = model.state_dict()
    assert state.keys() == original.keys() and done.tensors == len(original)
    assert all(torch.equal(state[k], original[k]) for k in original)


def test_a_folder_out_gets_the_released_file_name_and_pt_works(model_dir, tmp_path):
    folder, original = model_dir
    done = export_checkpoint(folder, tmp_path / "exported")
    assert done.path == tmp_path / "exported" / FOLDER_WEIGHTS
    pt = export_checkpoint(f"local-dir:{folder}", tmp_path / "x.pt")
    assert pt.path.name == "x.pt" and pt.sha256 == done.sha256  # the same bytes whatever the file name
    again = export_checkpoint(done.path, tmp_path / "again.bin", arch="salmu-test")  # a bare checkpoint + arch
    assert again.sha256 == done.sha256
    model = reload_plain(pt.path, pt.model_config)
    assert all(torch.equal(model.state_dict()[k], original[k]) for k in original)


def test_cli_prints_the_arch_and_bad_inputs_are_one_line(model_dir, tmp_path, capsys):
    folder, _ = model_dir
    assert main(["export-checkpoint", str(folder), str(tmp_path / "cli.bin")]) == 0
    out = capsys.readouterr().out
    assert "arch: salmu-test" in out and "open_clip.add_model_config(" in out and (tmp_path / "cli.bin").is_file()
    for argv, expected in [
        (["export-checkpoint", str(tmp_path / "missing"), str(tmp_path / "o.bin")], "model not found"),
        (["export-checkpoint", str(tmp_path / "cli.bin"), str(tmp_path / "o.bin")], "--arch"),
        (["export-checkpoint", str(folder), str(tmp_path / "o.safetensors")], "must end in .bin or .pt"),
        (["export-checkpoint", str(tmp_path / "cli.bin"), str(tmp_path / "cli.bin"), "--arch", "salmu-test"],
         "is the input model file"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and "Traceback" not in err, err
    assert not (tmp_path / "o.bin").exists()


def test_builtin_architectures_need_no_config(tmp_path):
    assert open_clip_builtin("ViT-B-16") and not open_clip_builtin("salmu-test")
    (tmp_path / "weights.bin").mkdir()  # an existing folder is a folder whatever its name
    assert export_path(tmp_path / "weights.bin") == tmp_path / "weights.bin" / FOLDER_WEIGHTS
    with pytest.raises(ConfigError, match="must end in .bin or .pt"):
        export_path(tmp_path / "model.safetensors")
