"""Ground work every component stands on: the validated data, one customer across channels, the
catalog."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models import artifacts as A
from models.catalog import Catalog
from models.pii import IDENTIFIER_TYPES
from training import identity, ingest
from training.live_events import LIVE_ONLY_COLUMNS, merge_events, read_live_events, resolve_live_rows
from training.stages.run import TrainingRun


def ingest_data(run: TrainingRun) -> None:
    run.data = ingest.ingest(run.data_dir, run.out.file(A.QUARANTINE))
    run.metrics["ingest"] = run.data.report()


def live_events(run: TrainingRun) -> None:
    """The service's store: its events join ``--data``'s (``training/live_events.py``)."""
    data = run.data
    run.live = read_live_events(
        run.store, data.events, data.products["sku"].astype(str), data.stores["store_id"].astype(str)
    )
    data.events = merge_events(data.events, run.live)
    run.metrics["ingest"]["live_events"] = run.live.report()


def resolve_identities(run: TrainingRun) -> None:
    data, settings, live = run.data, run.settings, run.live
    graph = identity.resolve(
        data.customers,
        data.events,
        settings.pii_salt,
        data.unsubscribes["email"],
        hashed=live.hashed_identifiers() if live is not None else None,
    )
    data.events["customer_id"] = graph.customer_of(data.events, settings.pii_salt)
    if live is not None:
        found = resolve_live_rows(data.events, graph.identity_map)
        data.events["customer_id"] = data.events["customer_id"].where(
            data.events["customer_id"].notna(), found
        )
    graph.hash_memo.clear()  # millions of raw -> hash entries at scale; not needed any more
    graph.identity_map.to_parquet(run.out.file(A.IDENTITY_MAP), index=False)
    graph.customers.to_parquet(run.out.file(A.CUSTOMERS), index=False)
    truth = Path(run.data_dir) / "truth" / "identities.parquet"
    run.metrics["identity"] = {
        "customers": int(len(graph.customers)),
        "identified_event_share": float(data.events["customer_id"].notna().mean()),
    }
    if truth.exists():  # evaluation only: the sample's hidden ground truth
        evidence = pd.concat(
            [data.customers[["loyalty_id", "email", "phone"]], data.events[["loyalty_id", "email", "phone"]]]
        )
        run.metrics["identity"].update(
            identity.merge_quality(graph.identity_map, pd.read_parquet(truth), settings.pii_salt, evidence)
        )
    # No later stage reads event ids or raw identifiers: dropping them keeps raw PII out of the rest
    # of training and frees ~1 GB per 20M events before the CF stage.
    data.events = data.events.drop(
        columns=["event_id", *IDENTIFIER_TYPES, *LIVE_ONLY_COLUMNS], errors="ignore"
    )


def build_catalog(run: TrainingRun) -> None:
    data = run.data
    run.catalog = Catalog.build(data.products, data.inventory, data.stores["store_id"].astype(str).tolist())
    run.catalog.save(run.dir(A.CATALOG_DIR))
    data.stores.to_parquet(run.out.file(A.STORES), index=False)
