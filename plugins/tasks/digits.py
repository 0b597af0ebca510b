"""Real data: scikit-learn's bundled handwritten digits (no download), and MNIST from OpenML
with a local cache — the real-data experiments of Li & Liang (2018)."""

import errno
import http.client
import inspect
import os
import socket
import urllib.error
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


class DigitsTwoClass(FiniteTask):
    """Two classes of the bundled digits in Arora et al.'s (2019, App. A) form: each image scaled
    to ‖x‖ = 1, label 1 for ``classes[1]`` (y = +1) and 0 for ``classes[0]`` (y = −1). They use
    the first two classes of MNIST; the default here is the same two digits, 0 and 1 (360 images:
    100 test points, N ≤ 260)."""

    name = "digits2"
    kind = "classification"
    n_classes = 2
    test_size = 100
    description = "two classes of the bundled digits (default 0 vs 1), ‖x‖ = 1 — Arora et al.'s setting; N ≤ 260"

    def __init__(self, classes: tuple = (0, 1)):
        super().__init__(classes=tuple(classes) if isinstance(classes, (list, tuple)) else classes)

    def check_params(self) -> None:
        c = self.params["classes"]
        if (not isinstance(c, tuple) or len(c) != 2 or c[0] == c[1]
                or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 9 for v in c)):
            raise BenchError(f"digits2: classes must be two different digits 0–9, e.g. (0, 1); got {c!r}")

    def load(self):
        X, y = _digits()
        first, second = self.params["classes"]
        keep = (y == first) | (y == second)
        X = X[keep]
        return X / np.linalg.norm(X, axis=1, keepdims=True), (y[keep] == second).astype(np.int64)


def data_home() -> Path:
    """Where OpenML downloads are cached: $CONCEPTBENCH_DATA or ~/.cache/conceptbench."""
    return Path(os.environ.get("CONCEPTBENCH_DATA") or Path.home() / ".cache" / "conceptbench")


# errno values that mean "cannot reach the server", as opposed to e.g. a permission problem.
_NETWORK_ERRNOS = {errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH, errno.EHOSTDOWN,
                   errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT}


def _is_network_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an exception it wraps) is a failure to talk to the server."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError, socket.gaierror,
                            socket.herror, http.client.HTTPException)):
            return True
        if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _has_files(folder: Path) -> bool:
    # A failed download leaves empty sub-folders behind; only files are a cached copy.
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


@lru_cache(maxsize=1)
def _mnist(home: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import fetch_openml

    cache = Path(home) / "openml"  # where fetch_openml(data_home=home) keeps its files
    # liac-arff: the "pandas" parser ("auto" picks it for dense data) needs pandas, not a
    # dependency. One quick retry: an offline machine should fail fast (delay must be > 0:
    # scikit-learn's validation rejects 0.0, which made the loader always fail). Keep only the arguments
    # this scikit-learn has (the floor is 1.3), so a release that drops one still loads.
    wanted = dict(version=1, return_X_y=True, as_frame=False, data_home=home, parser="liac-arff",
                  n_retries=1, delay=0.1)
    accepted = inspect.signature(fetch_openml).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    kwargs = {k: v for k, v in wanted.items() if takes_any or k in accepted}
    was_cached = _has_files(cache)  # before the call: scikit-learn deletes files it finds corrupt
    try:
        X, y = fetch_openml("mnist_784", **kwargs)
    except Exception as exc:
        what = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        if _is_network_error(exc) and not was_cached:
            raise BenchError(f"mnist: offline and not cached — OpenML is unreachable ({what}) and there is "
                             f"no cached copy in {cache}; connect once to download it there (or set CONCEPTBENCH_DATA "
                             f"to a folder holding one), or use the bundled task 'digits'") from None
        raise BenchError(f"mnist: loading MNIST via OpenML failed ({what}); the cached copy in {cache} "
                         f"may be incomplete or corrupted — delete {cache} and run again to re-download it, "
                         f"or use the bundled task 'digits'") from None
    return np.asarray(X, dtype=np.float32) / np.float32(255.0), np.asarray(y).astype(np.int64)


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
    register(DigitsTwoClass())
    register(MNIST())
