"""How the end-to-end tests run the real thing: ``omnirank serve`` as a child process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(bundles: Path, state: Path, *args: str, startup_s: float = 120) -> Iterator[str]:
    """``omnirank serve --bundle BUNDLES [ARGS]`` with its events and live rules under ``state``;
    yields the base URL once it is ready, and stops the server (all its workers) after."""
    with server_process(bundles, state, *args, startup_s=startup_s) as server:
        yield server.base


@pytest.fixture(scope="session")
def start_server():
    """``live_server`` as a fixture, so test modules share it without importing this conftest."""
    return live_server


class ServerProcess:
    """A running ``omnirank serve`` started by :func:`server_process`: its URL, its process group
    (the uvicorn parent and every worker) and its log file."""

    def __init__(self, base: str, proc: subprocess.Popen, log: Path) -> None:
        self.base = base
        self.proc = proc
        self.log = log

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def group_alive(self) -> list[int]:
        """Pids still running (not zombies) in the server's process group."""
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
            if int(fields[2]) == self.proc.pid and fields[0] != "Z":
                alive.append(int(stat.parent.name))
        return alive

    def kill_hard(self, timeout_s: float = 30) -> None:
        """``kill -9`` of the whole process group, as a crash would; returns once none of it runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        while self.group_alive():
            if time.monotonic() > deadline:
                pytest.fail(
                    f"server processes {self.group_alive()} still run {timeout_s:.0f} s after SIGKILL"
                )
            time.sleep(0.1)


@contextlib.contextmanager
def server_process(
    bundles: Path, state: Path, *args: str, env: dict[str, str] | None = None, startup_s: float = 180
) -> Iterator[ServerProcess]:
    """Like :func:`live_server`, but the server runs in its own session (process group), so a test can
    ``kill -9`` every process of it (:meth:`ServerProcess.kill_hard`), and its output goes to a log
    file under ``state`` (a pipe nobody reads would stall a server that logs every request)."""
    port = free_port()
    env = {
        **os.environ,
        "OMNIRANK_DEV_MODE": "1",
        "OMNIRANK_EVENT_STORE_PATH": str(state / "events.sqlite3"),
        "OMNIRANK_RULES_PATH": str(state / "rules.json"),
        **(env or {}),
    }
    cli = Path(sys.executable).with_name("omnirank")
    log = state / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(cli), "serve", "--bundle", str(bundles), "--port", str(port), *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + startup_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited early:\n{server.log_tail()}")
            try:
                if httpx.get(f"{server.base}/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"server did not become healthy in {startup_s:.0f} s:\n{server.log_tail()}")
        yield server
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # uvicorn's parent stops its workers on SIGTERM
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if server.group_alive():  # a parent killed or stopped before its workers
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def start_server_process():
    """``server_process`` as a fixture."""
    return server_process
