"""The task engine of the sweeps: :func:`run_tasks` in this process or on Dask.

Tasks run in this process (the default, no Dask import at all), on a
``distributed.LocalCluster`` bound to 127.0.0.1 (``scheduler="local"``), or on an existing
Dask cluster (``scheduler="tcp://HOST:PORT"``). A task is a pure function of its item, so a
task that a killed worker loses is simply recomputed, with the same answer.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from simulator.coverage import CancelToken, ProgressCallback
from simulator.errors import AdcovError, ComputationCancelled

#: How often a Dask task is retried after an exception (a killed worker is handled by Dask).
DEFAULT_RETRIES = 2
#: Workers of ``scheduler="local"`` (one thread each).
DEFAULT_LOCAL_WORKERS = 2

#: Forms ``scheduler=`` accepts (for messages).
SCHEDULER_FORMS = "None (in this process), 'local' (a LocalCluster on 127.0.0.1), 'tcp://HOST:PORT' or 'tls://HOST:PORT' (an existing Dask scheduler), or a distributed.Client"


def _check_scheduler(scheduler) -> None:
    if scheduler is None or scheduler == "local":
        return
    if isinstance(scheduler, str):
        if scheduler.startswith(("tcp://", "tls://")) and len(scheduler.split("://", 1)[1]) > 0:
            return
        raise AdcovError(f"scheduler: {scheduler!r} is not valid; expected {SCHEDULER_FORMS}")
    if type(scheduler).__name__ == "Client":
        return
    raise AdcovError(f"scheduler: {type(scheduler).__name__} is not valid; expected {SCHEDULER_FORMS}")


def run_tasks(
    func: Callable,
    items: Sequence,
    *,
    scheduler=None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_result: Callable[[int, object], None] | None = None,
    retries: int = DEFAULT_RETRIES,
    n_workers: int = DEFAULT_LOCAL_WORKERS,
    label: str = "tasks",
) -> list | None:
    """Run ``func(item)`` for every item: in this process, on a local or an existing Dask cluster.

    Parameters
    ----------
    func : callable
        A top-level (importable) function, pure: the same item gives the same result
        wherever and however often it runs.
    items : sequence
        Picklable arguments, one task each.
    scheduler : None, "local", "tcp://HOST:PORT", "tls://HOST:PORT" or distributed.Client
        ``None`` runs the tasks here, one after the other, without importing Dask.
        ``"local"`` starts a ``distributed.LocalCluster`` of ``n_workers`` processes (one
        thread each) whose scheduler, workers and dashboards listen on 127.0.0.1 only, and
        closes it at the end. An address connects to an existing scheduler (every worker,
        and the scheduler, must import the same ``simulator`` and see the same terrain
        files). A Client is used as is and left open.
    progress : callable(fraction, message), optional
        Called after each finished task (in the calling thread).
    cancel : CancelToken, optional
        Checked between tasks; when set, pending Dask tasks are cancelled and
        :class:`~simulator.errors.ComputationCancelled` is raised.
    on_result : callable(index, result), optional
        Called in the calling thread as each result arrives (completion order with Dask);
        results are then not kept, and ``None`` is returned.
    retries : int
        Dask retries of a task that raised (a lost worker's tasks are rescheduled anyway).
    n_workers : int
        Worker processes of ``scheduler="local"``.
    label : str
        Prefix of the Dask task keys and of the progress messages.

    Returns
    -------
    list or None
        The results in item order (``None`` with ``on_result``).
    """
    _check_scheduler(scheduler)
    items = list(items)
    n = len(items)
    results: list | None = None if on_result is not None else [None] * n

    def deliver(i, value, done):
        if on_result is not None:
            on_result(i, value)
        else:
            results[i] = value
        if progress:
            progress(done / max(n, 1), f"{label} {done}/{n}")

    if scheduler is None:
        for i, item in enumerate(items):
            if cancel is not None and cancel.cancelled:
                raise ComputationCancelled("computation cancelled")
            deliver(i, func(item), i + 1)
        return results
    if n == 0:
        return results
    with _dask_client(scheduler, n_workers) as client:
        from distributed import as_completed

        token = uuid.uuid4().hex[:12]
        futures = [
            client.submit(func, item, key=f"adcov-{label}-{token}-{i}", pure=False, retries=retries)
            for i, item in enumerate(items)
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        pending = set(index)
        try:
            ready = as_completed(futures)
            done = 0
            while pending:
                if cancel is not None and cancel.cancelled:
                    raise ComputationCancelled("computation cancelled")
                batch = ready.next_batch(block=False)
                if not batch:
                    time.sleep(0.02)
                    continue
                for future in batch:
                    value = future.result()  # re-raises the task's exception
                    pending.discard(future.key)
                    future.release()
                    done += 1
                    deliver(index[future.key], value, done)
        finally:
            if pending:
                client.cancel([f for f in futures if f.key in pending])
    return results


SCHEDULER_TIMEOUT_ENV = "ADCOV_SCHEDULER_TIMEOUT_S"
DEFAULT_SCHEDULER_TIMEOUT_S = 5.0


def scheduler_timeout_s() -> float:
    """How long to wait for an existing Dask scheduler to answer and to have a worker:
    ``$ADCOV_SCHEDULER_TIMEOUT_S`` seconds, default :data:`DEFAULT_SCHEDULER_TIMEOUT_S`."""
    text = os.environ.get(SCHEDULER_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_SCHEDULER_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and 0 < value <= 86_400):
        raise AdcovError(f"{SCHEDULER_TIMEOUT_ENV}={text!r} is not valid; expected seconds in (0, 86400]")
    return value


def _connect_client(client_class, address: str, timeout_s: float):
    """A Client of the scheduler at ``address`` that has at least one worker, or AdcovError
    within about ``timeout_s`` twice: Dask's own timeout does not cover a peer that accepts
    the connection and never answers, so the connection is made in a thread with a deadline."""
    found: dict = {}

    def connect() -> None:
        try:
            found["client"] = client_class(address, timeout=f"{timeout_s}s")
        except BaseException as exc:  # noqa: BLE001 - reported in the caller's thread
            # the message only: the traceback would keep the half-made Client alive until
            # exit, whose __del__ then waits 10 s and prints "Exception ignored"
            found["error"] = _first_line(exc)
            exc.__traceback__ = None
            del exc
            gc.collect()

    thread = threading.Thread(target=connect, name="adcov-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout_s + 1.0)
    how_to = f"the limit is {timeout_s:g} s (set {SCHEDULER_TIMEOUT_ENV} to change it)"
    if thread.is_alive():
        raise AdcovError(f"no answer from the Dask scheduler at {address} within {timeout_s:g} s: something accepted "
                         f"the connection but did not speak Dask's protocol; {how_to}")
    if "error" in found:
        message = found["error"]
        if address.startswith("tls://"):
            raise AdcovError(f"cannot connect to the Dask scheduler at {address}: {message}; a tls:// "
                             "scheduler needs Dask's TLS settings (distributed.comm.tls.* in the Dask config)") from None
        raise AdcovError(f"cannot connect to the Dask scheduler at {address}: {message}; {how_to}") from None
    client = found["client"]
    if not client.scheduler_info().get("workers"):
        try:
            client.wait_for_workers(1, timeout=timeout_s)
        except BaseException as exc:  # TimeoutError (dask's own type varies by version)
            with contextlib.suppress(Exception):
                client.close()
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise AdcovError(f"the Dask scheduler at {address} has no worker (waited {timeout_s:g} s); start one with "
                             f"`dask worker {address}`; {how_to}") from None
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _dask_client:
    """Context manager: a Client for ``scheduler``, closing what it started."""

    def __init__(self, scheduler, n_workers: int):
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.owned: list = []

    def __enter__(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise AdcovError(
                f"scheduler {self.scheduler!r} needs Dask's distributed package ({exc}); install it with "
                "pip install 'adcov[distributed]', or run in this process (no scheduler)"
            ) from None
        if isinstance(self.scheduler, Client):
            return self.scheduler
        if self.scheduler == "local":
            if not (isinstance(self.n_workers, int) and self.n_workers >= 1):
                raise AdcovError(f"n_workers: expected an integer >= 1, got {self.n_workers!r}")
            cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                # one core per worker process: numba's own threads would oversubscribe
                env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
            )
            self.owned.append(cluster)
            client = Client(cluster)
            self.owned.insert(0, client)
            return client
        client = _connect_client(Client, self.scheduler, scheduler_timeout_s())
        self.owned.append(client)
        return client

    def __exit__(self, *exc_info):
        for thing in self.owned:
            with contextlib.suppress(Exception):  # closing must not hide the real error
                thing.close()
        return False
