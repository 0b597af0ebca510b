"""Which torch device ``bench run --device`` means here (checked once, before any training), and
how many CPU threads each cell of a run takes."""

from __future__ import annotations

import os

from harness.api.errors import BenchError

HELP = "cpu, cuda, cuda:N, mps or auto (cuda when torch sees a GPU, else cpu)"


def resolve_device(name: str) -> str:
    """The torch device string for ``name``; a one-line :class:`BenchError` if it is unusable."""
    if name == "cpu":
        return "cpu"  # no torch import: runs without torch learners stay torch-free
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise BenchError(f"--device {name!r} is not a torch device; use {HELP}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BenchError(f"--device {name}: torch {torch.__version__} sees no CUDA GPU on this machine; "
                             f"use --device cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BenchError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible "
                             f"(cuda:0 … cuda:{torch.cuda.device_count() - 1})")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise BenchError(f"--device {name}: the Apple MPS backend is not available here; use --device cpu")
    elif device.type != "cpu":
        raise BenchError(f"--device {name}: device type {device.type!r} is not supported; use {HELP}")
    return str(device)


def cell_threads(jobs: int) -> int:
    """Torch threads per cell: the cores shared among ``jobs`` workers, and never more than the
    user's ``OMP_NUM_THREADS`` (README: a share of the cores per run) when that is set."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    user = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(user)) if user.isdigit() and int(user) > 0 else threads


def run_threads(jobs: int, cells: int, remote: bool = False) -> int | None:
    """The CPU threads a run of ``cells`` cells on ``jobs`` workers takes on this machine at once
    (what the busy factor weighs against other work); None where its cells train elsewhere (a
    dask cluster) or there is nothing to train."""
    return None if remote or cells < 1 else min(jobs, cells) * cell_threads(jobs)
