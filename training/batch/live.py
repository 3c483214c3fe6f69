"""The live store as a batch job reads it: stock, prices and products changed since training.

The service writes live stock, web stock, prices and discontinued or added products into its
store (``models/store``); a campaign email must not show what the web shop stopped selling since
the bundle was trained. The job reads that state once, read-only (an SQLite ``mode=ro``
connection: no schema set-up, no write lock, so it may run beside a serving fleet), and lays it
over the bundle's catalog with the same :class:`~models.live.overlay.LiveOverlay` the service uses,
without a search index (a batch job only needs what is on sale, where and how much).

The job's fingerprint includes the store's live version and a digest of the rows read, so a
resumed job never mixes parts scored against two live states.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.catalog import Catalog
from models.live.overlay import LiveOverlay
from models.store.live_tables import LiveChanges, LiveTables
from models.store.sqlite import SCHEMA_VERSION

OVERLAY_DIM = 384
"""Width of the overlay's (unused, empty) delta index: the job never searches live texts."""


class LiveStoreError(ValueError):
    """The ``--store`` file cannot be read as a live store (user-facing message)."""


class _ReadOnlyTables(LiveTables):
    """The live tables' reads over one read-only connection (``LiveStore`` would set up its schema)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._connection = conn

    def _conn(self) -> sqlite3.Connection:
        return self._connection

    def _write(self) -> Any:
        raise PermissionError("a batch job reads the live store; it never writes it")


@dataclass(frozen=True)
class LiveState:
    """Every live row of one store at one version."""

    path: Path
    changes: LiveChanges
    digest: str

    @property
    def version(self) -> int:
        return self.changes.version

    def fingerprint(self) -> dict[str, Any]:
        return {"version": self.version, "digest": self.digest}

    def catalog(self, trained: Catalog) -> Catalog:
        """The bundle's catalog brought up to date: live stock and web stock, prices, discontinued
        products inactive, products added since training appended after the trained rows."""
        return LiveOverlay.trained(trained, OVERLAY_DIM).apply(self.changes).catalog


def _digest(changes: LiveChanges) -> str:
    """A content hash of the rows, so a store re-created at the same version still differs."""
    rows = {
        "stock": [[s.location, s.sku, s.quantity] for s in changes.stock],
        "prices": [
            [p.sku, p.price, p.list_price, p.channel, p.store_id, p.valid_from, p.valid_to, p.seq]
            for p in changes.prices
        ],
        "products": [
            [
                p.sku,
                p.fields,
                p.discontinued,
                p.seq,
                None if p.embedding is None else hashlib.sha256(p.embedding.tobytes()).hexdigest(),
            ]
            for p in changes.products
        ],
    }
    blob = json.dumps(rows, sort_keys=True, default=str, allow_nan=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def read_live_state(path: Path) -> LiveState:
    """All live rows of the store at ``path``, in one read transaction, without writing anything.

    A store written before the live tables existed (schema v1) has no live state: version 0.
    """
    path = Path(path)
    if not path.is_file():
        raise LiveStoreError(
            f"--store {path} does not exist (the service's live store, OMNIRANK_EVENT_STORE_PATH)"
        )
    try:
        with closing(
            sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=5.0)
        ) as conn:
            schema = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if schema > SCHEMA_VERSION:
                raise LiveStoreError(
                    f"--store {path}: live store schema v{schema} is newer than this code (v{SCHEMA_VERSION})"
                )
            has_live = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'live_meta'"
            ).fetchone()
            changes = _ReadOnlyTables(conn).live_changes(0) if has_live else LiveChanges(since=0, version=0)
    except sqlite3.Error as exc:
        raise LiveStoreError(f"--store {path} is not a readable live store: {exc}") from exc
    return LiveState(path=path, changes=changes, digest=_digest(changes))
