"""The service's own events as training and batch input, beside ``--data``.

The service stores every event posted to ``POST /v1/events`` in its live store, keyed by the
customer it resolved and carrying the salted hash of every identifier the event held (never a raw
value). ``omnirank train --store`` and ``batch-recommend --store`` read them here, so a cart
abandoned on the web shop and posted through the API reaches the abandoned-cart email, and the
next bundle's recommendations, ranker, speller and suggestions learn from the shop's own searches
and clicks.

Re-resolution: the identifier hashes are the same keyed hashes training computes from raw
identifiers (``models.pii.hash_identifier``), so they join the identity graph as evidence
(``training.identity.resolve(hashed=...)``) and an API event lands on the same person as that
person's POS and web history. An event id present in ``--data`` too (a retailer exporting what it
also posted) is taken once, from ``--data``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from models.pii import IDENTIFIER_TYPES
from models.store.readonly import open_read_only

HASH_COLUMNS = {kind: f"{kind}_hash" for kind in IDENTIFIER_TYPES}
"""Columns of the live frame holding each identifier's salted hash (the raw columns stay empty)."""
LIVE_ONLY_COLUMNS = ("customer_key", *HASH_COLUMNS.values(), "given_customer_id")
"""Columns only live rows fill; dropped with the raw identifiers once people are resolved."""


@dataclass
class LiveEvents:
    """Live events ready to concatenate with ingested ones, and what was left out and why."""

    events: pd.DataFrame
    read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict:
        return {"read": self.read, "used": int(len(self.events)), "skipped": dict(self.skipped)}

    def hashed_identifiers(self) -> pd.DataFrame:
        """One row per event with its identifier hashes, columns named by kind (identity evidence)."""
        frame = self.events
        return pd.DataFrame({kind: frame[col] for kind, col in HASH_COLUMNS.items() if col in frame})


def read_live_events(
    store_path: Path,
    like: pd.DataFrame,
    skus: pa.Array | pd.Index,
    store_ids: pa.Array | pd.Index | None = None,
    since: pd.Timestamp | None = None,
) -> LiveEvents:
    """Events of the store at ``store_path`` (from ``since``, by event time) shaped like ``like``
    (the ingested events: same columns and dtypes), plus ``customer_key`` and the hash columns.

    Events naming a product or store this training does not know (added live and not exported in
    ``--data``) are left out and counted, as ingest quarantines them.
    """
    start = float("-inf") if since is None else pd.Timestamp(since).timestamp()
    with open_read_only(store_path) as store:
        raw = store.events_frame(since=start)
    read = len(raw)
    skipped: dict[str, int] = {}
    known_skus = set(pd.Index(np.asarray(skus, dtype=object)).astype(str))
    has_sku = raw["sku"].notna()
    unknown_sku = has_sku & ~raw["sku"].astype(str).isin(known_skus)
    if store_ids is not None and len(store_ids):
        known_stores = set(pd.Index(np.asarray(store_ids, dtype=object)).astype(str))
        unknown_store = raw["store_id"].notna() & ~raw["store_id"].astype(str).isin(known_stores)
    else:
        unknown_store = pd.Series(False, index=raw.index)
    for reason, mask in (("unknown sku", unknown_sku), ("unknown store", unknown_store & ~unknown_sku)):
        if mask.any():
            skipped[reason] = int(mask.sum())
    raw = raw[~(unknown_sku | unknown_store)].reset_index(drop=True)

    frame = pd.DataFrame(index=raw.index)
    for column in like.columns:
        source = "ts" if column == "timestamp" else column
        values = raw[source] if source in raw.columns else pd.Series(None, index=raw.index, dtype=object)
        frame[column] = _like(values, like[column])
    frame["customer_key"] = raw["customer_key"].astype(object)
    for kind, column in HASH_COLUMNS.items():
        frame[column] = [ids.get(kind) for ids in raw["identifiers"]]
    frame["given_customer_id"] = [ids.get("customer_id") for ids in raw["identifiers"]]
    return LiveEvents(frame, read=read, skipped=skipped)


def _like(values: pd.Series, template: pd.Series) -> pd.Series:
    """``values`` in ``template``'s dtype: categories stay the ingested categories (so the frames
    concatenate as categoricals), times stay UTC, numbers stay numbers."""
    dtype = template.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.Series(pd.Categorical(values.astype(object), dtype=dtype), index=values.index)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return pd.to_datetime(values, utc=True)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return pd.to_numeric(values, errors="coerce").astype(dtype) if dtype.kind == "f" else values
    return values.astype(object).where(values.notna(), None)


def merge_events(ingested: pd.DataFrame, live: LiveEvents) -> pd.DataFrame:
    """Ingested events and live ones in one time-ordered frame; an event id in both is taken from
    ``--data``. The live-only columns (customer key, hashes) are empty on ingested rows."""
    fresh = live.events[~live.events["event_id"].isin(set(ingested["event_id"].astype(str)))]
    dropped = len(live.events) - len(fresh)
    if dropped:
        live.skipped["already in --data"] = live.skipped.get("already in --data", 0) + dropped
    live.events = fresh
    if fresh.empty:
        return ingested
    merged = pd.concat([ingested, fresh], ignore_index=True)
    order = np.argsort(merged["timestamp"].to_numpy(), kind="stable")
    return merged.iloc[order].reset_index(drop=True)


def resolve_live_rows(events: pd.DataFrame, identity_map: pd.DataFrame) -> pd.Series:
    """``customer_id`` of the live rows of ``events`` (NA elsewhere): the person any of its identifier
    hashes belongs to, else the trained customer id it was posted with, else the key the service
    resolved it to when that names a person of this identity map."""
    out = pd.Series(pd.NA, index=events.index, dtype=object)
    if "customer_key" not in events.columns:
        return out
    live = events["customer_key"].notna()
    if not live.any():
        return out
    by_hash = dict(zip(identity_map["identifier_hash"], identity_map["customer_id"], strict=True))
    customers = set(identity_map["customer_id"])
    for column in HASH_COLUMNS.values():
        found = events.loc[live, column].map(by_hash)
        out.loc[live] = out.loc[live].where(out.loc[live].notna(), found)
    for column in ("given_customer_id", "customer_key"):
        values = events.loc[live, column]
        named = values.where(values.isin(customers)).astype(object)
        named = named.where(named.notna(), values.map(by_hash))
        out.loc[live] = out.loc[live].where(out.loc[live].notna(), named)
    return out
