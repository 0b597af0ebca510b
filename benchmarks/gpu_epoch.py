"""What one epoch of the allen-zhu-fig1 paper-scale networks costs on a GPU, against the same
machine's CPU (issue #14 item 5, issue #13's paper scale): is the GPU's work arithmetic, or the
dispatch of many small kernels?

Each of the suite's five network curves (sin3, width 2000, init "paper", momentum 0.9, batch 50,
the 3-lr grid of the paper scale), N = 10,000 (8,000 train / 2,000 validation), E epochs per
configuration with nothing stopping early, one process: the batched program (the default) and
the loop (one configuration at a time) on ``--device`` (default cuda), and the batched program on
the CPU with every core as the baseline, all in this run. The float32 matmul peak of both is
measured in the same run (torch.mm, best of 5), and the 3-layer epoch's FLOPs are set against it.

    python benchmarks/gpu_epoch.py [--epochs=E] [--cpu-epochs=E] [--out=FILE.md]
    # on a machine with a GPU; writes benchmarks/gpu_epoch.md
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).parent))
from batched_sgd import epoch_flops, loop_select, lscpu  # noqa: E402  (benchmarks/ is not a package)

from harness import Problem  # noqa: E402
from harness.registry import load_registry  # noqa: E402

N, WIDTH, LRS = int(os.environ.get("GPU_EPOCH_N", 10_000)), int(os.environ.get("GPU_EPOCH_WIDTH", 2000)), [0.0005, 0.001, 0.002]
CURVES = [  # the paper scale of allen-zhu-fig1 (plugins/suites.py)
    ("three_layer_sgd", {"train": ["hidden"]}),
    ("three_layer_sgd", {"train": ["last"]}),
    ("two_layer_sgd", {"train": ["hidden"]}),
    ("two_layer_sgd", {"train": ["last"]}),
    ("three_layer_ntk", {"train_bias": [False]}),
]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def matmul_peak(device: str, size: int, reps: int = 5) -> float:
    """GFLOP/s of the best of ``reps`` float32 ``torch.mm`` of two size × size matrices."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    torch.mm(a, b)
    sync(device)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def timed_select(fn, device: str):
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


def main(epochs: int, cpu_epochs: int, device: str) -> str:
    torch.set_num_threads(os.cpu_count() or 1)
    reg = load_registry()
    X, y = reg.tasks["sin3"].sample(N, np.random.default_rng(0))
    n_val = N // 5
    X_tr, y_tr, X_va, y_va = X[n_val:], y[n_val:], X[:n_val], y[:n_val]
    problem = Problem("regression", X.shape[1])
    peaks = {device: matmul_peak(device, 8192 if device != "cpu" else 2048), "cpu": matmul_peak("cpu", 2048)}
    rows = []
    for name, extra in CURVES:
        base = reg.learners[name].with_params(init=["paper"], momentum=[0.9], width=[WIDTH], lr=LRS,
                                              weight_decay=[0.0], **extra)
        label = f"{name}[{', '.join(f'{k}={v[0]}' for k, v in extra.items())}]"
        times = {}
        for where, how, e in ((device, "batched", epochs), (device, "loop", epochs), ("cpu", "batched", cpu_epochs)):
            learner = base.with_params(epochs=[e], patience=[e]).on_device(where)
            warm = learner.with_params(epochs=[1], patience=[1])  # allocator, kernels' first launches
            grid = learner.param_grid(None, len(X_tr))
            select = (lambda lr, *a: loop_select(lr, *a)) if how == "loop" else (lambda lr, *a: lr.fit_select(*a))
            select(warm, X_tr[:500], y_tr[:500], X_va[:100], y_va[:100], warm.param_grid(None, 500),
                   np.random.default_rng(1), problem)
            args = (X_tr, y_tr, X_va, y_va, grid, np.random.default_rng(1), problem)
            _, seconds = timed_select(lambda: select(learner, *args), where)
            per = seconds / (e * len(grid))
            times[(where, how)] = per
            print(f"{label} {where} {how}: {seconds:.1f} s for {e} epochs × {len(grid)} configs "
                  f"({per:.3f} s per config-epoch)", file=sys.stderr, flush=True)
        steps = -(-len(X_tr) // 50)
        depth = 3 if name.startswith("three") else 2
        flops = epoch_flops(len(X_tr), X.shape[1], WIDTH, depth)
        gpu = times[(device, "batched")]
        rows.append([label, f"{gpu:.3f}", f"{times[(device, 'loop')]:.3f}", f"{times[('cpu', 'batched')]:.3f}",
                     f"{times[('cpu', 'batched')] / gpu:.1f}×", f"{gpu * len(LRS) / steps * 1e3:.2f}",
                     f"{flops / gpu / 1e9:.0f}" if name != "three_layer_ntk" else "–"])
    versions = f"Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}"
    gpu_name = torch.cuda.get_device_name() if device.startswith("cuda") else device
    table = tabulate(rows, [f"curve (width {WIDTH}, N = {N:,})", f"{device} batched s / config-epoch",
                            f"{device} loop", "cpu batched", "cpu / gpu", "ms per batched step (3 configs)",
                            "GFLOP/s (all-weights count)"], tablefmt="github")
    return (f"# allen-zhu-fig1 paper-scale networks: an epoch on the GPU against the CPU\n\n"
            f"Generated by `benchmarks/gpu_epoch.py --epochs={epochs} --cpu-epochs={cpu_epochs}` on {gpu_name}; "
            f"CPU: {lscpu()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads. {versions}.\n\n"
            f"float32 matmul peak (torch.mm, best of 5): **{peaks[device]:.0f} GFLOP/s** on {device} "
            f"(8192²), **{peaks['cpu']:.0f} GFLOP/s** on the CPU (2048²).\n\n"
            f"sin3, N = {N:,} ({len(X_tr):,} train, batch 50: {-(-len(X_tr) // 50)} steps an epoch), "
            f"the paper scale's 3-lr grid, one process, E epochs per configuration with nothing "
            f"stopping early. GFLOP/s counts every layer's forward and backward matmuls "
            f"(benchmarks/batched_sgd.py's `epoch_flops`; for `train=last` fewer are needed).\n\n"
            f"{table}\n")


if __name__ == "__main__":
    opts = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
    device = opts.get("device", "cuda")
    text = main(int(opts.get("epochs", 5)), int(opts.get("cpu-epochs", 1)), device)
    out = Path(opts.get("out", Path(__file__).with_name("gpu_epoch.md")))
    out.write_text(text)
    print(text)
