"""Real data: scikit-learn's bundled handwritten digits (no download), and MNIST from OpenML
with a local cache — the real-data experiments of Li & Liang (2018)."""

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness import BenchError, FiniteTask, hookimpl


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data / 16.0, data.target.astype(np.int64)


class Digits(FiniteTask):
    """1,797 8×8 grey-scale digits (scikit-learn), pixels scaled to [0, 1]; 497 test points,
    so N ≤ 1,300."""

    name = "digits"
    kind = "classification"
    n_classes = 10
    test_size = 497
    description = "scikit-learn's bundled 8×8 handwritten digits (10 classes; N ≤ 1300), stand-in for MNIST"

    def load(self):
        return _digits()


def data_home() -> Path:
    """Where OpenML downloads are cached: $CONCEPTBENCH_DATA or ~/.cache/conceptbench."""
    return Path(os.environ.get("CONCEPTBENCH_DATA") or Path.home() / ".cache" / "conceptbench")


@lru_cache(maxsize=1)
def _mnist(home: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import fetch_openml

    try:
        X, y = fetch_openml("mnist_784", version=1, return_X_y=True, as_frame=False, data_home=home,
                            parser="liac-arff", n_retries=1, delay=0.0)
    except Exception as exc:  # offline, proxy, corrupted cache …
        raise BenchError(f"mnist: no cached copy in {home} and the OpenML download failed "
                         f"({type(exc).__name__}: {str(exc).strip()[:120]}); connect once to fill the cache "
                         f"(or set CONCEPTBENCH_DATA to a folder holding it), or use the bundled task 'digits'") from None
    return np.asarray(X, dtype=np.float32) / 255.0, np.asarray(y).astype(np.int64)


class MNIST(FiniteTask):
    """MNIST (70,000 28×28 digits) from OpenML, cached under :func:`data_home`; pixels in [0, 1];
    the 10,000-point test set is drawn from the pool per seed like any finite task."""

    name = "mnist"
    kind = "classification"
    n_classes = 10
    test_size = 10000
    description = "MNIST via scikit-learn's OpenML fetch, cached in $CONCEPTBENCH_DATA (N ≤ 60000)"

    def load(self):
        return _mnist(str(data_home()))


@hookimpl
def register_tasks(register):
    register(Digits())
    register(MNIST())
