"""How the end-to-end tests run the real thing: ``omnirank serve`` as a child process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
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
    yields the base URL once ``/health`` answers, and stops the server (all its workers) after."""
    port = free_port()
    env = {
        **os.environ,
        "OMNIRANK_EVENT_STORE_PATH": str(state / "events.sqlite3"),
        "OMNIRANK_RULES_PATH": str(state / "rules.json"),
    }
    cli = Path(sys.executable).with_name("omnirank")
    proc = subprocess.Popen(
        [str(cli), "serve", "--bundle", str(bundles), "--port", str(port), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited early:\n{proc.stdout.read()}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail(f"server did not become healthy in {startup_s:.0f} s")
        yield base
    finally:
        proc.terminate()  # uvicorn's parent process stops its workers on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def start_server():
    """``live_server`` as a fixture, so test modules share it without importing this conftest."""
    return live_server
