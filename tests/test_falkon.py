"""The Falkon solver (plugins/learners/kernels/nystrom.py) against independent references computed here
with numpy and scikit-learn: the exact kernel ridge solve when every point is a centre, the
direct Nyström least-squares solution with fewer centres (also at ridges ≈ 1e-8·N, where the
float32 K_nM must not spoil the float64 arithmetic), the stopping rule, the preconditioner
groups, and (slow) a whole cell at N = 100,000."""

import json
import os
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge

from plugins.learners.kernels import arccos, nystrom

ROOT = Path(__file__).resolve().parent.parent
GiB = 2**30


def sphere(rng, n, d=4):
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def sin3(X):
    return (np.sin(3 * X[:, 0]) + np.sin(3 * X[:, 1]) + np.sin(3 * X[:, 2]) - 2) ** 2 * np.cos(7 * X[:, 3])


NTK2 = partial(arccos.ntk, depth=2, bias=0.5)


def nystrom_reference(K_nM, K_MM, y, ridge):
    """argmin ‖K_nM α − y‖² + ridge · αᵀ K_MM α by numpy's SVD least squares on the stacked
    system [K_nM; √ridge · S] with SᵀS = K_MM (S from numpy's eigendecomposition): stable where
    the normal equations are not (their condition number is the square of this one's)."""
    s, U = np.linalg.eigh(K_MM)
    S = (U * np.sqrt(np.clip(s, 0.0, None))).T
    A = np.vstack([K_nM, np.sqrt(ridge) * S])
    b = np.concatenate([y, np.zeros((len(S),) + y.shape[1:])])
    return np.linalg.lstsq(A, b, rcond=None)[0]


def rel_gap(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("dtype, tol, within", [
    (np.float64, 1e-12, 1e-7),   # the solver itself: to round-off (measured 1.5e-8 at ridge 1e-8·N)
    (np.float32, None, 2e-5),    # as ntk runs it: float32 K_nM, FALKON_TOL (measured 4e-6)
])
def test_falkon_with_every_point_a_centre_is_the_exact_kernel_ridge_solve(dtype, tol, within):
    rng = np.random.default_rng(0)
    X, Z = sphere(rng, 400), sphere(rng, 100)
    Y = np.stack([sin3(X), X[:, 0] * X[:, 1]], axis=1)  # two target columns, as classification has
    ridges = [1e-8, 1e-5, 1e-2]
    path = nystrom.FalkonPath.build(NTK2, X, X, dtype)
    alphas, info = path.solve(Y, ridges, tol=tol)
    K, K_new = NTK2(X, X), NTK2(Z, X)
    for ridge, alpha, record in zip(ridges, alphas, info):
        expected = KernelRidge(alpha=ridge * len(X), kernel="precomputed").fit(K, Y).predict(K_new)
        assert rel_gap(K_new @ alpha, expected) < within, ridge
        assert record["cg_residual"] <= (tol or nystrom.FALKON_TOL)


@pytest.mark.parametrize("dtype, tol, within", [
    (np.float64, 1e-12, 1e-7),
    (np.float32, None, 1e-4),    # default tolerance and storage: measured ≤ 1.4·FALKON_TOL
])
def test_falkon_with_fewer_centres_is_the_direct_nystrom_solution(dtype, tol, within):
    rng = np.random.default_rng(1)
    X, Z = sphere(rng, 3000), sphere(rng, 500)
    y = sin3(X) - sin3(X).mean()
    C = X[rng.choice(len(X), 300, replace=False)]
    ridges = [1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1.0]   # two preconditioner groups
    alphas, info = nystrom.FalkonPath.build(NTK2, X, C, dtype).solve(y[:, None], ridges, tol=tol)
    K_nM, K_MM, K_new = NTK2(X, C), NTK2(C, C), NTK2(Z, C)
    for ridge, alpha, record in zip(ridges, alphas, info):
        expected = K_new @ nystrom_reference(K_nM, K_MM, y, ridge * len(X))
        assert rel_gap((K_new @ alpha)[:, 0], expected) < within, ridge
        assert 1 <= record["cg_iterations"] <= nystrom.FALKON_MAX_ITER


def test_float32_k_nm_keeps_a_ridge_of_1e_8_n_correct_where_float32_arithmetic_does_not():
    # The reference: the direct Nyström solution in float64. Falkon stores K_nM in float32 but
    # computes in float64, and matches it; the normal equations formed and solved in float32
    # (what "float32 arithmetic" means) do not come close at this ridge.
    rng = np.random.default_rng(2)
    X, Z = sphere(rng, 4000), sphere(rng, 500)
    y = sin3(X) - sin3(X).mean()
    C = X[rng.choice(len(X), 400, replace=False)]
    ridge = 1e-8
    K_nM, K_MM, K_new = NTK2(X, C), NTK2(C, C), NTK2(Z, C)
    expected = K_new @ nystrom_reference(K_nM, K_MM, y, ridge * len(X))
    alpha = nystrom.FalkonPath.build(NTK2, X, C).solve(y[:, None], [ridge])[0][0]
    assert rel_gap((K_new @ alpha)[:, 0], expected) < 1e-4
    K32 = K_nM.astype(np.float32)
    H32 = K32.T @ K32 + np.float32(ridge * len(X)) * K_MM.astype(np.float32)
    alpha32 = np.linalg.lstsq(H32, K32.T @ y.astype(np.float32), rcond=None)[0]
    assert rel_gap(K_new @ alpha32.astype(np.float64), expected) > 1e-2


def test_the_stopping_rule_caps_iterations_and_reports_the_residual():
    rng = np.random.default_rng(3)
    X = sphere(rng, 2000)
    path = nystrom.FalkonPath.build(NTK2, X, X[:200])
    _, capped = path.solve(sin3(X)[:, None], [1e-8], max_iter=2)
    assert capped[0]["cg_iterations"] == 2 and capped[0]["cg_residual"] > nystrom.FALKON_TOL
    _, done = path.solve(sin3(X)[:, None], [1e-8])
    assert done[0]["cg_residual"] <= nystrom.FALKON_TOL < capped[0]["cg_residual"]
    assert 2 < done[0]["cg_iterations"] < nystrom.FALKON_MAX_ITER


def test_ridges_share_a_preconditioner_within_anchor_span_three_quarters_up_each_group():
    ridges = [10.0 ** k for k in range(-10, 1)]
    groups = nystrom.anchors(ridges)
    assert (nystrom.ANCHOR_SPAN, nystrom.ANCHOR_POSITION) == (1e4, 0.75)
    # groups 1e-10…1e-6, 1e-5…1e-1 and 1: three quarters of 4 decades up is 3 decades up
    assert groups == pytest.approx([1e-7] * 5 + [1e-2] * 5 + [1.0], rel=1e-12)
    assert nystrom.anchors([1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1.0]) == pytest.approx([1e-7] * 3 + [1e-1] * 3, rel=1e-12)
    assert nystrom.anchors([0.5]) == [0.5]


def test_k_nm_is_filled_by_threads_as_one_thread_fills_it():
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(4)
    X, C = sphere(rng, 3 * nystrom.FILL_ROWS + 7), sphere(rng, 50)
    with threadpool_limits(limits=2, user_api="blas"):
        two = nystrom.kernel_rows(NTK2, X, C, np.float64)
    np.testing.assert_array_equal(two, NTK2(X, C))



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_pass_over_k_nm_is_the_float64_products(dtype, threads):
    """The threaded block passes (alternate PASS_ROWS-row blocks per thread, a partial sum each)
    give K_nMᵀ K_nM U / n, K_nMᵀ Y / n and K_nM α as numpy's whole-array float64 products."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(5)
    n = 5 * nystrom.PASS_ROWS + 3                 # a short last block, an odd number of blocks
    K = rng.random((n, 40)).astype(dtype)
    U, Y, alpha = rng.normal(size=(40, 7)), rng.normal(size=(n, 2)), rng.normal(size=(40, 3))
    path = nystrom.FalkonPath(K, np.eye(40))
    K64 = K.astype(np.float64)
    with threadpool_limits(limits=threads, user_api="blas"):
        np.testing.assert_allclose(path.normal(U), K64.T @ (K64 @ U) / n, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(path.rhs(Y), K64.T @ Y / n, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(path.outputs(alpha), K64 @ alpha, rtol=1e-12, atol=1e-12)

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_k_nm_rows_past_the_memory_budget_are_computed_in_each_pass_to_the_same_solution(monkeypatch, dtype):
    """Past HOLD_BYTES the path holds K_nM's first rows and computes the others in every pass
    (rounded to the held rows' dtype): passes, solutions and training outputs are those of the
    path that holds K_nM whole, and the held part is what the budget allows."""
    from plugins.learners.kernels.kernel_ridge import kernel_function

    rng = np.random.default_rng(6)
    X = sphere(rng, 10 * nystrom.PASS_ROWS + 5)            # the last block short, and computed
    Y = np.stack([sin3(X), X[:, 0]], axis=1)
    C = X[:70]
    for kernel in (NTK2, kernel_function("rbf", 2.0)):
        whole = nystrom.FalkonPath.build(kernel, X, C, dtype)
        itemsize = np.dtype(dtype).itemsize
        monkeypatch.setattr(nystrom, "HOLD_BYTES", 3 * nystrom.PASS_ROWS * 70 * itemsize + 1)
        part = nystrom.FalkonPath.build(kernel, X, C, dtype)
        monkeypatch.undo()
        assert whole.rest is None and part.K.shape == (3 * nystrom.PASS_ROWS, 70) and part.n == len(X)
        np.testing.assert_array_equal(part.K, whole.K[:len(part.K)])
        U = rng.normal(size=(70, 5))
        np.testing.assert_allclose(part.normal(U), whole.normal(U), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(part.rhs(Y), whole.rhs(Y), rtol=1e-12, atol=1e-14)
        ridges = [1e-8, 1e-3]
        (a_part, info_part), (a_whole, info_whole) = part.solve(Y, ridges), whole.solve(Y, ridges)
        for p, w in zip(a_part, a_whole):
            assert rel_gap(p, w) < 1e-8
            assert rel_gap(part.outputs(p), whole.outputs(w)) < 1e-8
        assert [i["cg_iterations"] for i in info_part] == [i["cg_iterations"] for i in info_whole]


@pytest.mark.parametrize("name", ["ntk", pytest.param("kernel_ridge", marks=pytest.mark.slow)])  # kernel_ridge: 2.3 s
def test_a_whole_cell_whose_k_nm_is_past_the_budget_is_the_cell_that_holds_it(monkeypatch, name):
    # Selection (with the edge search's look-ahead), refit, training and test scores through the
    # harness: holding three blocks of K_nM instead of all of it changes nothing but memory.
    from harness.protocol.cell import CellSpec, Protocol, run_cell
    from harness.execution.registry import load_registry
    from plugins.learners.kernels import kernel_ridge

    monkeypatch.setattr(nystrom, "EXACT_MAX", 0)              # the Nyström path at any N
    monkeypatch.setattr(nystrom, "CENTRES", 100)
    monkeypatch.setattr(kernel_ridge, "CENTRES", 100)
    reg = load_registry()
    learner = reg.learners[name]
    learner = (learner.with_params(depth=[2], ridge_per_n=[1e-6, 1e-3]) if name == "ntk"
               else learner.with_params(kernel=["rbf"], gamma_scale=[1.0], alpha_per_n=[1e-4, 1e-2]))
    spec = CellSpec(reg.tasks["sin3"], learner, 1500, 0, Protocol(n_test=500))
    whole = run_cell(spec, threads=1)
    monkeypatch.setattr(nystrom, "HOLD_BYTES", 3 * nystrom.PASS_ROWS * 100 * 8)
    part = run_cell(spec, threads=1)
    assert whole["status"] == part["status"] == "ok", (whole["error"], part["error"])
    assert part["chosen_params"] == whole["chosen_params"]
    assert part["test_score"] == pytest.approx(whole["test_score"], rel=1e-8)
    assert part["train_score"] == pytest.approx(whole["train_score"], rel=1e-8)


def test_the_memory_budget_caps_the_held_rows_and_the_estimate():
    m = nystrom.CENTRES
    assert nystrom.held_rows(100_000, m, 4) == 100_000          # N = 10⁵ is held whole (ntk, float32)
    held = nystrom.held_rows(1_000_000, m, 4)
    assert held % nystrom.PASS_ROWS == 0 and 4 * held * m <= nystrom.HOLD_BYTES < 4 * (held + nystrom.PASS_ROWS) * m
    # Past the budget the estimate no longer grows with N: N = 10⁶ needs what 10⁵ does, give or take the M² arrays.
    assert nystrom.falkon_bytes(10**6, m, 4) == nystrom.falkon_bytes(10**7, m, 4) < 8 * GiB


# --- A whole cell at N = 100,000 (slow): selection over the default grid on the validation
# --- split, the refit and 5,000 test points, in a fresh process on two threads.

CELL = textwrap.dedent("""
    import json, resource, sys, time
    from harness.protocol.cell import CellSpec, Protocol, run_cell
    from harness.execution.registry import load_registry
    reg = load_registry()
    spec = CellSpec(reg.tasks["sin3"], reg.learners[sys.argv[1]], 100_000, 0, Protocol(n_test=5000))
    start = time.perf_counter()
    record = run_cell(spec, threads=2)
    print(json.dumps({"status": record["status"], "error": record.get("error"), "seconds": time.perf_counter() - start,
                      "test_score": record.get("test_score"), "metrics": record.get("metrics"),
                      "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}, default=str))
""")


@pytest.mark.slow
def test_an_ntk_cell_at_n_100000_runs_in_8_gib_with_converged_cg():
    # measured 198 s and 6.88 GiB on 2 cores (benchmarks/kernel_scaling.md, section 4).
    out = subprocess.run([sys.executable, "-c", CELL, "ntk"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["status"] == "ok", r
    assert r["peak_rss"] < 8 * GiB, r
    diagnostics = r["metrics"]["diagnostics"]
    assert diagnostics["cg_residual"] <= nystrom.FALKON_TOL, diagnostics


def test_edge_extensions_are_answered_from_the_passes_of_the_first_round(monkeypatch):
    from harness import Problem
    from harness.execution.registry import load_registry

    monkeypatch.setattr(nystrom, "EXACT_MAX", 0)
    monkeypatch.setattr(nystrom, "CENTRES", 10**9)   # every training point a centre: exact reference
    builds = []
    build = nystrom.FalkonPath.build.__func__
    monkeypatch.setattr(nystrom.FalkonPath, "build",
                        classmethod(lambda cls, *a, **k: builds.append(1) or build(cls, *a, **k)))
    rng = np.random.default_rng(5)
    X, X_val = sphere(rng, 300), sphere(rng, 80)
    y, y_val, problem = sin3(X), sin3(X_val), Problem("regression", 4)
    learner = load_registry().learners["ntk"].with_params(depth=[2], ridge_per_n=[1e-6, 1e-4])
    learner.fit_select(X, y, X_val, y_val, learner.param_grid(None, 380), rng, problem)
    # what the edge search asks next from the low edge 1e-6 (step 100), and from beyond it
    for ridge in (1e-8, 1e-10):
        ext = learner.fit_select(X, y, X_val, y_val, [{"depth": 2, "bias": 0.5, "ridge_per_n": ridge}], rng, problem)
        expected = KernelRidge(alpha=ridge * len(X), kernel="precomputed").fit(NTK2(X, X), y - y.mean())
        mse = np.mean((expected.predict(NTK2(X_val, X)) + y.mean() - y_val) ** 2)
        assert ext.trials[0]["val_score"] == pytest.approx(mse, rel=1e-4)
    assert len(builds) == 1
    # another ridge, or other data, builds anew
    learner.fit_select(X, y, X_val, y_val, [{"depth": 2, "bias": 0.5, "ridge_per_n": 3e-7}], rng, problem)
    learner.fit_select(X, y + 1.0, X_val, y_val, [{"depth": 2, "bias": 0.5, "ridge_per_n": 1e-8}], rng, problem)
    assert len(builds) == 3
    # so does another cell on the same data (another rng): what it gets must not depend on
    # which cells ran before it in this process
    learner.fit_select(X, y, X_val, y_val, learner.param_grid(None, 380), np.random.default_rng(5), problem)
    learner.fit_select(X, y, X_val, y_val, [{"depth": 2, "bias": 0.5, "ridge_per_n": 1e-8}],
                       np.random.default_rng(5), problem)
    assert len(builds) == 5


@pytest.mark.parametrize("name, params", [
    ("ntk", {"depth": 3, "bias": 0.5, "ridge_per_n": 1e-8}),
    ("kernel_ridge", {"kernel": "rbf", "gamma_scale": 1.0, "alpha_per_n": 1e-6}),
])
def test_the_training_outputs_a_fit_keeps_are_its_predictions(monkeypatch, name, params):
    # The harness scores the refit on the array it was fitted on; the model answers from the
    # K_nM of its fit instead of recomputing N × M kernel values. A copy of the array is
    # predicted the ordinary way.
    from harness import Problem
    from harness.execution.registry import load_registry

    monkeypatch.setattr(nystrom, "EXACT_MAX", 0)
    monkeypatch.setattr(nystrom, "CENTRES", 200)
    rng = np.random.default_rng(6)
    X = sphere(rng, 1500)
    model = load_registry().learners[name].fit(X, sin3(X), params, rng, Problem("regression", 4))
    kept, recomputed = model.predict(X), model.predict(X.copy())
    # float32 K_nM against float64 kernel values, amplified by the large coefficients of a tiny
    # ridge: measured 6e-6 of the largest output, ≤ 4e-10 of a relative MSE
    assert rel_gap(kept, recomputed) < 2e-5
    assert model.diagnostics()["cg_residual"] <= nystrom.FALKON_TOL


@pytest.mark.parametrize("kernel", [NTK2, partial(arccos.ntk, depth=3, bias=0.0)])
def test_the_centres_kernel_filled_on_threads_is_the_kernels_own_square_call(kernel):
    from threadpoolctl import threadpool_limits

    C = sphere(np.random.default_rng(7), 2 * nystrom.FILL_ROWS + 13)
    with threadpool_limits(limits=2, user_api="blas"):
        K = nystrom.kernel_square(kernel, C)
    expected = kernel(C, C)
    # The exact diagonal: within a rounding of the kernel's own square call (whose blocks, and so
    # the x·x products BLAS forms, may be cut differently), where arccos of a cos θ left at
    # 1 ± 1e-16 would be off by ~1e-8.
    np.testing.assert_allclose(np.diag(K), np.diag(expected), rtol=4e-16, atol=0)
    np.testing.assert_allclose(K, expected, rtol=1e-13, atol=0)
