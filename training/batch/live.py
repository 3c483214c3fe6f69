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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from models.catalog import Catalog
from models.live.overlay import LiveOverlay
from models.store.live_tables import LiveChanges
from models.store.readonly import LiveStoreError, open_read_only

__all__ = ["LiveState", "LiveStoreError", "read_consent", "read_live_state", "read_loyalty"]

OVERLAY_DIM = 384
"""Width of the overlay's (unused, empty) delta index: the job never searches live texts."""


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


def read_consent(path: Path) -> pd.DataFrame:
    """The consent statements posted to the service: identifier_hash, kind, email_consent, stated_at."""
    with open_read_only(path) as store:
        rows = store.consent_statements()
    frame = pd.DataFrame(
        [(s.identifier_hash, s.kind, s.email_consent, s.stated_at) for s in rows],
        columns=["identifier_hash", "kind", "email_consent", "stated_at"],
    )
    frame["stated_at"] = pd.to_datetime(frame["stated_at"].astype(float), unit="s", utc=True)
    return frame


def read_loyalty(path: Path) -> pd.DataFrame:
    """The memberships posted to the service (``PUT /v1/customers/loyalty``): loyalty_hash,
    customer_key, tier, oldest write first (so the last row of a person is their latest); none for
    a store from before the loyalty table."""
    columns = ["loyalty_hash", "customer_key", "tier"]
    with open_read_only(path) as store:
        if not store.has_table("loyalty"):
            return pd.DataFrame(columns=columns)
        rows = [(m.loyalty_hash, m.customer_key, m.tier) for m in store.memberships()]
    return pd.DataFrame(rows, columns=columns)


def read_live_state(path: Path) -> LiveState:
    """All live rows of the store at ``path``, in one read, without writing anything.

    A store written before the live tables existed (schema v1) has no live state: version 0.
    """
    with open_read_only(path) as store:
        changes = store.live_changes_or_none()
    return LiveState(path=Path(path), changes=changes, digest=_digest(changes))
