"""The README's walkthrough "The released benchmark on GPUs", minus the downloads, on inputs this project
did not write: a dataset in the released layout written here with plain pyarrow under Hugging Face shard
names (``data/forget-00000-of-00002-<hash>.parquet``, only the released columns and metadata files, no
manifest), 224-px model folders in the Hub's layout (``open_clip_config.json`` +
``open_clip_pytorch_model.bin``), and a tiny ImageNet-style ImageFolder. Two seeds of two methods go
through ``salmubench run`` to the leaderboard; the mistakes a new user makes get one-line errors."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from salmubench.cli.main import main

pytestmark = pytest.mark.slow

RELEASED_SPLITS = ("forget", "holdout_association", "holdout_identity", "retain_synth")
RELEASED_COLUMNS = ("image", "text", "identity_id", "file_name")
METADATA = ("identities_metadata.json", "sensitive_set_captions_metadata.json", "sensitive_set_generic_captions.json",
            "fragile_set_ids.json")
ARCH_224 = {"embed_dim": 32,
            "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "patch_size": 32},
            "text_cfg": {"context_length": 56, "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1}}


def write_released_layout(source: Path, out: Path, shards: int = 2) -> Path:
    """The released layout with pyarrow alone: each split's rows, released columns only, split into
    ``shards`` files named as the Hub names them; the metadata JSONs beside them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (out / "data").mkdir(parents=True)
    for split in RELEASED_SPLITS:
        table = pa.concat_tables([pq.read_table(p) for p in sorted((source / "data").glob(f"{split}-*.parquet"))])
        table = table.select(list(RELEASED_COLUMNS)).replace_schema_metadata(None)
        step = -(-table.num_rows // shards)
        for k in range(shards):
            part = table.slice(k * step, step)
            digest = hashlib.sha256(f"{split}{k}".encode()).hexdigest()[:8]
            pq.write_table(part, out / "data" / f"{split}-{k:05d}-of-{shards:05d}-{digest}.parquet")
    for name in METADATA:
        if (source / name).is_file():
            shutil.copy(source / name, out / name)
    return out


def write_hub_model(out: Path, seed: int) -> Path:
    """A 224-px open_clip model folder as the Hub repos hold them (no salmubench block)."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**ARCH_224)
    out.mkdir(parents=True)
    preprocess = {"mean": list(open_clip.OPENAI_DATASET_MEAN), "std": list(open_clip.OPENAI_DATASET_STD)}
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": ARCH_224, "preprocess_cfg": preprocess}))
    torch.save(model.state_dict(), out / "open_clip_pytorch_model.bin")
    return out


def write_imagefolder(out: Path) -> Path:
    """Three ImageNet classes (WordNet-id folders), two images each."""
    from PIL import Image

    for k, wnid in enumerate(("n01440764", "n01443537", "n01484850")):
        (out / wnid).mkdir(parents=True)
        for j in range(2):
            Image.new("RGB", (48, 40), (40 * k + 20 * j, 200 - 50 * k, 90)).save(out / wnid / f"{j}.JPEG")
    return out


@pytest.fixture(scope="module")
def released(tmp_path_factory, tiny_dataset_dir):
    root = tmp_path_factory.mktemp("released")
    data = write_released_layout(Path(tiny_dataset_dir), root / "salmubench-512")
    models = {kind: write_hub_model(root / "models" / kind, seed) for kind, seed in (("compromised", 1), ("clean", 2))}
    return {"data": data, "models": models, "imagenet": write_imagefolder(root / "imagenet"), "root": root}


def run_args(released, out: Path, *extra: str) -> list[str]:
    return ["run", "--data", str(released["data"]), "--compromised", str(released["models"]["compromised"]),
            "--clean", str(released["models"]["clean"]), "--out", str(out), "--no-progress", *extra]


def test_the_walkthrough_runs_to_the_leaderboard(released, tmp_path, capsys):
    assert main(["data", "validate", str(released["data"])]) == 0
    assert "OK" in capsys.readouterr().out
    out = tmp_path / "run"
    args = run_args(released, out, "--imagenet", str(released["imagenet"]), "--recipe", "none",
                    "--methods", "finetune,neg_grad", "--seeds", "0,1", "--no-attacks", "--jobs", "1")
    assert main(args) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["tier"] == "given" and set(run["given"]["models"]) == {"compromised", "clean"}
    board = json.loads((out / "leaderboard.json").read_text())
    methods = {r.get("method"): r for r in board["rows"] if r.get("method")}
    assert set(methods) == {"finetune", "neg_grad"}
    assert all(sorted(r["seeds"]) == [0, 1] and r["n_results"] == 2 for r in methods.values())
    result = json.loads((out / "results" / "compromised" / "result.json").read_text())
    assert result["gen_know_source"] == "imagenet"
    assert not (out / "data").exists()  # nothing written into or beside the given data
    assert sorted(p.name for p in released["data"].iterdir()) == sorted(["data", *[m for m in METADATA if (
        released["data"] / m).is_file()]])
    assert main(args) == 0  # the re-run is cached
    assert "cached" in capsys.readouterr().out


def test_a_bare_checkpoint_needs_its_architecture(released, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(released["models"]["compromised"] / "open_clip_pytorch_model.bin", bare / "model.bin")
    args = ["run", "--data", str(released["data"]), "--compromised", str(bare / "model.bin"),
            "--clean", str(released["models"]["clean"]), "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "architecture" in err[0]
    assert not (tmp_path / "run").exists()
