"""The execution environment, one module for every entry point: CPU numerics, device, threads, ranks, record.

* **CPU numerics** (below): pinned before torch / numpy load, so a seed gives the same bytes everywhere.
* **Device** (:func:`resolve_device`): ``None``/``"auto"`` = this rank's CUDA device if any, else CPU;
  under torchrun :func:`local_device` maps a given ``"cuda"`` / ``"cuda:i"`` to ``cuda:LOCAL_RANK``.
* **Threads** (:func:`default_threads`, :func:`torch_threads`): torch intra-op threads, by default the
  usable cores shared evenly by the local ranks (or by the concurrent stages of ``salmubench run --jobs``:
  :func:`default_jobs`, :func:`threads_per_job`).
* **Distributed** (:func:`init_distributed`, :class:`DistEnv`): ``torchrun`` sets ``RANK`` /
  ``WORLD_SIZE``; the process group's backend is ``nccl`` for a CUDA device and ``gloo`` otherwise.
  Training, unlearning, tuning and evaluation all take these from here.
* **Record** (:func:`environment`): package versions, platform, git SHA and the CPU numerics, written
  into every ``train.json``, ``unlearn.json`` and ``result.json``.

Reproducible CPU numerics
-------------------------

**Why.** torch, MKL (torch's BLAS on x86-64 wheels), oneDNN (convolutions) and OpenBLAS (numpy,
scikit-learn) each pick their kernels from the CPU they run on: an AVX-512 machine and an AVX2-only
machine sum floats in different orders, so the same seed gives different model bytes and slightly
different metrics. Measured on one AVX-512 machine: the tiny Compromised model trained with the
ambient capability and with ``ATEN_CPU_CAPABILITY=avx2`` had different sha256s (docs/protocol.md,
"Determinism across machines").

**What.** :func:`pin_cpu_numerics` sets, before torch / numpy are imported, the environment
variables that make every library use its AVX2 code path (the capability every x86-64 CPU since
2013 has), so CPU runs are byte-reproducible across x86-64 machines:

==========================  ===========  =============================================
variable                    value        library
==========================  ===========  =============================================
``ATEN_CPU_CAPABILITY``     ``avx2``     torch's vectorised ATen kernels
``MKL_CBWR``                ``AVX2``     MKL conditional numerical reproducibility
``MKL_ENABLE_INSTRUCTIONS`` ``AVX2``     MKL's highest instruction set
``ONEDNN_MAX_CPU_ISA``      ``AVX2``     oneDNN (conv, some matmuls)
``DNNL_MAX_CPU_ISA``        ``AVX2``     same, older name
``OPENBLAS_CORETYPE``       ``Haswell``  OpenBLAS of numpy / scipy / scikit-learn
==========================  ===========  =============================================

The pin **overrides** the ambient values (a user's ``ATEN_CPU_CAPABILITY=avx512`` would defeat its
purpose). ``SALMUBENCH_CPU_ISA=native`` opts out (faster on AVX-512, not reproducible elsewhere).
It is called from ``salmubench/__init__.py``, so every entry point (the CLI, ``torchrun -m
salmubench.cli.main`` workers, library users, the test suite) gets it, as long as torch / numpy were
not imported earlier in the process. :func:`cpu_numerics` records what actually took effect (the
capability torch reports), and every result file carries it.

Not x86-64 (e.g. aarch64): nothing is set; such machines reproduce among themselves only.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ISA_ENV = "SALMUBENCH_CPU_ISA"
DEFAULT_ISA = "avx2"
NATIVE = "native"
_PINS = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"},
}
_X86 = ("x86_64", "amd64", "i386", "i686")


def requested_isa() -> str:
    """The pin asked for: ``$SALMUBENCH_CPU_ISA`` (``avx2`` by default, or ``native``)."""
    return os.environ.get(ISA_ENV, DEFAULT_ISA).strip().lower() or DEFAULT_ISA


def pin_cpu_numerics() -> dict[str, str]:
    """Set the reproducibility variables of the module docstring; returns what was set.

    Idempotent. Warns (once) if torch was imported before with another capability, because torch
    reads its capability only once per process.
    """
    isa = requested_isa()
    if isa == NATIVE or platform.machine().lower() not in _X86:
        return {}
    if isa not in _PINS:
        raise ValueError(f"{ISA_ENV}={isa!r}: expected one of {', '.join([*_PINS, NATIVE])}")
    pins = _PINS[isa]
    os.environ.update(pins)
    if "torch" in sys.modules:
        actual = torch_capability()
        if actual and actual.lower() != isa:
            warnings.warn(f"torch was imported before salmubench and uses CPU capability {actual}, not {isa}: "
                          f"results may differ from other machines (import salmubench first)", stacklevel=2)
    return dict(pins)


def torch_capability() -> str | None:
    """The CPU capability torch's kernels use (``AVX2``, ``AVX512``, ...), None without torch."""
    if "torch" not in sys.modules:
        return None
    import torch

    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return None


def cpu_numerics() -> dict[str, str | None]:
    """What decides CPU numerics in this process (recorded in every result's environment)."""
    return {"requested": requested_isa(), "torch_capability": torch_capability(), "machine": platform.machine(),
            **{k: os.environ.get(k) for k in _PINS[DEFAULT_ISA]}}


# ---- device, threads, distributed ------------------------------------------------------------------


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: rank, world size, local rank (all 0/1/0 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when the torchrun environment variables are set for more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_distributed(device: str = "cpu") -> DistEnv:
    """Join the process group if launched by torchrun (idempotent); a single-process env otherwise.

    The backend is ``nccl`` when ``device`` is a CUDA device and ``gloo`` otherwise.
    """
    if not launched_by_torchrun():
        return DistEnv()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if str(device).startswith("cuda") else "gloo")
    return DistEnv(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def shutdown_distributed() -> None:
    """Leave the process group if one was joined (end of a torchrun command)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait for every rank (no-op single-process)."""
    if env.distributed:
        import torch.distributed as dist

        dist.barrier()


def resolve_device(device: str | None = None) -> str:
    """``device``, or for ``None`` / ``"auto"``: this rank's CUDA device (``LOCAL_RANK``) if any, else CPU."""
    if device and device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
    return "cpu"


def rank_device(device: str, env: DistEnv):
    """The torch device of this rank: ``cuda:{local_rank}`` for CUDA under torchrun, else ``device``."""
    import torch

    if str(device).startswith("cuda") and env.distributed:
        return torch.device("cuda", env.local_rank)
    return torch.device(device)


def local_device(device: str, env: DistEnv) -> str:
    """This rank's device as a string: under torchrun a CUDA ``device`` (``"cuda"``, ``"cuda:0"``, ...)
    becomes ``cuda:{LOCAL_RANK}`` and is made the current CUDA device (NCCL collectives run there);
    CPU stays CPU, and one process keeps ``device`` as given."""
    if not (str(device).startswith("cuda") and env.distributed):
        return device
    import torch

    torch.cuda.set_device(env.local_rank)
    return f"cuda:{env.local_rank}"


def default_threads(world_size: int = 1) -> int:
    """Intra-op threads per process: the usable cores shared evenly by the local ranks (>= 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    return max(1, cores // max(1, local))


MAX_DEFAULT_JOBS = 4
# Torch intra-op threads of one `salmubench run` stage on CPU. Fixed, not taken from the machine: CPU
# results depend on the thread count (reduction splits), so a run gives the same bytes on every machine
# and with any --jobs only if every stage runs on the same number of threads (docs/run.md).
STAGE_THREADS = 2


def default_jobs(devices: tuple[str, ...] | list[str] | None = None, threads: int = STAGE_THREADS) -> int:
    """Concurrent stages of ``salmubench run`` by default: one per device of ``devices``, else as many
    ``threads``-thread stages as the usable cores hold, at least 2 on a machine with 2 or more cores and
    at most :data:`MAX_DEFAULT_JOBS` (each worker process holds its own torch, model and data, ~2.7 GB
    peak RSS on mini).

    Two stages on 2 cores oversubscribe them (2 x 2 threads); their workers wait passively
    (:func:`worker_environment`), and a stage's single-threaded parts (loading, tokenising, saving,
    metrics) leave a core the other stage uses: the default mini run took 527 s with 2 jobs against
    641 s with 1 (docs/performance.md). The numbers do not change (the same threads per stage)."""
    if devices:
        return len(devices)
    cores = default_threads()
    floor = 2 if cores >= 2 else 1
    return max(floor, min(MAX_DEFAULT_JOBS, cores // max(1, threads)))


def worker_environment(jobs: int, threads: int) -> dict[str, str]:
    """Environment overrides of the worker processes of ``run --jobs``: ``OMP_WAIT_POLICY=PASSIVE``
    when ``jobs * threads`` exceeds the usable cores (and the user did not set it).

    OpenMP threads spin while they wait for work; with more threads than cores a spinning thread
    takes the core another stage's thread needs (measured on 2 cores: two 2-thread training steps at
    once ran at 1.86 s/step each spinning, 0.73 s/step passive, against 0.41 s/step alone). The wait
    policy changes no number (the default mini run with 2 passive jobs matched the 1-job run file for
    file; docs/performance.md)."""
    if jobs * threads <= default_threads() or "OMP_WAIT_POLICY" in os.environ:
        return {}
    return {"OMP_WAIT_POLICY": "PASSIVE"}


@contextlib.contextmanager
def environ(overrides: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``overrides`` for the block (e.g. while starting a child process); restored after."""
    before = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def stage_threads(threads: int | None) -> int:
    """Torch intra-op threads of every stage, whatever the number of concurrent jobs: ``threads``, or
    :data:`STAGE_THREADS`. Never split by the jobs, so ``--jobs`` does not change any number."""
    return threads or STAGE_THREADS


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block on ``threads`` torch intra-op threads (None: leave torch's setting); restore after."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---- the environment record ------------------------------------------------------------------------

PACKAGES = ("salmubench", "open_clip_torch", "torch", "numpy", "scikit-learn", "scipy", "pyarrow", "pillow")


def environment() -> dict[str, Any]:
    """What defines the numbers of a run: Python, platform, package versions (distribution names),
    the git SHA of a source checkout, and :func:`cpu_numerics`. The one recorder of every output file."""
    from importlib.metadata import PackageNotFoundError, version

    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in PACKAGES:
        try:
            env[dist] = version(dist)
        except PackageNotFoundError:
            continue
    sha = git_sha()
    if sha:
        env["git_sha"] = sha
    env["cpu_numerics"] = cpu_numerics()
    return env


def git_sha() -> str | None:
    """The git commit of the salmubench source tree, when it is a checkout (else None)."""
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None
