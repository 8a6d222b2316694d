"""A real HTTP server on a free loopback port: in a thread (uvicorn) or as a ``carewindow`` subprocess.

Used by the fuzzers (schemathesis over real HTTP) and the acceptance tests that kill processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bound_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s


@contextmanager
def thread_server(app: Any, sock: socket.socket, *, timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` on ``sock`` from a thread (lifespan included); yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    port = sock.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def carewindow_env(**values: str) -> dict[str, str]:
    """The parent's environment without any CAREWINDOW_ setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWINDOW_")}
    env.update(values)
    return env


def spawn(args: list[str], *, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``carewindow <args>`` in its own process group, output to ``log``. Its files (the server
    record, a dev key) go beside the log unless ``env`` names a CAREWINDOW_HOME: never into the
    checkout's var/, where a killed server would leave its record behind."""
    with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "carewindow", *args],
            env={"CAREWINDOW_HOME": str(log.parent), **env},
            cwd=str(log.parent),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill9(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group (no cleanup runs), then reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)


def stop(proc: subprocess.Popen[bytes], *, grace: float = 5.0) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            kill9(proc)


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not become ready in {timeout} s")


@contextmanager
def carewindow_server(tmp: Path, *, api_keys: str, **env: str) -> Iterator[str]:
    """``carewindow serve`` with the sandbox on a fresh SQLite file in ``tmp``; yields its base URL
    once /healthz answers, and stops it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    values = {
        "CAREWINDOW_DATABASE_URL": f"sqlite:///{tmp}/cw.db",
        "CAREWINDOW_API_KEYS": api_keys,
        "CAREWINDOW_PUBLIC_URL": base,
        "CAREWINDOW_LOG_LEVEL": "WARNING",
        **env,
    }
    proc = spawn(
        ["serve", "--host", "127.0.0.1", "--port", str(port)],
        env=carewindow_env(**values),
        log=tmp / "server.log",
    )
    try:
        wait_ready(base, proc)
        yield base
    finally:
        stop(proc, grace=10)
