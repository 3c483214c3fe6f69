"""What the service showed and what shoppers consented to: the store side of the closed loop.

``served`` holds one row per answer (a search, a suggestion list, a recommendation list): its
``request_id`` (also in the response body and the ``X-Request-ID`` header), the surface, the A/B arm,
the unit the arm was drawn for (a customer key or a session id, never raw PII), the query and the
skus shown in order. A click or a purchase posted later with that ``request_id`` is attributed to it,
so click-through, conversion and revenue per surface and per arm are computed from the store, never
from logs (``models/analytics.py``). The service writes these rows in batches from a background
thread (``service/impressions.py``), so a search never waits on the write lock.

``consent`` holds marketing-email consent posted to ``POST /v1/customers/consent``, keyed by the
salted hash of the identifier it was given for; the latest statement wins, and the next batch job
honours it over what the bundle was trained with.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

ANALYTICS_SCHEMA = """
CREATE TABLE IF NOT EXISTS served (
    request_id TEXT PRIMARY KEY,
    surface    TEXT NOT NULL,
    arm        TEXT NOT NULL,
    unit       TEXT,
    query      TEXT,
    skus       TEXT NOT NULL,
    ts         REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS served_ts ON served (ts, request_id);
CREATE TABLE IF NOT EXISTS consent (
    identifier_hash TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    email_consent   INTEGER NOT NULL,
    stated_at       REAL NOT NULL,
    received_at     REAL NOT NULL
);
"""

EVENT_FRAME_COLUMNS = (
    "event_id",
    "customer_key",
    "type",
    "ts",
    "channel",
    "sku",
    "store_id",
    "quantity",
    "price",
    "session_id",
    "basket_id",
    "query",
    "campaign",
    "request_id",
    "position",
    "identifiers",
    "received_at",
)

SURFACES = ("search", "suggest", "customer", "similar", "bought_together", "cart", "trending", "email")
"""Where an answer was shown; each has its own click-through and attributed revenue."""


@dataclass(frozen=True)
class ServedAnswer:
    """One answer the service gave, as analytics and A/B reports read it."""

    request_id: str
    surface: str
    arm: str
    unit: str | None
    query: str | None
    skus: tuple[str, ...]
    ts: float  # seconds since the epoch (UTC)

    def row(self) -> tuple:
        return (
            self.request_id,
            self.surface,
            self.arm,
            self.unit,
            self.query,
            json.dumps(self.skus),
            self.ts,
        )


@dataclass(frozen=True)
class ConsentStatement:
    identifier_hash: str
    kind: str  # "email", "loyalty_id", "phone" or "customer_id"
    email_consent: bool
    stated_at: float


class AnalyticsTables:
    """Served answers and consent; mixed into :class:`models.store.sqlite.LiveStore`."""

    _conn: Any  # () -> this thread's connection
    _write: Any  # () -> a context manager yielding the connection of one write transaction

    # --- served answers ----------------------------------------------------------------------------
    def record_served(self, answers: Iterable[ServedAnswer]) -> int:
        """Store a batch of answers in one transaction (a repeated request_id is kept once)."""
        rows = [a.row() for a in answers]
        if not rows:
            return 0
        with self._write() as conn:
            cur = conn.executemany("INSERT INTO served VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING", rows)
            return cur.rowcount

    def iter_served(self, since: float, until: float, page_size: int = 10_000) -> Iterator[ServedAnswer]:
        """Answers with ``since <= ts < until`` in time order, one short read per page."""
        last_ts, last_id = since, ""
        sql = (
            "SELECT request_id, surface, arm, unit, query, skus, ts FROM served "
            "WHERE ts >= ? AND ts < ? AND (ts > ? OR request_id > ?) ORDER BY ts, request_id LIMIT ?"
        )
        while True:
            rows = self._conn().execute(sql, (since, until, last_ts, last_id, page_size)).fetchall()
            for r in rows:
                yield ServedAnswer(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), r[6])
            if len(rows) < page_size:
                return
            last_ts, last_id = rows[-1][6], rows[-1][0]

    def served_frame(self, since: float = float("-inf"), until: float = float("inf")) -> pd.DataFrame:
        """Answers with ``since <= ts < until`` as the frame ``models.analytics`` reads (``skus`` a
        list per row, ``ts`` UTC datetimes); empty with the same columns when there are none."""
        if not has_table(self._conn(), "served"):
            rows: list = []
        else:
            rows = (
                self._conn()
                .execute(
                    "SELECT request_id, surface, arm, unit, query, skus, ts FROM served WHERE ts >= ? AND ts < ? "
                    "ORDER BY ts, request_id",
                    (max(since, -1e18), min(until, 1e18)),
                )
                .fetchall()
            )
        frame = pd.DataFrame(rows, columns=["request_id", "surface", "arm", "unit", "query", "skus", "ts"])
        frame["skus"] = [json.loads(v) for v in frame["skus"]]
        frame["ts"] = pd.to_datetime(frame["ts"].astype(float), unit="s", utc=True)
        return frame

    def events_frame(
        self, since: float = float("-inf"), until: float = float("inf"), by: str = "ts"
    ) -> pd.DataFrame:
        """Events with ``since <= by < until`` (``by``: ``ts`` or ``received_at``) in the import
        format's columns, identifiers as salted hashes only: ``customer_key`` (whom the service
        resolved the event to) and ``identifiers`` (kind -> hash, for re-resolution). Columns a
        store from before v4 lacks are empty."""
        if by not in ("ts", "received_at"):
            raise ValueError(f"by must be 'ts' or 'received_at', got {by!r}")
        conn = self._conn()
        present = conn.columns("events")
        select = ", ".join(c if c in present else f"NULL AS {c}" for c in EVENT_FRAME_COLUMNS)
        rows = conn.execute(
            f"SELECT {select} FROM events WHERE {by} >= ? AND {by} < ? ORDER BY ts, event_id",
            (max(since, -1e18), min(until, 1e18)),
        ).fetchall()
        frame = pd.DataFrame(rows, columns=list(EVENT_FRAME_COLUMNS))
        frame["ts"] = pd.to_datetime(frame["ts"].astype(float), unit="s", utc=True)
        frame["identifiers"] = [
            json.loads(v) if isinstance(v, str) and v else {} for v in frame["identifiers"]
        ]
        for column in ("sku", "store_id", "session_id", "basket_id", "query", "campaign", "request_id"):
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna(), None)
        frame["quantity"] = frame["quantity"].fillna(1).astype("int64")
        frame["price"] = frame["price"].astype(float)
        frame["position"] = frame["position"].astype("Int64")
        return frame

    # --- consent -----------------------------------------------------------------------------------
    def record_consent(self, statements: Iterable[ConsentStatement], received_at: float) -> int:
        """Keep each identifier's latest statement (by ``stated_at``; an older one arriving late loses)."""
        rows = [
            (s.identifier_hash, s.kind, int(s.email_consent), s.stated_at, received_at) for s in statements
        ]
        if not rows:
            return 0
        with self._write() as conn:
            cur = conn.executemany(
                "INSERT INTO consent VALUES (?,?,?,?,?) ON CONFLICT(identifier_hash) DO UPDATE SET "
                "kind=excluded.kind, email_consent=excluded.email_consent, stated_at=excluded.stated_at, "
                "received_at=excluded.received_at WHERE excluded.stated_at >= consent.stated_at",
                rows,
            )
            return cur.rowcount

    def consent_statements(self) -> list[ConsentStatement]:
        if not has_table(self._conn(), "consent"):
            return []
        return [
            ConsentStatement(r[0], r[1], bool(r[2]), r[3])
            for r in self._conn().execute(
                "SELECT identifier_hash, kind, email_consent, stated_at FROM consent ORDER BY identifier_hash"
            )
        ]


def has_table(conn: Any, name: str) -> bool:
    """Whether a (possibly older) store has ``name``: a v3 file read by a batch job has no
    ``served`` or ``consent`` table yet. ``conn``: a :class:`models.store.dialect.Connection`."""
    return conn.has_table(name)
