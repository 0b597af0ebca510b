"""--label-sigma: additive Gaussian noise of std σ·std y on regression training labels, checked
against references computed here (sin3's formula, chi-square sampling error, closed forms)."""

import ast
import sqlite3

import numpy as np
import pytest
from scipy import stats

from conftest import ROOT, one_line_error
from harness import Learner
from harness.reporting import suite_pages
from harness.protocol.cell import CellSpec, Protocol, run_cell
from harness.execution.registry import load_registry
from harness.protocol.data import fixed_test_set, gaussian_label_noise, training_set


def sin3_f(X):
    """sin3's target, written from the paper (Allen-Zhu, Li, Liang 2019, Fig. 1), not the plugin."""
    return (np.sin(3 * X[:, 0]) + np.sin(3 * X[:, 1]) + np.sin(3 * X[:, 2]) - 2) ** 2 * np.cos(7 * X[:, 3])


@pytest.fixture(scope="module")
def sin3():
    return load_registry().tasks["sin3"]


@pytest.fixture(scope="module")
def std_y():
    """std y of sin3 on 400,000 inputs uniform on S³ drawn here (relative error ≈ 0.1%)."""
    X = np.random.default_rng(12345).standard_normal((400_000, 4))
    return float(np.std(sin3_f(X / np.linalg.norm(X, axis=1, keepdims=True))))


@pytest.mark.parametrize("sigma", [0.1, 0.5])
def test_noise_is_gaussian_with_std_sigma_times_std_y(sin3, std_y, sigma):
    n = 6000
    _, y = training_set(sin3, 0, n)
    noise = gaussian_label_noise(sin3, 0, y, sigma) - y
    # the sample std of n normals has relative sd 1/√(2n) ≈ 0.9%; the harness's std y ≈ 0.5%:
    # 4% is more than 3.5 standard errors of both together
    assert np.std(noise) == pytest.approx(sigma * std_y, rel=0.04)
    assert abs(np.mean(noise)) < 4 * sigma * std_y / np.sqrt(n)
    assert stats.kstest(noise / (sigma * std_y), "norm").pvalue > 1e-3


def test_noise_is_nested_across_n_and_differs_between_seeds(sin3):
    _, y = training_set(sin3, 1, 3000)
    big = gaussian_label_noise(sin3, 1, y, 0.3) - y
    for n in (10, 1024, 1500):  # inside the first chunk, at its end, across a chunk boundary
        _, y_n = training_set(sin3, 1, n)
        np.testing.assert_array_equal(gaussian_label_noise(sin3, 1, y_n, 0.3) - y_n, big[:n])
    _, y2 = training_set(sin3, 2, 3000)
    other = gaussian_label_noise(sin3, 2, y2, 0.3) - y2
    assert abs(np.corrcoef(big, other)[0, 1]) < 0.1  # independent streams per seed
    np.testing.assert_array_equal(gaussian_label_noise(sin3, 1, y, 0.0), y)


class Oracle(Learner):
    """Predicts sin3's exact target; records the labels fit receives."""

    name = "oracle"
    parameters = {"unused": [0]}
    seen: list = []

    def fit(self, X, y, params, rng, problem):
        Oracle.seen.append(y.copy())

        class Exact:
            def predict(self, X):
                return sin3_f(X)
        return Exact()


def test_training_labels_are_noisy_and_the_test_set_is_clean(sin3):
    Oracle.seen = []
    n, sigma = 2000, 0.5
    record = run_cell(CellSpec(sin3, Oracle(), n=n, seed=3, protocol=Protocol(n_test=800, label_sigma=sigma)))
    assert record["status"] == "ok", record["error"]
    assert record["label_sigma"] == sigma
    # the exact target scores 0 on a clean test set (σ² = 0.25 relative MSE if it were noisy)
    assert record["test_score"] == pytest.approx(0.0, abs=1e-12)
    X_test, y_test = fixed_test_set(sin3, 3, 800)
    np.testing.assert_allclose(sin3_f(X_test), y_test)  # and the test set is the clean draw
    # on the noisy training labels the exact target's relative MSE is σ²/(1 + σ²) = 0.2
    # (noise variance over label variance); sampling error ≈ 0.2·√(2/n) ≈ 0.006
    assert record["train_score"] == pytest.approx(sigma ** 2 / (1 + sigma ** 2), abs=0.025)
    X, y = training_set(sin3, 3, n)
    np.testing.assert_array_equal(Oracle.seen[-1], gaussian_label_noise(sin3, 3, y, sigma))  # the refit's labels


def test_sigma_is_part_of_the_cells_identity_and_zero_keeps_old_ids(sin3):
    kr = load_registry().learners["kernel_ridge"]
    ids = {s: CellSpec(sin3, kr, 100, 0, Protocol(label_sigma=s)).cell_id for s in (0.0, 0.1, 0.5)}
    assert len(set(ids.values())) == 3
    # σ = 0 cells are the cells stored before --label-sigma existed: the committed store (written
    # by the code before this option) holds every σ = 0 cell of allen-zhu-fig1 under the same id
    reg = load_registry()
    grid = reg.suites["allen-zhu-fig1"].at()
    zero = [c.cell_id for c in suite_pages.cells(reg, grid) if c.protocol.label_sigma == 0.0]
    con = sqlite3.connect(ROOT / "leaderboards" / "store.sqlite")
    stored = {r[0] for r in con.execute("SELECT cell_id FROM cells")}
    assert len(zero) == 63 and set(zero) <= stored


def test_the_noise_functions_are_part_of_the_protocol_fingerprint():
    tree = ast.parse((ROOT / "harness" / "protocol" / "cell.py").read_text())
    listed = {f"{n.value.id}.{n.attr}" for n in ast.walk(tree) if isinstance(n, ast.Attribute)
              and isinstance(n.value, ast.Name)}
    assert {"data.gaussian_label_noise", "data.label_scale"} <= listed


def test_a_run_stores_sigma_and_the_page_names_it(bench, tmp_path):
    args = ["run", "-t", "sin3", "-l", "kernel_ridge", "-p", "kernel=rbf", "--ns", "30,60", "--seeds", "1",
            "--n-test", "100", "--jobs", "1", "--out", str(tmp_path / "lb")]
    assert bench(*args)[0] == 0
    code, out, err = bench(*args, "--label-sigma", "0.5")
    assert code == 0 and "Ran 2 of 2 cells" in out, err  # new cells, not the σ = 0 ones
    rows = sqlite3.connect(tmp_path / "store.sqlite").execute("SELECT label_sigma, n FROM cells").fetchall()
    assert sorted(rows) == [(0.0, 30), (0.0, 60), (0.5, 30), (0.5, 60)]
    page = (tmp_path / "lb" / "sin3.md").read_text()
    assert "label σ = 0.5·std y" in page and page.count("## sin3 (") == 2  # a section per condition


@pytest.mark.parametrize("args, words", [
    (["-t", "mixtures", "-l", "ntk", "--label-sigma", "0.1"],
     "--label-sigma adds Gaussian noise to regression labels; task 'mixtures' is classification — use "
     "--label-noise P"),
    (["-t", "sin3", "-l", "ntk", "--label-sigma", "-0.1"], "--label-sigma must be a finite number ≥ 0"),
    (["-t", "sin3", "-l", "ntk", "--label-sigma", "inf"], "--label-sigma must be a finite number ≥ 0"),
    (["--suite", "quick", "--label-sigma", "0.1"], "--label-sigma would change the grid of suite 'quick'"),
])
def test_bad_label_sigma_is_one_line_before_training(bench, args, words):
    code, _, err = bench("run", *args)
    assert code != 0 and words in one_line_error(err)
    assert "[1/" not in err  # nothing trained
