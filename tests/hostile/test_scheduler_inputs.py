"""`--scheduler` pointing at something that is not a working Dask cluster: a peer that accepts
and never answers, a scheduler with no worker, tls:// without TLS settings. Each ends with
exit status 2 and a message that states the limit (never a silent wait, never a traceback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from simulator.scenario import bundled_scenario

pytest.importorskip("distributed")

CLI = "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))"
SCENARIO = str(bundled_scenario("kurils-2023"))


def _adcov(*argv, timeout_s="2"):
    env = dict(os.environ, ADCOV_SCHEDULER_TIMEOUT_S=timeout_s)
    # the subprocess deadline is a hang guard, not a timing assertion
    return subprocess.run([sys.executable, "-c", CLI, *argv], capture_output=True, text=True, timeout=90, env=env)


@pytest.fixture
def silent_peer():
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.slow
def test_a_peer_that_never_answers_times_out_with_the_limit_stated(silent_peer):
    result = _adcov("run", SCENARIO, "--scheduler", f"tcp://127.0.0.1:{silent_peer}")
    assert result.returncode == 2, result.stderr
    assert "no answer from the Dask scheduler" in result.stderr and "ADCOV_SCHEDULER_TIMEOUT_S" in result.stderr
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lonely_scheduler():
    """A real Dask scheduler on loopback with no worker."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                             "--port", str(port), "--dashboard-address", "127.0.0.1:0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(30)


@pytest.mark.slow
def test_a_scheduler_with_no_worker_says_so(lonely_scheduler):
    result = _adcov("run", SCENARIO, "--scheduler", f"tcp://127.0.0.1:{lonely_scheduler}")
    assert result.returncode == 2, result.stderr
    assert "has no worker" in result.stderr and "dask worker" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_tls_without_tls_settings_is_one_line(lonely_scheduler):
    result = _adcov("run", SCENARIO, "--scheduler", f"tls://127.0.0.1:{lonely_scheduler}")
    assert result.returncode == 2, result.stderr
    assert "TLS settings" in result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("value", ["abc", "-1", "0", "inf"])
def test_a_bad_scheduler_timeout_is_refused(silent_peer, value):
    result = _adcov("run", SCENARIO, "--scheduler", f"tcp://127.0.0.1:{silent_peer}", timeout_s=value)
    assert result.returncode == 2 and "ADCOV_SCHEDULER_TIMEOUT_S" in result.stderr, result.stderr
