"""Where a run's cells train: ``local`` (this process, or joblib worker processes with --jobs) or
``dask`` (the workers of a dask.distributed cluster). A backend only runs cells and hands their
records back; the run's own process claims each cell and is the one process that writes the
store (:func:`harness.execution.runner.execute`), whichever backend trained it."""

from __future__ import annotations

import ctypes
import itertools
import threading
import time
from collections import Counter
from typing import Any, Iterable, Iterator

from harness.api.errors import BenchError, one_line
from harness.protocol.cell import CellSpec, CellTimeout, cell_record, run_cell

BACKENDS = ("local", "dask")
EXTRA = "pip install -e '.[dask]' (or pip install 'dask[distributed]')"
CONNECT_TIMEOUT = 10.0  # seconds to reach a scheduler, and for its first worker to be there


# A worker with several threads runs cells side by side in one process, and the first cell of a
# learner computes its code fingerprint by ast.parse: on CPython 3.11 two threads parsing at once
# failed with "SystemError: AST constructor recursion depth mismatch". Fingerprints are cached
# per class, so the lock is taken for real once per learner and worker.
_FINGERPRINTING = threading.Lock()


def _host_of(address: str) -> str:
    from distributed.comm import get_address_host

    return get_address_host(address)


def _expiring(timeout: float) -> type[CellTimeout]:
    """A :class:`CellTimeout` that carries its message when raised without arguments (as
    PyThreadState_SetAsyncExc raises it)."""
    message = f"exceeded --cell-timeout of {timeout:g}s"

    class Expired(CellTimeout):
        def __init__(self, *args: object) -> None:
            super().__init__(*(args or (message,)))

    return Expired


def run_on_worker(spec: CellSpec, host_threads: dict[str, int], timeout: float | None) -> dict[str, Any]:
    """Run one cell in a dask worker thread, its BLAS/torch threads capped so that the cells the
    workers of this host run side by side share its cores (``host_threads``: worker threads per
    host), and stopped after ``timeout`` seconds. (OpenBLAS ignores a thread count set from a
    thread other than the main one once the main thread has set one; a dask worker process's main
    thread runs its event loop and sets none, so the cap holds there. Workers that are threads of
    a process that trains cells itself, LocalCluster(processes=False), keep that process's count.)

    run_cell's own timeout relies on SIGALRM, which Python delivers only to the main thread, and
    dask runs tasks in worker threads; so a timer raises :class:`CellTimeout` in this thread
    instead (CPython's PyThreadState_SetAsyncExc: like a signal handler, it takes effect between
    bytecodes, so after the torch or BLAS call running at that moment returns).
    """
    from distributed import get_worker

    from harness.execution.devices import cell_threads

    worker = get_worker()
    threads = cell_threads(host_threads.get(_host_of(worker.address), worker.state.nthreads))
    with _FINGERPRINTING:
        spec.code  # noqa: B018 — computed (and cached) here, one thread at a time: see _FINGERPRINTING
    if not timeout:
        return run_cell(spec, threads, None)
    expired = _expiring(timeout)
    ident, lock, running = threading.get_ident(), threading.Lock(), [True]

    def expire() -> None:
        with lock:
            if running[0]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(expired))

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    start = time.perf_counter()
    timer.start()
    try:
        record = run_cell(spec, threads, None)  # a timeout inside the cell is stored as `timeout`
    except expired as exc:  # it struck after the cell's own handlers, as the cell was returning
        record = {**cell_record(spec), "status": "timeout", "error": str(exc),
                  "seconds": time.perf_counter() - start}
    while True:  # disarm: no timeout may strike this thread once the cell is over
        try:
            with lock:
                running[0] = False
            timer.cancel()
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)  # clear a pending one
            return record
        except expired:
            continue


class DaskBackend:
    """Cells on a dask.distributed cluster: the one at ``scheduler`` (an address such as
    ``tcp://10.0.0.5:8786``) or, without one, a ``LocalCluster`` of ``workers`` processes with one
    thread each, started when the first cell comes. Use as a context manager: entering connects
    (a one-line :class:`BenchError` when dask.distributed is missing or the scheduler cannot be
    reached), leaving closes the client and any cluster it started.
    """

    def __init__(self, scheduler: str | None = None, workers: int = 1, connect_timeout: float | None = None) -> None:
        self.scheduler, self.n_workers = scheduler, workers
        self.connect_timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        self.client: Any = None
        self.cluster: Any = None

    def __enter__(self) -> "DaskBackend":
        try:
            from distributed import Client
        except ImportError:
            raise BenchError(f"--backend dask needs dask.distributed, which is not installed; install "
                             f"conceptbench's dask extra: {EXTRA}") from None
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout=self.connect_timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError, TypeError) as exc:
                raise BenchError(f"--scheduler {self.scheduler}: no dask scheduler answered within "
                                 f"{self.connect_timeout:g}s ({one_line(exc)}); start one (`dask scheduler`, "
                                 f"then `dask worker ADDRESS` per machine) and pass its address, e.g. "
                                 f"tcp://HOST:8786, or drop --scheduler to run a local cluster") from None
            try:
                self.client.wait_for_workers(1, timeout=self.connect_timeout)
            except (OSError, TimeoutError) as exc:
                self.close()
                raise BenchError(f"--scheduler {self.scheduler}: the scheduler has no workers (none joined "
                                 f"within {self.connect_timeout:g}s: {one_line(exc)}); start them with "
                                 f"`dask worker {self.scheduler}`") from None
        return self

    def _start_local(self) -> None:
        """The local cluster, started when a first cell needs it (a run with nothing to train
        starts none: its worker processes take seconds to start)."""
        from distributed import Client, LocalCluster

        # One thread per worker process: a cell holds the GIL for its Python parts, and its
        # BLAS/torch threads are capped per host instead (run_on_worker). No dashboard: it
        # would take a port on every run.
        self.cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                    dashboard_address=None)
        self.client = Client(self.cluster, set_as_default=False)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and the local cluster, if any (idempotent)."""
        for obj in (self.client, self.cluster):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # closing after a lost connection must not hide the run's outcome
                    pass
        self.client = self.cluster = None

    def threads(self) -> dict[str, int]:
        """Worker threads per host of the cluster now."""
        per_host: Counter = Counter()
        for address, n in self.client.nthreads().items():
            per_host[_host_of(address)] += n
        return dict(per_host)

    @property
    def slots(self) -> int:
        """How many cells the cluster runs at once (its worker threads, at least 1)."""
        return max(1, sum(self.threads().values()))

    def __call__(self, cells: Iterable[CellSpec], timeout: float | None) -> Iterator[tuple[CellSpec, dict[str, Any]]]:
        """Train ``cells`` on the cluster, yielding (spec, record) as each finishes. A cell is
        taken from ``cells`` only when a worker thread is free for it (the runner claims it in
        the store at that moment), so cells never wait in the scheduler while claimed. A cell
        whose worker died (dask gives up after its ``allowed-failures`` retries) or that could
        not run there comes back as a ``failed`` record; stopping (Ctrl-C) cancels the rest."""
        from distributed import as_completed

        todo = iter(cells)
        first = next(todo, None)
        if first is None:
            return
        if self.client is None:
            self._start_local()
        todo = itertools.chain([first], todo)
        running: dict[str, CellSpec] = {}
        done = as_completed(loop=self.client.loop)

        def submit() -> bool:
            spec = next(todo, None)
            if spec is None:
                return False
            future = self.client.submit(run_on_worker, spec, self.threads(), timeout, pure=False,
                                        key=f"cell-{spec.cell_id}-{time.time_ns()}")
            running[future.key] = spec
            done.add(future)
            return True

        try:
            for _ in range(self.slots):
                if not submit():
                    break
            for future in done:
                spec = running.pop(future.key)
                try:
                    record = future.result()
                except Exception as exc:
                    record = {**cell_record(spec), "status": "failed", "seconds": 0.0,
                              "error": f"dask worker failed to run the cell: {one_line(exc)}"}
                finally:
                    future.release()
                yield spec, record
                while len(running) < self.slots and submit():
                    pass
        finally:
            for future in list(done.futures):
                future.cancel()
