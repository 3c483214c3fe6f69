"""Loyalty memberships stated live (``PUT /v1/customers/loyalty``): tier, points, joined date.

Keyed by the salted hash of the loyalty id (never the raw card number), with the customer key the
card resolved to when it was written, so the profile and search find a member by either. The
latest write of a card wins; the bundle's imported loyalty columns are the fallback.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

LOYALTY_SCHEMA = """
CREATE TABLE IF NOT EXISTS loyalty (
    loyalty_hash TEXT PRIMARY KEY,
    customer_key TEXT NOT NULL,
    tier         TEXT NOT NULL,
    points       INTEGER,
    joined       TEXT,
    updated_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS loyalty_customer ON loyalty (customer_key, updated_at);
"""


@dataclass(frozen=True)
class Membership:
    loyalty_hash: str
    customer_key: str
    tier: str
    points: int | None = None
    joined: str | None = None  # ISO date


class LoyaltyTable:
    """Mixin of ``LiveStore``: the live loyalty memberships."""

    _conn: Any  # provided by LiveStore / ReadOnlyStore
    _write: Any

    def put_loyalty(self, rows: Sequence[Membership], now: float) -> int:
        """Upsert memberships by loyalty hash; returns how many were written."""
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO loyalty (loyalty_hash, customer_key, tier, points, joined, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (loyalty_hash) DO UPDATE SET "
                "customer_key = excluded.customer_key, tier = excluded.tier, points = excluded.points, "
                "joined = excluded.joined, updated_at = excluded.updated_at",
                [(m.loyalty_hash, m.customer_key, m.tier, m.points, m.joined, now) for m in rows],
            )
        return len(rows)

    def membership(self, keys: Iterable[str]) -> Membership | None:
        """The latest membership written for any of ``keys`` (customer keys or loyalty hashes)."""
        keys = list(dict.fromkeys(k for k in keys if k))
        if not keys:
            return None
        marks = ",".join("?" * len(keys))
        row = (
            self._conn()
            .execute(
                "SELECT loyalty_hash, customer_key, tier, points, joined FROM loyalty "
                f"WHERE customer_key IN ({marks}) OR loyalty_hash IN ({marks}) "
                "ORDER BY updated_at DESC, loyalty_hash LIMIT 1",
                [*keys, *keys],
            )
            .fetchone()
        )
        return None if row is None else Membership(*row)

    def memberships(self) -> Iterator[Membership]:
        """Every live membership (the batch jobs read them all)."""
        yield from (
            Membership(*r)
            for r in self._conn().execute(
                "SELECT loyalty_hash, customer_key, tier, points, joined FROM loyalty ORDER BY updated_at"
            )
        )
