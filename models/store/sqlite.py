"""Durable store of everything live: the events the service receives (``POST /v1/events``) and,
through :class:`models.store.live_tables.LiveTables`, stock, prices, products added or discontinued
since training, and identifiers linked at the till. One SQLite file, so one commit makes any of them
durable and every worker process reads the same truth.

Why SQLite in WAL mode: the service must not answer 202 before an event is on disk, and it must
read a customer's latest events on the recommendation path without a server to operate. WAL lets
readers run while one writer commits, and a commit is a single append to the ``-wal`` file.

The same store runs on PostgreSQL when it is opened with a ``postgresql://`` URL
(``OMNIRANK_STORE_URL``): one set of queries, the differences (connecting, column types, how a write
transaction takes its lock, catalog questions) in :mod:`models.store.dialect`. Writes keep SQLite's
guarantees there: a batch is one transaction committed before ``append`` returns, writers are
serialised by an advisory lock, so the duplicate/conflict split is exact across replicas.

Schema changes are numbered migrations recorded in ``schema_migrations(version, applied_at)`` and
applied at open under the write lock (SQLite's ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so
two processes starting at once apply each exactly once.

Durability choice (``synchronous``, SQLite only; on PostgreSQL the server's ``synchronous_commit``):

* ``NORMAL`` (default): in WAL mode a committed transaction is in the WAL file (written through the
  OS page cache) before ``append`` returns, so it survives a crash or ``kill -9`` of the service
  process. A power loss or kernel panic may lose the last transactions, never corrupt the file.
* ``FULL``: also fsyncs the WAL on every commit, so acknowledged events survive power loss, at the
  cost of one fsync per batch (pick it when the events are the system of record).

Idempotency: ``event_id`` is the primary key; a replayed id is ignored and reported as a duplicate,
so a client may retry a batch after a timeout without double-counting a purchase. Each event keeps a
hash of its payload (``payload_hash``, schema v3), so an id reused for a *different* event is not
mistaken for a retry: it is reported as a conflict (and not stored), never silently dropped. Events
stored before v3 have no hash; a replay of one of them counts as a duplicate.

No raw PII reaches this module: the router resolves an identifier to a customer id or to the keyed
hash from :func:`models.pii.identifier_key` before calling :meth:`LiveStore.append`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from models.schemas import CHANNELS, EVENT_TYPES
from models.store.analytics_tables import ANALYTICS_SCHEMA, AnalyticsTables
from models.store.dialect import Connection, PostgresDialect, SQLiteDialect, dialect_for
from models.store.keys import KEYS_SCHEMA, KeyTable
from models.store.live_tables import LIVE_SCHEMA, LiveTables
from models.store.loyalty_tables import LOYALTY_SCHEMA, LoyaltyTable
from models.store.version_feed import VersionFeed

SCHEMA_VERSION = 4
"""v2: live stock, prices, products, identity links (models/store/live_tables.py); v3: payload_hash;
v4: the import format's session/basket/query/campaign fields, request_id and position (analytics),
the identifier hashes an event carried (re-resolution by training), consent and served answers
(models/store/analytics_tables.py)."""
SYNCHRONOUS_MODES = ("NORMAL", "FULL")
_MAX_PARAMS = 900  # below SQLite's historical 999 host-parameter limit

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS events (
    event_id     TEXT PRIMARY KEY,
    customer_key TEXT NOT NULL,
    type         TEXT NOT NULL,
    ts           REAL NOT NULL,
    channel      TEXT NOT NULL,
    sku          TEXT,
    store_id     TEXT,
    quantity     INTEGER NOT NULL DEFAULT 1,
    price        REAL,
    received_at  REAL NOT NULL,
    payload_hash TEXT,
    session_id   TEXT,
    basket_id    TEXT,
    query        TEXT,
    campaign     TEXT,
    request_id   TEXT,
    position     INTEGER,
    identifiers  TEXT
);
CREATE INDEX IF NOT EXISTS events_customer_ts ON events (customer_key, ts, event_id);
CREATE INDEX IF NOT EXISTS events_received_at ON events (received_at, event_id);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts, event_id);
"""
    + LIVE_SCHEMA
    + KEYS_SCHEMA
    + ANALYTICS_SCHEMA
    + LOYALTY_SCHEMA
)
_V4_COLUMNS = {
    "session_id": "TEXT",
    "basket_id": "TEXT",
    "query": "TEXT",
    "campaign": "TEXT",
    "request_id": "TEXT",
    "position": "INTEGER",
    "identifiers": "TEXT",
}
_COLUMNS = (
    "event_id, customer_key, type, ts, channel, sku, store_id, quantity, price, received_at, "
    + ", ".join(_V4_COLUMNS)
)
_INSERT_COLUMNS = (*_COLUMNS.split(", "), "payload_hash")
_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
)


def _upgrade_columns(conn: Connection) -> None:
    """v4: the columns a store from before v4 lacks (NULL for the rows stored before); a no-op on
    a store created at v4."""
    columns = conn.columns("events")
    if "payload_hash" not in columns:  # v2 -> v3
        conn.execute("ALTER TABLE events ADD COLUMN payload_hash TEXT")
    for name, kind in _V4_COLUMNS.items():  # v3 -> v4
        if name not in columns:
            conn.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}")
    # a v2 file from before live vectors recorded their encoder (NULL: encoded again)
    if "encoder" not in conn.columns("live_products"):
        conn.execute("ALTER TABLE live_products ADD COLUMN encoder TEXT")


MIGRATIONS: tuple[tuple[int, str, Any], ...] = (
    (
        4,
        "events gain payload_hash and the import format's fields; live products their encoder",
        _upgrade_columns,
    ),
)
"""(version, what it does, step(conn)): applied in order at open, each once, recorded in
``schema_migrations``. The tables themselves are ``CREATE ... IF NOT EXISTS`` (run at every open);
a change to an existing table is a new numbered step here and a bump of ``SCHEMA_VERSION``.
Versions 1-3 predate the table (an SQLite file records them in ``PRAGMA user_version``)."""


def _to_unix(value: datetime | float) -> float:
    """Seconds since the epoch; naive datetimes are taken as UTC, as the import format does."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return float(value)


def _from_unix(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=timezone.utc)


@dataclass(frozen=True)
class StoredEvent:
    """One live interaction keyed by a resolved customer (never by a raw identifier).

    ``received_at`` is set by the store at append time; leave it ``None`` when appending.
    ``payload_hash`` tells a retry (same hash: a duplicate) from an id reused for another event (a
    conflict). The service passes a keyed hash of the event as the client sent it, so a replay stays
    a duplicate even if its identifiers now resolve to another customer key; ``None``: the store
    hashes the stored fields.
    """

    event_id: str
    customer_key: str
    type: str
    timestamp: datetime
    channel: str
    sku: str | None = None
    store_id: str | None = None
    quantity: int = 1
    price: float | None = None
    received_at: datetime | None = None
    payload_hash: str | None = None
    session_id: str | None = None
    basket_id: str | None = None
    query: str | None = None
    campaign: str | None = None
    request_id: str | None = None
    position: int | None = None
    identifiers: dict[str, str] | None = None
    """kind -> salted hash of every identifier the event carried (never the raw value), so the next
    training can re-resolve the person with all the evidence."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the event and the field, so a 422 can say what is wrong."""
        where = f"event {self.event_id!r}"
        if not isinstance(self.event_id, str) or not self.event_id.strip():
            raise ValueError("event_id must be a non-empty string")
        if not isinstance(self.customer_key, str) or not self.customer_key.strip():
            raise ValueError(f"{where}: customer_key must be a non-empty string")
        if "@" in self.customer_key:
            raise ValueError(
                f"{where}: customer_key looks like a raw email; hash it with models.pii.identifier_key"
            )
        if self.type not in EVENT_TYPES:
            raise ValueError(f"{where}: type {self.type!r} is not one of {EVENT_TYPES}")
        if self.channel not in CHANNELS:
            raise ValueError(f"{where}: channel {self.channel!r} is not one of {CHANNELS}")
        if not isinstance(self.timestamp, datetime):
            raise ValueError(f"{where}: timestamp must be a datetime, got {type(self.timestamp).__name__}")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) or self.quantity <= 0:
            raise ValueError(f"{where}: quantity must be a positive integer, got {self.quantity!r}")
        if self.price is not None and not (self.price >= 0):  # also rejects NaN
            raise ValueError(f"{where}: price must be >= 0, got {self.price!r}")
        if self.position is not None and (
            isinstance(self.position, bool) or not isinstance(self.position, int) or self.position <= 0
        ):
            raise ValueError(f"{where}: position must be a positive integer, got {self.position!r}")
        if self.identifiers is not None and any("@" in str(v) for v in self.identifiers.values()):
            raise ValueError(f"{where}: identifiers must be salted hashes, not raw values")
        if self.payload_hash is not None and (
            not isinstance(self.payload_hash, str) or not self.payload_hash
        ):
            raise ValueError(f"{where}: payload_hash must be a non-empty string or None")

    def content_hash(self) -> str:
        """The given ``payload_hash``, else a hash of everything stored but ``received_at``."""
        if self.payload_hash is not None:
            return self.payload_hash
        fields = [
            self.customer_key,
            self.type,
            _to_unix(self.timestamp),
            self.channel,
            self.sku,
            self.store_id,
        ]
        fields += [self.quantity, None if self.price is None else float(self.price)]
        extra = [self.session_id, self.basket_id, self.query, self.campaign, self.request_id, self.position]
        if any(v is not None for v in extra):  # so an event stored before v4 hashes as it did then
            fields += extra
        blob = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
        return "stored:" + hashlib.sha256(blob).hexdigest()

    def _row(self, received_at: float, digest: str | None = None) -> tuple:
        return (
            self.event_id,
            self.customer_key,
            self.type,
            _to_unix(self.timestamp),
            self.channel,
            self.sku,
            self.store_id,
            self.quantity,
            None if self.price is None else float(self.price),
            received_at,
            self.session_id,
            self.basket_id,
            self.query,
            self.campaign,
            self.request_id,
            self.position,
            None if self.identifiers is None else json.dumps(self.identifiers, sort_keys=True),
            self.content_hash() if digest is None else digest,
        )

    @classmethod
    def _from_row(cls, row: Sequence) -> StoredEvent:
        return cls(
            event_id=row[0],
            customer_key=row[1],
            type=row[2],
            timestamp=_from_unix(row[3]),
            channel=row[4],
            sku=row[5],
            store_id=row[6],
            quantity=row[7],
            price=row[8],
            received_at=_from_unix(row[9]),
            session_id=row[10],
            basket_id=row[11],
            query=row[12],
            campaign=row[13],
            request_id=row[14],
            position=row[15],
            identifiers=None if row[16] is None else json.loads(row[16]),
        )


@dataclass
class AppendResult:
    """Which ids of a batch were stored now, which were already there with the same payload (or
    repeated in the batch: retries), and which were already there with a different payload
    (conflicts: not stored; the first version stays). ``conflict_positions`` are the positions of
    the conflicting events in the appended sequence, in order, so a caller can name them."""

    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    conflict_positions: list[int] = field(default_factory=list)


class LiveStore(LiveTables, KeyTable, AnalyticsTables, LoyaltyTable):
    """Thread-safe live store (events, stock, prices, products, identity links) on one SQLite file,
    or on a PostgreSQL database shared by several replicas (``path`` a ``postgresql://`` URL).

    Each thread gets its own connection (``threading.local``) so reads on FastAPI's threadpool run
    in parallel under WAL; writes are serialised by a process lock and, across processes (several
    uvicorn workers on one file), by ``BEGIN IMMEDIATE`` with a busy timeout (on PostgreSQL, across
    replicas, by a transaction-scoped advisory lock).
    """

    def versions(self) -> tuple[int, int]:
        """(live version, keys version) as the table holds them now, in one indexed read. What a
        request checks is ``live_version``/``keys_version``: on PostgreSQL, from the version feed."""
        rows = dict(
            self._conn()
            .execute("SELECT key, value FROM live_meta WHERE key IN ('live_version', 'keys_version')")
            .fetchall()
        )
        return int(rows["live_version"]), int(rows["keys_version"])

    def __init__(
        self,
        path: Path | str,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_ms: int = 5_000,
    ) -> None:
        """``path``: the SQLite file, or a ``postgresql://user@host:port/db`` URL."""
        synchronous = synchronous.upper()  # type: ignore[assignment]
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, got {synchronous!r}")
        self._dialect = dialect_for(path, synchronous, int(busy_timeout_ms))
        self.backend = self._dialect.name
        self.location = self._dialect.location  # for messages: a path, or the URL without its password
        self.path = self._dialect.path if isinstance(self._dialect, SQLiteDialect) else None
        self.synchronous = synchronous
        self.busy_timeout_ms = int(busy_timeout_ms)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._feed = (
            VersionFeed(lambda: self._dialect.connect().raw, self.versions, self._dialect.version_channel)
            if isinstance(self._dialect, PostgresDialect)
            else None
        )
        try:
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise RuntimeError(f"{self.path} is not a usable SQLite event store: {exc}") from exc
        except Exception as exc:
            self.close()
            if self.backend == "postgresql" and type(exc).__module__.startswith("psycopg"):
                raise RuntimeError(f"{self.location} is not a usable PostgreSQL live store: {exc}") from exc
            raise

    def _init_schema(self) -> None:
        conn = self._conn()
        if isinstance(self._dialect, SQLiteDialect):
            self._dialect.enable_wal(conn)
        with self._write_lock:
            self._dialect.begin_migration(conn)
            try:
                self._migrate(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _migrate(self, conn: Connection) -> None:
        """Inside the migration lock: refuse a newer schema, create what is missing, apply the
        numbered migrations not yet recorded (so a second process starting at once applies none)."""
        sqlite = isinstance(self._dialect, SQLiteDialect)
        conn.execute(self._dialect.ddl(_MIGRATIONS_TABLE))
        applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
        newest = max(applied, default=0)
        if (
            sqlite
        ):  # a file's user_version stays the authority: one set back (or from before the table) re-applies
            user_version = self._dialect.user_version(conn)
            newest = max(newest, user_version)
            applied = {v for v in applied if v <= user_version}
        if newest > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.location}: event store schema v{newest} is newer than this code (v{SCHEMA_VERSION})"
            )
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(self._dialect.ddl(statement))
        for version, _about, step in MIGRATIONS:
            if version not in applied:
                step(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (version, time.time()),
                )
        if sqlite:
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def schema_migrations(self) -> list[tuple[int, float]]:
        """(version, applied_at) of every applied migration, oldest first."""
        return [
            (int(v), float(t))
            for v, t in self._conn().execute(
                "SELECT version, applied_at FROM schema_migrations ORDER BY version"
            )
        ]

    # --- connections -------------------------------------------------------------------------
    def _conn(self) -> Connection:
        if self._closed:
            raise RuntimeError(f"event store {self.location} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._dialect.broken(conn.raw):  # a PostgreSQL restart: connect again
            with self._connections_lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            conn = None
        if conn is None:
            conn = self._dialect.connect()
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def live_version(self) -> int:
        """The live tables' version a request compares with its view's: on PostgreSQL the highest
        one heard (no round trip, see models/store/version_feed.py); on SQLite read from the file."""
        return self._feed.current()[0] if self._feed is not None else LiveTables.live_version(self)

    def keys_version(self) -> int:
        return self._feed.current()[1] if self._feed is not None else KeyTable.keys_version(self)

    def close(self) -> None:
        """Close every thread's connection; the last one out checkpoints the WAL into the DB."""
        if self._feed is not None:
            self._feed.close()
        with self._connections_lock:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    def __enter__(self) -> LiveStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writes ------------------------------------------------------------------------------
    def append(self, events: Iterable[StoredEvent]) -> AppendResult:
        """Store a batch in one transaction, committed (durable) before returning.

        The batch is validated first so a bad event rejects the whole batch and nothing is
        half-written (the service validates each event before, so a bad one is rejected alone).
        Existing ids and their payload hashes are looked up inside the same ``BEGIN IMMEDIATE``
        transaction, so the accepted/duplicate/conflict split is exact even with other writer
        processes.
        """
        events = list(events)
        for event in events:
            event.validate()
        result = AppendResult()
        if not events:
            return result
        # Whole microseconds, so the float round-trips exactly through datetime (a usable watermark).
        received_at = time.time_ns() // 1_000 / 1_000_000
        with self._write() as conn:
            existing = self._existing_hashes(conn, [e.event_id for e in events])
            rows = []
            for position, event in enumerate(events):
                digest = event.content_hash()
                if event.event_id not in existing:
                    existing[event.event_id] = digest  # a repeat within the batch is judged the same way
                    result.accepted.append(event.event_id)
                    rows.append(event._row(received_at, digest))
                elif existing[event.event_id] in (None, digest):  # None: stored before payload hashes
                    result.duplicates.append(event.event_id)
                else:
                    result.conflicts.append(event.event_id)
                    result.conflict_positions.append(position)
            conn.insert_new("events", _INSERT_COLUMNS, rows)
        return result

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE``; on PostgreSQL an advisory lock), committed (durable) when the block ends,
        rolled back if it raises: the only way anything is written to the store."""
        conn = self._conn()
        with self._write_lock:
            self._dialect.begin_write(conn)
            conn.announced = []
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        if self._feed is not None and conn.announced:
            self._feed.heard(conn.announced)  # this process serves its own write on its next request

    @staticmethod
    def _existing_hashes(conn: Connection, ids: list[str]) -> dict[str, str | None]:
        """event_id -> payload hash (``None`` for events stored before v3) of the ids already stored."""
        found: dict[str, str | None] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _MAX_PARAMS):
            chunk = unique[start : start + _MAX_PARAMS]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT event_id, payload_hash FROM events WHERE event_id IN ({marks})"
            found.update((r[0], r[1]) for r in conn.execute(sql, chunk))
        return found

    # --- reads -------------------------------------------------------------------------------
    def count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM events").fetchone()[0]

    def recent_for_customer(
        self, customer_key: str, since: datetime | None = None, limit: int = 200
    ) -> list[StoredEvent]:
        """A customer's latest events, newest first, for re-ranking without retraining."""
        return self.recent_for_customers([customer_key], since=since, limit=limit).get(customer_key, [])

    def recent_for_customers(
        self, customer_keys: Iterable[str], since: datetime | None = None, limit: int = 200
    ) -> dict[str, list[StoredEvent]]:
        """Up to ``limit`` latest events per customer in one query per 900 keys.

        Every requested key is in the answer (an empty list when it has no events).
        """
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        keys = list(dict.fromkeys(customer_keys))
        out: dict[str, list[StoredEvent]] = {k: [] for k in keys}
        since_ts = float("-inf") if since is None else _to_unix(since)
        conn = self._conn()
        for start in range(0, len(keys), _MAX_PARAMS):
            chunk = keys[start : start + _MAX_PARAMS]
            if len(chunk) == 1:  # the hot path: a plain index range scan, no window function
                sql = (
                    f"SELECT {_COLUMNS} FROM events WHERE customer_key = ? AND ts >= ? "
                    "ORDER BY ts DESC, event_id DESC LIMIT ?"
                )
                params: list = [chunk[0], since_ts, limit]
            else:
                marks = ",".join("?" * len(chunk))
                sql = (
                    f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS}, ROW_NUMBER() OVER ("
                    "PARTITION BY customer_key ORDER BY ts DESC, event_id DESC) AS rn "
                    f"FROM events WHERE customer_key IN ({marks}) AND ts >= ?) AS ranked WHERE rn <= ? "
                    "ORDER BY customer_key, ts DESC, event_id DESC"
                )
                params = [*chunk, since_ts, limit]
            for row in conn.execute(sql, params):
                out[row[1]].append(StoredEvent._from_row(row))
        return out

    def iter_since(
        self,
        since: datetime | float,
        by: Literal["received_at", "ts"] = "received_at",
        page_size: int = 10_000,
    ) -> Iterator[StoredEvent]:
        """Stream events with ``by >= since`` in ascending order, one page per short read.

        ``received_at`` is the default because it is the right watermark for an incremental
        training run: a late event (old ``ts``, received after the last run) is still picked up.
        Pages are fetched by keyset so no read transaction stays open across the caller's work,
        which would stop WAL checkpoints and let the ``-wal`` file grow.
        """
        if by not in ("received_at", "ts"):
            raise ValueError(f"by must be 'received_at' or 'ts', got {by!r}")
        if page_size <= 0:
            raise ValueError(f"page_size must be positive, got {page_size}")
        # event_id is never empty, so "" puts every event at exactly ``since`` on the first page.
        last_value, last_id = _to_unix(since), ""
        sql = (
            f"SELECT {_COLUMNS} FROM events WHERE {by} >= ? AND ({by} > ? OR event_id > ?) "
            f"ORDER BY {by}, event_id LIMIT ?"
        )
        column = 9 if by == "received_at" else 3
        while True:
            rows = self._conn().execute(sql, (last_value, last_value, last_id, page_size)).fetchall()
            yield from (StoredEvent._from_row(row) for row in rows)
            if len(rows) < page_size:
                return
            last_value, last_id = rows[-1][column], rows[-1][0]

    def integrity_check(self) -> str:
        """``'ok'`` when SQLite finds the file sound (PostgreSQL: when the server answers); used by
        health checks and the crash test."""
        if not isinstance(self._dialect, SQLiteDialect):
            return "ok" if self._conn().execute("SELECT 1").fetchone()[0] == 1 else "unreachable"
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0]
