"""Images whose header claims an enormous size: one-line DataError naming the split and row (loader,
evaluation) or a violation (validator), never PIL's DecompressionBomb traceback or a mere warning."""

from __future__ import annotations

import io
import shutil
import struct
import warnings
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from salmubench.cli.main import main
from salmubench.data import load_dataset
from salmubench.data import schema as S
from salmubench.data.tables import MAX_IMAGE_PIXELS, ImageTooLargeError, decode_image_bytes, open_image
from salmubench.data.validate import validate_dataset
from salmubench.errors import DataError


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR (with a correct CRC) claims ``width`` x ``height`` RGB pixels; its IDAT is a
    few bytes, so decoding it could never succeed: only the header is real."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def real_png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def test_the_crafted_header_is_what_pil_sees():
    with Image.open(io.BytesIO(png_claiming(9000, 9000))) as img:  # below PIL's own limit: it opens
        assert img.size == (9000, 9000)
    with pytest.raises(Image.DecompressionBombError):  # above 2x PIL's limit: PIL raises on open
        Image.open(io.BytesIO(png_claiming(100_000, 100_000)))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # PIL's own, for 10,000 px
@pytest.mark.parametrize("side", [100_000, 10_000, 9_000])  # PIL error, PIL warning only, PIL silent
def test_an_image_over_the_limit_is_one_line_whatever_pil_does(side):
    with pytest.raises(ImageTooLargeError, match=r"^forget row 7: image too large \(") as err:
        decode_image_bytes(png_claiming(side, side), "forget row 7")
    assert "\n" not in str(err.value) and f"{MAX_IMAGE_PIXELS:,} pixels" in str(err.value)
    assert isinstance(err.value, DataError)


def test_warnings_turned_errors_are_the_same_data_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's DecompressionBombWarning is then raised by Image.open
        with pytest.raises(ImageTooLargeError, match="forget row 1: image too large"):
            decode_image_bytes(png_claiming(10_000, 10_000), "forget row 1")


def test_the_limit_admits_the_data_we_read():
    assert MAX_IMAGE_PIXELS == 8192 * 8192 < Image.MAX_IMAGE_PIXELS  # PIL's warning zone is above ours
    assert decode_image_bytes(real_png(512, 384)).size == (512, 384)  # the released data: <= 512 px
    with pytest.raises(DataError, match="does not decode"):  # exactly at the limit: not refused for its size
        decode_image_bytes(png_claiming(8192, 8192))
    with pytest.raises(ImageTooLargeError):
        decode_image_bytes(png_claiming(8192, 8193))


def test_an_image_file_over_the_limit_names_the_file(tmp_path):
    path = tmp_path / "n01440764" / "ILSVRC2012_val_00000001.JPEG"
    path.parent.mkdir()
    path.write_bytes(png_claiming(100_000, 100_000))
    with pytest.raises(ImageTooLargeError, match="ILSVRC2012_val_00000001.JPEG: image too large"):
        open_image(path, str(path))


@pytest.fixture
def bomb_dataset(tiny_dataset_dir, tmp_path):
    """The tiny dataset with row 3 of the forget split replaced (rewritten with pyarrow) by a PNG claiming
    100,000 x 100,000 pixels; manifest dropped (its sha256 would flag the edited shard first)."""
    root = tmp_path / "ds"
    shutil.copytree(tiny_dataset_dir, root)
    (root / S.MANIFEST_JSON).unlink()
    shard = sorted((root / S.DATA_DIR).glob("forget-*.parquet"))[0]
    table = pq.read_table(shard)
    cells = table.column(S.COL_IMAGE).to_pylist()
    cells[3] = {"bytes": png_claiming(100_000, 100_000), "path": cells[3]["path"]}
    idx = table.column_names.index(S.COL_IMAGE)
    field = table.schema.field(idx)
    pq.write_table(table.set_column(idx, field, pa.array(cells, type=field.type)), shard)
    return root, table.column(S.COL_FILE)[3].as_py()


def test_loading_and_decoding_names_the_split_and_row(bomb_dataset):
    root, _ = bomb_dataset
    for images in ("memory", "lazy"):
        ds = load_dataset(root, images=images)
        ds.forget.decode_image(2)  # its neighbours decode
        with pytest.raises(ImageTooLargeError, match=r"^forget row 3: image too large"):
            ds.forget.decode_image(3)


def test_eval_exits_with_one_line_naming_the_split_and_row(bomb_dataset, tmp_path, capsys):
    from salmubench.models import create_model, save_model

    root, file_name = bomb_dataset
    save_model(create_model("salmu-test", seed=0), tmp_path / "model")
    code = main(["eval", "--model", str(tmp_path / "model"), "--data", str(root), "--out", str(tmp_path / "res"),
                 "--no-cache", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "Warning" not in err
    assert "forget row 3" in err and "image too large" in err
    assert not (tmp_path / "res" / "result.json").exists()


def test_validate_reports_it_as_a_violation(bomb_dataset, capsys):
    root, file_name = bomb_dataset
    rep = validate_dataset(root)
    too_large = [e for e in rep.errors if "over the limit" in e]
    assert too_large == [f"forget: 1 image(s) over the limit of {MAX_IMAGE_PIXELS:,} pixels (8192 x 8192), "
                         f"refused by the loader (e.g. {file_name})"]
    assert not any("do not decode" in e for e in rep.errors)
    assert main(["data", "validate", str(root)]) == 1
    printed = capsys.readouterr()
    assert file_name in printed.out + printed.err and "Traceback" not in printed.err
