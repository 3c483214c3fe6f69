"""The live store as offline jobs read it: one read-only connection, never a write, never a schema change.

Training (``omnirank train --store``), batch jobs (``batch-recommend --store``) and reports
(``omnirank analytics``, ``omnirank ab-report``) read the service's store beside a serving fleet: an
SQLite ``mode=ro`` connection takes no write lock and sets nothing up, and an older file (a schema
from before a table existed) reads as having none of that table's rows. A ``postgresql://`` URL
(``OMNIRANK_STORE_URL``) opens a session with ``default_transaction_read_only=on`` instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from models.errors import OmnirankError
from models.store.analytics_tables import AnalyticsTables, has_table
from models.store.dialect import Connection, PostgresDialect, SQLiteDialect, is_url, redact
from models.store.live_tables import LiveChanges, LiveTables
from models.store.loyalty_tables import LoyaltyTable
from models.store.sqlite import SCHEMA_VERSION


class LiveStoreError(OmnirankError, ValueError):
    """The store file cannot be read as a live store (user-facing message)."""


class ReadOnlyStore(LiveTables, AnalyticsTables, LoyaltyTable):
    """The store's reads over one read-only connection."""

    def __init__(self, conn: Connection, path: Path | str, schema: int) -> None:
        self._connection = conn
        self.path = path  # the SQLite file, or the PostgreSQL URL without its password
        self.schema = schema

    def _conn(self) -> Connection:
        return self._connection

    def _write(self) -> Any:
        raise PermissionError("an offline job reads the live store; it never writes it")

    def has_table(self, name: str) -> bool:
        return has_table(self._connection, name)

    def live_changes_or_none(self) -> LiveChanges:
        """Every live row, or none for a store from before the live tables (schema v1)."""
        if not self.has_table("live_meta"):
            return LiveChanges(since=0, version=0)
        return self.live_changes(0)


@contextmanager
def open_read_only(path: Path | str) -> Iterator[ReadOnlyStore]:
    """The store at ``path`` (an SQLite file, or a ``postgresql://`` URL) for reading;
    ``LiveStoreError`` when it is missing, newer than this code or not a store. Reads made inside
    one ``with`` block may span several transactions."""
    if is_url(path):
        with _open_postgres(str(path)) as store:
            yield store
        return
    path = Path(path)
    if not path.is_file():
        raise LiveStoreError(f"{path} does not exist (the service's live store, OMNIRANK_EVENT_STORE_PATH)")
    dialect = SQLiteDialect(path)
    try:
        with closing(dialect.connect(read_only=True)) as conn:
            schema = dialect.user_version(conn)
            if schema > SCHEMA_VERSION:
                raise LiveStoreError(
                    f"{path}: live store schema v{schema} is newer than this code (v{SCHEMA_VERSION})"
                )
            if not has_table(conn, "events"):
                raise LiveStoreError(f"{path} is not a live store (no events table)")
            yield ReadOnlyStore(conn, path, schema)
    except sqlite3.Error as exc:
        raise LiveStoreError(f"{path} is not a readable live store: {exc}") from exc


@contextmanager
def _open_postgres(url: str) -> Iterator[ReadOnlyStore]:
    """A read-only session (``default_transaction_read_only``) on the service's PostgreSQL store."""
    import psycopg

    where = redact(url)
    try:
        conn = PostgresDialect(url).connect(read_only=True)
    except psycopg.Error as exc:
        raise LiveStoreError(f"{where}: cannot connect to the live store: {exc}") from exc
    try:
        with closing(conn):
            if not has_table(conn, "events") or not has_table(conn, "schema_migrations"):
                raise LiveStoreError(f"{where} is not a live store (no events table)")
            schema = int(
                conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
            )
            if schema > SCHEMA_VERSION:
                raise LiveStoreError(
                    f"{where}: live store schema v{schema} is newer than this code (v{SCHEMA_VERSION})"
                )
            yield ReadOnlyStore(conn, where, schema)
    except psycopg.Error as exc:
        raise LiveStoreError(f"{where} is not a readable live store: {exc}") from exc
