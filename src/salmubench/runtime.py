"""Execution environment shared by every entry point: reproducible CPU numerics.

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

import os
import platform
import sys
import warnings

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
