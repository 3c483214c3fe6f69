"""A real PostgreSQL for the tests (and benchmarks/bench_store.py): Debian's ``postgresql`` package.

``TempPostgres`` runs ``initdb`` and ``pg_ctl start`` into a temporary directory, with the unix
socket in that directory and a free TCP port on 127.0.0.1, and stops it (and deletes the directory)
at the end. initdb refuses to run as root, so as root (CI) the directory is handed to the
``postgres`` OS user and the server runs as that user (``runuser -u postgres --``).

Fixtures (imported into ``tests/conftest.py``):

* ``postgres_server`` (session): the server, or a skip saying why when the binaries are absent
  (``.ci/install`` installs ``postgresql``, so CI never skips);
* ``store_backend`` (``sqlite`` / ``postgresql``) and ``store_location``: an SQLite file in
  ``tmp_path``, or a URL of a fresh schema of the server, one per test, so tests never see each
  other's rows; a test that takes ``store_location`` runs once per backend;
* ``store``: a :class:`models.store.LiveStore` on ``store_location``, closed after the test.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: Debian's versioned one, else the PATH's."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(initdb).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempPostgres:
    """One throwaway PostgreSQL server; ``durable=False`` turns fsync off (tests), True keeps the
    server's defaults (fsync, synchronous_commit=on: what a benchmark must measure)."""

    def __init__(self, durable: bool = False) -> None:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise FileNotFoundError("initdb/pg_ctl not found (apt-get install postgresql)")
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="omnirank-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.durable = durable
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: the server runs as the postgres OS user
            shutil.chown(self.dir, user="postgres", group="postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._schemas = itertools.count(1)
        self.started = False

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> TempPostgres:
        try:
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--no-locale", "--no-sync",
            )  # fmt: skip
            options = [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.dir}",
                "-c max_connections=300",
            ]
            if not self.durable:
                options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
                "-o", " ".join(options), "-w", "-t", "60", "start",
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            log = self.dir / "server.log"
            detail = log.read_text() if log.exists() else ""
            self.stop()
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{detail}") from exc
        self.started = True
        self.admin("CREATE DATABASE omnirank")
        return self

    @property
    def url(self) -> str:
        """The ``omnirank`` database, as OMNIRANK_STORE_URL names it."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/omnirank"

    def admin(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}", autocommit=True
        ) as conn:
            conn.execute(sql)

    def fresh_url(self) -> str:
        """A URL whose connections work in a schema of their own (empty, created now)."""
        schema = f"t{next(self._schemas)}"
        self.admin(f"CREATE SCHEMA {schema}", dbname="omnirank")
        return f"{self.url}?options=-csearch_path%3D{schema}"

    def stop(self) -> None:
        if self.started:
            try:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                pass
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TempPostgres]:
    if find_pg_bin() is None:
        pytest.skip(
            "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql (.ci/install does)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip('psycopg is not installed: pip install -e ".[postgres]" (.ci/install does)')
    with TempPostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture()
def store_location(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """Where the test's live store is: an SQLite file, or a fresh PostgreSQL schema's URL. Opening
    ``LiveStore(store_location)`` twice reaches the same store (a reopen, a second replica)."""
    if store_backend == "sqlite":
        return tmp_path / "events.sqlite3"
    server: TempPostgres = request.getfixturevalue("postgres_server")
    return server.fresh_url()


@pytest.fixture()
def store(store_location: Path | str) -> Iterator:
    from models.store import LiveStore

    live = LiveStore(store_location)
    yield live
    live.close()
