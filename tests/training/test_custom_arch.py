"""An architecture from a user's open_clip model config JSON (``--set arch=path/to/arch.json``): trained
by its stem's name, saved so that plain open_clip loads it without the JSON; bad files are one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import open_clip
import pytest
from safetensors.torch import load_file

from salmubench.config import config_hash
from salmubench.errors import ConfigError
from salmubench.models.factory import CONFIG_DIR, create_model, is_arch_file, resolve_arch
from salmubench.training.config import train_config, train_config_hash
from salmubench.training.reference import read_train_record, train_reference

NAME = "test-custom-arch-e40"  # registered in open_clip for the rest of the test session
FAST = {"steps": 3, "batch_size": 32, "checkpoint_every": 100}

# plain open_clip, in a fresh process that never imports salmubench nor registers the custom JSON
PLAIN_OPEN_CLIP = """
import json, sys
import open_clip, torch
folder = sys.argv[1]
model, preprocess = open_clip.create_model_from_pretrained(f"local-dir:{folder}")
tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
with torch.no_grad():
    img = model.encode_image(torch.zeros(1, 3, 32, 32))
    txt = model.encode_text(tokenizer(["a red square"]))
print(json.dumps({"image_dim": img.shape[-1], "text_dim": txt.shape[-1], "salmubench": "salmubench" in sys.modules,
                  "registered": sys.argv[2] in open_clip.list_models(),
                  "text_projection_sum": float(model.text_projection.sum())}))
"""


def custom_cfg() -> dict:
    """The packaged salmu-test architecture, shrunk: embed 40 (salmu-test: 64), text width 32."""
    cfg = json.loads((CONFIG_DIR / "salmu-test.json").read_text())
    cfg["embed_dim"] = 40
    cfg["text_cfg"]["width"] = 32
    return cfg


@pytest.fixture
def arch_file(tmp_path):
    path = tmp_path / "arch" / f"{NAME}.json"
    path.parent.mkdir()
    path.write_text(json.dumps(custom_cfg(), indent=2))
    return path


def test_train_with_a_custom_arch_json_and_load_it_with_plain_open_clip(arch_file, toy_data, tmp_path,
                                                                        one_torch_thread):
    from salmubench.cli.main import main

    out = tmp_path / "clean"
    sets = [f"arch={arch_file}", *(f"{k}={v}" for k, v in FAST.items())]
    code = main(["train", "--kind", "clean", "--data", str(toy_data), "--out", str(out), "--preset", "tiny",
                 *[a for s in sets for a in ("--set", s)], "--no-progress"])
    assert code == 0
    saved = json.loads((out / "open_clip_config.json").read_text())
    assert saved["model_cfg"] == custom_cfg() and saved["salmubench"]["arch"] == NAME
    record = read_train_record(out)
    assert record["config"]["arch"] == str(arch_file) and record["steps"] == 3
    # the hash takes the file by its content: a copy elsewhere (or its folder) hashes the same
    moved = shutil.copytree(arch_file.parent, tmp_path / "elsewhere")
    cfg = train_config("tiny", {**FAST, "arch": str(arch_file)})
    assert record["config_hash"] == saved["salmubench"]["config_hash"] == train_config_hash(cfg)
    assert train_config_hash(train_config("tiny", {**FAST, "arch": str(moved / arch_file.name)})) == train_config_hash(cfg)
    assert train_config_hash(train_config("tiny", {**FAST, "arch": str(moved)})) == train_config_hash(cfg)
    assert train_config_hash(cfg) != config_hash(cfg)
    proc = subprocess.run([sys.executable, "-c", PLAIN_OPEN_CLIP, str(out), NAME], capture_output=True, text=True,
                          check=True, timeout=300)
    plain = json.loads(proc.stdout.strip().splitlines()[-1])
    assert plain["image_dim"] == plain["text_dim"] == 40  # the custom architecture, not salmu-test's 64
    assert not plain["salmubench"] and not plain["registered"]
    weights = load_file(str(out / "open_clip_model.safetensors"))
    assert plain["text_projection_sum"] == pytest.approx(float(weights["text_projection"].sum()), rel=1e-6)


def test_custom_arch_in_the_library_and_registered_names_unchanged(arch_file):
    bundle = create_model(str(arch_file), seed=0)
    assert bundle.arch == NAME and bundle.model_cfg == custom_cfg() and NAME in open_clip.list_models()
    assert create_model(str(arch_file.parent), seed=0).arch == NAME  # a folder holding one config
    # registered names are taken as names (never as paths), and their hash is config_hash's
    for name in ("salmu-test", "salmu-tiny", "ViT-B-16", NAME):
        assert not is_arch_file(name) and resolve_arch(name) == name
    for preset in ("tiny", "mini", "paper"):
        cfg = train_config(preset)
        assert train_config_hash(cfg) == config_hash(cfg)


@pytest.mark.parametrize("content, match", [
    (None, "arch: model config file not found"),
    ('{"model": "ViT", "width": 3}', r"arch: .* is not an open_clip model config \(needs embed_dim, vision_cfg, text_cfg"),
    ('{"embed_dim": 8, "vision_cfg": 3, "text_cfg": {}}', "arch: .* is not an open_clip model config"),
    ("[1, 2]", "arch: .* is not an open_clip model config"),
    ("{not json", "arch: .* is not a readable JSON file"),
])
def test_a_bad_arch_file_is_a_one_line_config_error(tmp_path, toy_data, capsys, content, match):
    from salmubench.cli.main import main

    path = tmp_path / "bad-arch-file.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=match):
        train_reference("clean", toy_data, tmp_path / "m", preset="tiny", overrides={**FAST, "arch": str(path)})
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())
    capsys.readouterr()
    code = main(["train", "--kind", "clean", "--data", str(toy_data), "--out", str(tmp_path / "c"),
                 "--preset", "tiny", "--set", f"arch={path}", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "arch" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "bad-arch-file" not in open_clip.list_models()


def test_arch_folders_and_names_that_would_replace_a_registered_one(tmp_path):
    with pytest.raises(ConfigError, match=r"arch: folder .* exactly one .*found: none"):
        create_model(str(tmp_path))
    for stem in ("a", "b"):
        (tmp_path / f"{stem}-custom-arch.json").write_text(json.dumps(custom_cfg()))
    with pytest.raises(ConfigError, match=r"found: a-custom-arch.json, b-custom-arch.json"):
        create_model(str(tmp_path))
    ours = tmp_path / "ours" / "salmu-test.json"  # our name with another config: refused
    ours.parent.mkdir()
    ours.write_text(json.dumps(custom_cfg()))
    with pytest.raises(ConfigError, match="would replace the registered architecture 'salmu-test'"):
        create_model(str(ours))
    assert open_clip.get_model_config("salmu-test")["embed_dim"] == 64
    shutil.copy(CONFIG_DIR / "salmu-test.json", ours)  # a copy of ours is ours
    assert create_model(str(ours)).arch == "salmu-test"
    with pytest.raises(ConfigError, match="unknown architecture 'nope-arch'"):
        create_model("nope-arch")
