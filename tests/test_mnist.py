"""The MNIST loader, with OpenML mocked: no test here touches the network."""

from __future__ import annotations

import errno
import inspect
import socket
import urllib.error

import numpy as np
import pytest
import sklearn.datasets
import sklearn.datasets._openml as openml_impl

from harness import BenchError
from plugins.tasks import digits

from conftest import one_line_error

REAL_FETCH = sklearn.datasets.fetch_openml


class ReachedTheNetwork(Exception):
    """Raised in place of the HTTP request: scikit-learn's argument checks are behind us."""


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    """An empty data home, an empty `_mnist` cache, and no way out to the network."""
    monkeypatch.setenv("CONCEPTBENCH_DATA", str(tmp_path / "data"))

    def no_network(*args, **kwargs):
        raise ReachedTheNetwork

    monkeypatch.setattr(openml_impl, "urlopen", no_network)
    digits._mnist.cache_clear()
    yield
    digits._mnist.cache_clear()


def fake_fetch(monkeypatch, result=None, error: BaseException | None = None) -> list[dict]:
    """Replace fetch_openml; return the list its calls' (args, kwargs) are appended to."""
    calls: list[dict] = []

    def fetch(*args, **kwargs):
        calls.append({"args": args, "kwargs": kwargs})
        if error is not None:
            raise error
        return result

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fetch)
    return calls


def openml_like(n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """What fetch_openml('mnist_784', as_frame=False) returns: float64 pixels 0..255, string labels."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(n, 784)).astype(np.float64)
    X[0, :] = 0.0
    X[1, :] = 255.0
    y = np.array([str(i % 10) for i in range(n)], dtype=object)
    return X, y


@pytest.mark.filterwarnings("ignore:Invalid cache:RuntimeWarning")  # the stubbed request, retried
def test_a_successful_fetch_gives_float32_pixels_in_0_1_and_int64_labels_from_valid_arguments(monkeypatch):
    raw_X, raw_y = openml_like()
    calls = fake_fetch(monkeypatch, result=(raw_X, raw_y))
    X, y = digits.MNIST().load()
    assert X.dtype == np.float32 and X.shape == (6, 784)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_allclose(X, raw_X / 255.0, rtol=0, atol=1e-7)
    assert y.dtype == np.int64
    assert y.tolist() == [int(s) for s in raw_y]
    (call,) = calls
    bound = inspect.signature(REAL_FETCH).bind(*call["args"], **call["kwargs"]).arguments
    assert bound["name"] == "mnist_784" and bound["return_X_y"] is True and bound["as_frame"] is False
    assert str(bound["data_home"]) == str(digits.data_home())
    # The real fetch_openml with the loader's exact arguments must get as far as the HTTP request
    # (stubbed by the fixture): their names and values passed scikit-learn's own validation.
    with pytest.raises(ReachedTheNetwork):
        REAL_FETCH(*call["args"], **call["kwargs"])


def assert_offline_message(msg: str, cache) -> None:
    assert "offline" in msg and "not cached" in msg, msg
    assert str(cache) in msg, msg
    assert "digits" in msg  # the bundled fallback


@pytest.mark.parametrize("error", [
    urllib.error.URLError(OSError(errno.ENETUNREACH, "Network is unreachable")),
    urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution")),
    socket.timeout("timed out"),
    ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    OSError(errno.ENETUNREACH, "Network is unreachable"),
], ids=["urlerror", "dns", "timeout", "reset", "oserror-netunreach"])
def test_network_failure_without_a_cache_says_offline_and_not_cached(monkeypatch, error):
    fake_fetch(monkeypatch, error=error)
    with pytest.raises(BenchError) as info:
        digits.MNIST().load()
    msg = str(info.value)
    assert "\n" not in msg
    assert_offline_message(msg, digits.data_home() / "openml")


@pytest.mark.filterwarnings("ignore:A network error occurred:UserWarning")
def test_offline_through_the_real_scikit_learn_fetch(monkeypatch):
    # No fake fetch_openml: scikit-learn's own retry wrappers see the URLError.
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError(OSError(errno.ENETUNREACH, "Network is unreachable"))

    monkeypatch.setattr(openml_impl, "urlopen", unreachable)
    with pytest.raises(BenchError) as info:
        digits.MNIST().load()
    assert_offline_message(str(info.value), digits.data_home() / "openml")


def test_offline_and_uncached_is_one_error_line_from_bench_run(monkeypatch, bench, tmp_path):
    fake_fetch(monkeypatch, error=urllib.error.URLError("no route"))
    code, out, err = bench("run", "-t", "mnist", "-l", "kernel_ridge", "--ns", "100", "--seeds", "1",
                           "--out", str(tmp_path / "lb"))
    assert code != 0
    assert_offline_message(one_line_error(err), digits.data_home() / "openml")


def put_a_cached_file() -> None:
    cache = digits.data_home() / "openml" / "openml.org" / "api" / "v1" / "json" / "data" / "list"
    cache.mkdir(parents=True)
    (cache / "data_name_mnist_784_limit_2_data_version_1.gz").write_bytes(b"not gzip")


@pytest.mark.parametrize("cached, error", [
    (True, ValueError("could not parse the ARFF header")),
    (False, ValueError("could not parse the ARFF header")),
    (False, PermissionError(errno.EACCES, "Permission denied")),  # an OSError, not a network one
    (True, urllib.error.URLError("no route")),  # a cache that still needs the network is broken
], ids=["corrupt-cache", "parse-error", "permission", "network-with-partial-cache"])
def test_any_other_failure_says_what_failed_names_the_cache_and_suggests_deleting_it(
        monkeypatch, cached, error):
    if cached:
        put_a_cached_file()
    fake_fetch(monkeypatch, error=error)
    with pytest.raises(BenchError) as info:
        digits.MNIST().load()
    msg = str(info.value)
    cache = digits.data_home() / "openml"
    assert "\n" not in msg
    assert "offline" not in msg, msg
    assert type(error).__name__ in msg and str(error.args[-1]) in msg, msg
    assert f"delete {cache}" in msg, msg


def test_arguments_this_scikit_learn_lacks_are_not_passed(monkeypatch):
    raw_X, raw_y = openml_like()
    seen = {}

    def older_fetch(name=None, *, version="active", data_home=None, return_X_y=False, as_frame="auto"):
        seen.update(name=name, version=version, data_home=data_home, return_X_y=return_X_y, as_frame=as_frame)
        return raw_X, raw_y

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", older_fetch)
    X, y = digits.MNIST().load()
    assert seen["name"] == "mnist_784" and seen["return_X_y"] is True and seen["as_frame"] is False
    assert X.shape == (6, 784) and y.dtype == np.int64
