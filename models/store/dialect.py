"""The two databases the live store runs on, and the thin layer that lets one set of queries serve both.

The store's SQL is written once, in the subset SQLite (>= 3.24) and PostgreSQL share: ``?``
placeholders, ``INSERT ... ON CONFLICT DO NOTHING / DO UPDATE``, ``RETURNING``, window functions. What
differs lives here, in a :class:`Dialect`:

* connecting (a file path or a ``postgresql://`` URL) and per-connection setup (SQLite's PRAGMAs);
* the column types of the DDL (``REAL`` is 4 bytes on PostgreSQL: timestamps need ``DOUBLE PRECISION``;
  ``BLOB`` is ``BYTEA``) and the placeholders (``?`` -> ``%s``), translated once per statement text;
* how a write transaction starts: SQLite's ``BEGIN IMMEDIATE`` takes the file's one write lock;
  PostgreSQL takes a transaction-scoped advisory lock, so writers are serialised across processes
  and replicas exactly as on SQLite (the accepted/duplicate/conflict split of a batch stays exact);
* how a read snapshot starts (``REPEATABLE READ`` on PostgreSQL, so several reads agree);
* the catalog questions (does a table exist, which columns does it have, which schema version);
* the lock that makes migrations safe when two processes open the store at once.

:class:`Connection` wraps a DB-API connection with its dialect; the store's mixins only ever see it.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from models.store.version_feed import CHANNEL as VERSION_CHANNEL

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
WRITE_LOCK_KEY = 0x6F6D6E69  # "omni": the advisory lock every PostgreSQL write transaction holds
MIGRATION_LOCK_KEY = 0x6D696772  # "migr": held while migrations are checked and applied


def is_url(location: object) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than an SQLite file."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=netloc[0].split(":")[0] + ":***@" + netloc[1]))


class Connection:
    """A DB-API connection that speaks the store's SQL (``?`` placeholders) on either database."""

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self.raw = raw
        self.dialect = dialect
        self.announced: list[tuple[str, int]] = []  # versions bumped by the open write transaction

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.dialect.execute(self.raw, sql, params)

    def executemany(self, sql: str, rows: Any) -> Any:
        """Run ``sql`` once per row; the returned cursor's ``rowcount`` is the rows changed in all."""
        return self.dialect.executemany(self.raw, sql, rows)

    @property
    def in_transaction(self) -> bool:
        return self.dialect.in_transaction(self.raw)

    def insert_new(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        """Insert rows known to be new (checked under the write lock) as fast as the database allows."""
        self.dialect.insert_new(self.raw, table, columns, rows)

    def has_table(self, name: str) -> bool:
        return self.dialect.has_table(self.raw, name)

    def columns(self, table: str) -> set[str]:
        return self.dialect.columns(self.raw, table)

    def close(self) -> None:
        self.raw.close()


class Dialect:
    name: str

    def connect(self, read_only: bool = False) -> Connection:
        raise NotImplementedError

    def execute(self, raw: Any, sql: str, params: Any) -> Any:
        raise NotImplementedError

    def executemany(self, raw: Any, sql: str, rows: Any) -> Any:
        raise NotImplementedError

    def in_transaction(self, raw: Any) -> bool:
        raise NotImplementedError

    def begin_write(self, conn: Connection) -> None:
        raise NotImplementedError

    def begin_migration(self, conn: Connection) -> None:
        self.begin_write(conn)

    def ddl(self, sql: str) -> str:
        return sql

    def insert_new(self, raw: Any, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        marks = ",".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        self.executemany(raw, sql, rows)

    def has_table(self, raw: Any, name: str) -> bool:
        raise NotImplementedError

    def columns(self, raw: Any, table: str) -> set[str]:
        raise NotImplementedError

    def broken(self, raw: Any) -> bool:
        return False

    def announce(self, conn: Connection, kind: str, version: int) -> None:
        """A change counter (``live`` or ``keys``) moved to ``version`` in this write transaction:
        remembered for the writing process, and on PostgreSQL told to every replica at commit
        (models/store/version_feed.py). SQLite readers check the file, so nothing is sent."""
        conn.announced.append((kind, version))


class SQLiteDialect(Dialect):
    """One SQLite file in WAL mode: the embedded default."""

    name = "sqlite"

    def __init__(self, path: Path, synchronous: str = "NORMAL", busy_timeout_ms: int = 5_000) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms

    @property
    def location(self) -> str:
        return str(self.path)

    def connect(self, read_only: bool = False) -> Connection:
        # isolation_level=None: the store issues BEGIN/COMMIT itself so a batch is exactly one txn.
        timeout = self.busy_timeout_ms / 1000
        if read_only:
            raw = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=timeout
            )
        else:
            raw = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=timeout)
            raw.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            raw.execute(f"PRAGMA synchronous={self.synchronous}")
        return Connection(raw, self)

    def execute(self, raw: sqlite3.Connection, sql: str, params: Any) -> Any:
        return raw.execute(sql, params)

    def executemany(self, raw: sqlite3.Connection, sql: str, rows: Any) -> Any:
        return raw.executemany(sql, rows)

    def in_transaction(self, raw: sqlite3.Connection) -> bool:
        return raw.in_transaction

    def begin_write(self, conn: Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # the file's one write lock, waited for up to busy_timeout

    def enable_wal(self, conn: Connection) -> None:
        """Switch the file to WAL, retried up to the busy timeout.

        Why a loop: SQLite answers ``database is locked`` at once, without its busy handler, when
        another connection is switching the same fresh file to WAL (processes starting together).
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{self.path}: SQLite refused WAL mode (got {mode!r}); is it on a network FS?")

    def has_table(self, raw: sqlite3.Connection, name: str) -> bool:
        row = raw.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
        return row is not None

    def columns(self, raw: sqlite3.Connection, table: str) -> set[str]:
        return {row[1] for row in raw.execute(f"PRAGMA table_info({table})")}

    def user_version(self, conn: Connection) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


_TYPES = [(re.compile(r"\bREAL\b"), "DOUBLE PRECISION"), (re.compile(r"\bBLOB\b"), "BYTEA")]


class PostgresDialect(Dialect):
    """A PostgreSQL database (``postgresql://user@host:port/db``) shared by every replica."""

    name = "postgresql"

    def __init__(self, url: str) -> None:
        try:
            import psycopg  # noqa: F401  (the optional extra: pip install "omnirank[postgres]")
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                'OMNIRANK_STORE_URL names PostgreSQL but psycopg is not installed: pip install "omnirank[postgres]"'
            ) from exc
        self.url = url
        self._sql: dict[str, str] = {}
        self._channel: str | None = None

    @property
    def location(self) -> str:
        return redact(self.url)

    def connect(self, read_only: bool = False) -> Connection:
        import psycopg

        # autocommit: the store issues BEGIN/COMMIT itself, exactly as on SQLite
        from psycopg.conninfo import conninfo_to_dict

        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in conninfo_to_dict(self.url):
            kwargs["connect_timeout"] = 10
        if read_only:  # added to the URL's own options (a search_path, say), never replacing them
            given = conninfo_to_dict(self.url).get("options") or ""
            kwargs["options"] = f"{given} -c default_transaction_read_only=on".strip()
        raw = psycopg.connect(self.url, **kwargs)
        raw.execute("SET client_min_messages = warning")  # no NOTICE per CREATE ... IF NOT EXISTS
        return Connection(raw, self)

    def translate(self, sql: str) -> str:
        """``?`` -> ``%s`` (and a literal ``%`` escaped), once per distinct statement text."""
        out = self._sql.get(sql)
        if out is None:
            if sql.strip().upper() == "BEGIN":  # a read snapshot: several reads that must agree
                out = "BEGIN ISOLATION LEVEL REPEATABLE READ"
            else:
                out = sql.replace("%", "%%").replace("?", "%s")
            if len(self._sql) < 10_000:
                self._sql[sql] = out
        return out

    def execute(self, raw: Any, sql: str, params: Any) -> Any:
        return raw.execute(self.translate(sql), params or None)

    def executemany(self, raw: Any, sql: str, rows: Any) -> Any:
        cur = raw.cursor()
        rows = list(rows)
        if rows:
            cur.executemany(self.translate(sql), rows)
        return cur

    def in_transaction(self, raw: Any) -> bool:
        from psycopg.pq import TransactionStatus

        return raw.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR)

    def begin_write(self, conn: Connection) -> None:
        # READ COMMITTED: the reads after the lock see every write committed before it was granted
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")

    def begin_migration(self, conn: Connection) -> None:
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")

    def announce(self, conn: Connection, kind: str, version: int) -> None:
        super().announce(conn, kind, version)
        channel = self.version_channel(conn.raw)
        conn.execute("SELECT pg_notify(?, ?)", (channel, f"{kind}={version}"))  # sent at COMMIT

    def version_channel(self, raw: Any) -> str:
        """The NOTIFY channel of this store. Channels are per database, not per schema, so the
        schema is in the name: two stores in two schemas of one database never hear each other."""
        if self._channel is None:
            schema = raw.execute("SELECT current_schema()").fetchone()[0]
            self._channel = f"{VERSION_CHANNEL}:{schema}"
        return self._channel

    def insert_new(self, raw: Any, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        """``COPY ... FROM STDIN``: one round trip for the batch (an INSERT per row costs one each,
        even pipelined). Only for rows checked absent under the write lock: COPY has no ON CONFLICT."""
        if not rows:
            return
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def ddl(self, sql: str) -> str:
        for pattern, replacement in _TYPES:
            sql = pattern.sub(replacement, sql)
        return sql

    def has_table(self, raw: Any, name: str) -> bool:
        return raw.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]

    def columns(self, raw: Any, table: str) -> set[str]:
        rows = raw.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = current_schema()",
            (table,),
        )
        return {r[0] for r in rows}

    def broken(self, raw: Any) -> bool:
        return raw.closed or raw.broken


def dialect_for(location: Path | str, synchronous: str = "NORMAL", busy_timeout_ms: int = 5_000) -> Dialect:
    """PostgreSQL for a ``postgresql://`` URL, else the SQLite file at ``location``."""
    if is_url(location):
        return PostgresDialect(str(location))
    return SQLiteDialect(Path(location), synchronous, busy_timeout_ms)


def store_location(settings: Any) -> Path | str:
    """Where the settings put the live store: ``store_url`` (PostgreSQL) when set, else the SQLite
    file at ``event_store_path``."""
    return settings.store_url or Path(settings.event_store_path)
