"""salmubench.leaderboard is pure Python: building a leaderboard (attack files included) never imports torch."""

import subprocess
import sys
from pathlib import Path

CODE = """
import sys
sys.path.insert(0, {here!r})
from lb_factory import write_run
from pathlib import Path
from salmubench.cli.main import main
run = write_run(Path({tmp!r}) / "run", seeds=(0,), attacks=True)  # attack files are read too
assert main(["leaderboard", str(run), "--quiet"]) == 0
heavy = sorted(m for m in ("torch", "open_clip", "torchvision") if m in sys.modules)
assert not heavy, heavy
"""


def test_leaderboard_does_not_import_torch(tmp_path):
    code = CODE.format(here=str(Path(__file__).parent), tmp=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
