"""The batch-recommend job: prepare once, score each customer partition, write it, checkpoint it.

``prepare`` reads the bundle and ``--data`` (through ``ingest``), resolves every event to a person
through the bundle's identity map, applies the campaign's selection rules and the engine's
exclusion rules, and assigns each recipient to a partition by a hash of ``customer_id``. With a
live store (``--store``) it scores over the live catalog (``training/batch/live.py``): live stock
and web stock, discontinued products and products added since training.
Scoring a partition lives in ``partition.py`` (``score_partition``, a pure function of (job,
partition)): the local runner here and the Ray runner (``distributed.py``) call the same one, which
is why their outputs are equal.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from tqdm.auto import tqdm

from models import artifacts as A
from models.bundle import Bundle, fingerprint_files
from models.catalog import Catalog
from models.config import Settings
from models.history import history_table
from models.pii import identifier_key
from models.recommend import RecommendationEngine
from models.recommenders.ann import IVFScorer
from models.recommenders.interactions import type_weights_from_settings
from training.batch import campaigns, export
from training.batch.distributed import run_ray
from training.batch.live import read_consent, read_live_state, read_loyalty
from training.batch.partition import BatchJob, partition_stats, score_partition, summarise
from training.batch.promotions import EmailPromotions
from training.batch.writer import PartWriter
from training.identity import IdentityGraph
from training.ingest import ingest
from training.live_events import merge_events, read_live_events, resolve_live_rows

console = Console(stderr=True)
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")
"""An fsspec / pyarrow.fs URL (``s3://b/x``; ``Path`` keeps one slash), not a directory."""


@dataclass
class BatchOptions:
    campaign: str
    k: int = 20
    cart_window_days: float = 7.0
    cart_idle_hours: float = 2.0
    purchase_window_days: float = 14.0
    replenishment_window_days: float = 7.0
    chunk_customers: int = 50_000
    now: pd.Timestamp | None = None
    rules: Path | None = None
    """Merchandising rules whose ``email`` surface applies (default: the bundle's shipped rules)."""
    new_and_sale: int = 0
    """Newsletter: this many new arrivals and sale items of the person's top categories after the list."""

    @classmethod
    def from_settings(
        cls, campaign: str, settings: Settings, now: pd.Timestamp | None = None
    ) -> BatchOptions:
        return cls(
            campaign=campaigns.check_campaign(campaign),
            k=settings.batch_k,
            cart_window_days=settings.batch_cart_window_days,
            cart_idle_hours=settings.batch_cart_idle_hours,
            purchase_window_days=settings.batch_purchase_window_days,
            replenishment_window_days=settings.batch_replenishment_window_days,
            chunk_customers=settings.batch_chunk_customers,
            now=now,
        )


def partition_of(customer_ids: pd.Series, n_partitions: int) -> np.ndarray:
    """Stable partition per customer (pandas' fixed-key SipHash: same on every machine and run)."""
    h = pd.util.hash_pandas_object(customer_ids.astype(str), index=False).to_numpy()
    return (h % np.uint64(n_partitions)).astype(np.int64)


def prepare(
    bundle_dir: Path,
    data_dir: Path,
    options: BatchOptions,
    settings: Settings,
    quarantine: Path,
    store: Path | None = None,
) -> BatchJob:
    """The job over ``bundle_dir`` and ``data_dir``; with ``store``, over its live catalog too."""
    campaigns.check_campaign(options.campaign)
    bundle = Bundle.open(bundle_dir, verify=True)
    catalog = Catalog.load(bundle.path / A.CATALOG_DIR)
    engine = RecommendationEngine.load(bundle.path, catalog, settings)
    live = read_live_state(store) if store is not None else None
    if live is not None:
        catalog = live.catalog(catalog)  # trained rows first, same order: the bundle's item ids hold
        engine = engine.with_catalog(catalog)
    identity_map = pd.read_parquet(bundle.file(A.IDENTITY_MAP))
    customers = pd.read_parquet(bundle.file(A.CUSTOMERS))
    data = ingest(data_dir, quarantine)

    events = data.events
    live_events = None
    if store is not None:
        live_events = read_live_events(store, events, data.products["sku"].astype(str))
        events = merge_events(events, live_events)
    events["customer_id"] = IdentityGraph(identity_map, customers).customer_of(events, settings.pii_salt)
    if live_events is not None:
        found = resolve_live_rows(events, identity_map)
        events["customer_id"] = events["customer_id"].where(events["customer_id"].notna(), found)
    events["item"] = catalog.indices(events["sku"].astype(str).tolist())
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True)
    trained = pd.read_parquet(bundle.file(A.HISTORY))
    trained["timestamp"] = pd.to_datetime(trained["timestamp"], utc=True)
    cutoff = trained["timestamp"].max() if len(trained) else pd.Timestamp.min.tz_localize("UTC")
    now = (
        pd.Timestamp(options.now)
        if options.now is not None
        else (events["timestamp"].max() if len(events) else cutoff)
    )
    if now.tzinfo is None:
        now = now.tz_localize("UTC")

    unsubscribed_at = _unsubscribed_at(data.unsubscribes, settings.pii_salt)
    people = campaigns.audience(customers, identity_map, set(unsubscribed_at))
    if store is not None:
        people = campaigns.apply_consent(people, read_consent(store), identity_map, unsubscribed_at)
    recipients, seeds = campaigns.select(
        options.campaign,
        people,
        events,
        now,
        cart_window_days=options.cart_window_days,
        cart_idle_hours=options.cart_idle_hours,
        purchase_window_days=options.purchase_window_days,
        replenishment_window_days=options.replenishment_window_days,
        cycles=engine.pair_cycles,
    )
    who = set(recipients["customer_id"])
    known = events[events["customer_id"].isin(who) & (events["item"] >= 0) & (events["timestamp"] <= now)]
    # events newer than the bundle fold into the models' rows: products added since training are not there
    new = known[(known["timestamp"] > cutoff) & (known["item"] < engine.n_trained)]
    weights = new["type"].astype(str).map(type_weights_from_settings(settings)).fillna(0.0)
    delta = pd.DataFrame(
        {"customer_id": new["customer_id"].astype(str), "item": new["item"], "weight": weights}
    )
    delta = delta[delta["weight"] > 0].reset_index(drop=True)

    history = pd.concat(
        [trained[trained["customer_id"].isin(who)], history_table(known, catalog)], ignore_index=True
    )
    history = history[(history["item"] >= 0) & (history["timestamp"] <= now)]
    ages = (now - history["timestamp"]).dt.total_seconds().to_numpy() / 86400.0
    items = history["item"].to_numpy(np.int64)
    cycles = engine.pair_cycles(history["customer_id"].to_numpy(object), items)  # each person's own
    banned = engine.excluded_events(items, history["type"].to_numpy(object), ages, cycles)
    excluded = history.loc[banned, ["customer_id", "item"]].drop_duplicates().reset_index(drop=True)

    approximate = (
        options.campaign == "newsletter"
        and len(recipients) >= settings.batch_ann_min_customers
        and min(len(recipients), options.chunk_customers) * len(catalog) >= settings.recs_two_stage_min_cells
        and engine.approximate_first_stage(
            lambda: IVFScorer(
                nlist=settings.batch_ivf_nlist, nprobe=settings.batch_ivf_nprobe, seed=settings.random_seed
            )
        )
    )
    n_partitions = max(1, math.ceil(len(recipients) / max(1, options.chunk_customers)))
    recipients = recipients.assign(partition=partition_of(recipients["customer_id"], n_partitions))
    params = {
        "campaign": options.campaign,
        "k": options.k,
        "now": now.isoformat(),
        "cart_window_days": options.cart_window_days,
        "cart_idle_hours": options.cart_idle_hours,
        "purchase_window_days": options.purchase_window_days,
        "bundle": bundle.version,
        "data": fingerprint_files(data.input_files),
    }
    if options.campaign == "replenishment":  # other campaigns keep their fingerprints
        params["replenishment_window_days"] = options.replenishment_window_days
    if live is not None:
        params["live"] = live.fingerprint()  # a resumed job never mixes two live states
    if live_events is not None:
        params["live_events"] = live_events.report()
    members = campaigns.members(
        customers, identity_map, read_loyalty(store) if store is not None else None, who
    )
    promotions = EmailPromotions.load(bundle.path, engine, now, options.rules, options.new_and_sale, members)
    if promotions.active(options.campaign):  # jobs without promotions keep their fingerprints
        params["promotions"] = promotions.fingerprint()
    if (loyalty := promotions.members_fingerprint()) is not None:  # members see what their tier unlocks
        params["loyalty"] = loyalty
    params["fingerprint"] = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return BatchJob(
        promotions=promotions,
        campaign=options.campaign,
        k=options.k,
        now=now,
        engine=engine,
        recipients=recipients,
        seeds=seeds,
        delta=delta,
        excluded=excluded,
        n_partitions=n_partitions,
        fingerprint=params,
        stats={
            "audience": len(people),
            "recipients": len(recipients),
            "new_events": len(new),
            "first_stage": "ivf" if approximate else "exact",
            "ingest": data.report(),
            **({"live_version": live.version} if live is not None else {}),
            **({"live_events": live_events.report()} if live_events is not None else {}),
        },
    )


def _unsubscribed_at(unsubscribes: pd.DataFrame, salt: str) -> dict[str, pd.Timestamp]:
    """email hash -> when it was unsubscribed (the earliest time when ``--data`` does not say)."""
    never = pd.Timestamp.min.tz_localize("UTC")
    at = (
        pd.to_datetime(unsubscribes["unsubscribed_at"], utc=True, errors="coerce")
        if "unsubscribed_at" in unsubscribes
        else pd.Series(pd.NaT, index=unsubscribes.index)
    )
    out: dict[str, pd.Timestamp] = {}
    for email, when in zip(unsubscribes["email"], at, strict=True):
        h = identifier_key("email", email, salt) if isinstance(email, str) else None
        if h:
            when = never if pd.isna(when) else when
            out[h] = max(out.get(h, never), when)
    return out


# --- running ---------------------------------------------------------------------------------
def run_local(
    job: BatchJob,
    writer: PartWriter,
    on_part: Callable[[int, dict[str, Any]], None] | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Score and write every unfinished partition in order, checkpointing each.

    With ``threads`` > 1 that many partitions are scored at once: the heavy steps (FAISS search,
    sparse products, sorts) release the GIL, and each partition's output depends on nothing else,
    so the parts are the same bytes. Parts are still written and checkpointed in partition order.
    """
    done = writer.done()
    todo = [p for p in range(job.n_partitions) if p not in done]
    sizes = job.recipients["partition"].value_counts()
    start = time.perf_counter()
    with (
        tqdm(
            total=len(job.recipients),
            initial=int(sum(sizes.get(p, 0) for p in done)),
            desc=f"{job.campaign}",
            unit=" customers",
            unit_scale=True,
        ) as bar,
        ThreadPoolExecutor(max(1, threads)) as pool,
    ):
        # at most ``threads`` partitions in flight, so memory grows with threads, not partitions
        pending = deque()
        for p in todo:
            pending.append((p, pool.submit(score_partition, job, p)))
            if len(pending) < max(1, threads):
                continue
            _write(job, writer, *pending.popleft(), bar, on_part)
        while pending:
            _write(job, writer, *pending.popleft(), bar, on_part)
    return summarise(job, writer, time.perf_counter() - start, len(todo), engine="local")


def _write(
    job: BatchJob,
    writer: PartWriter,
    partition: int,
    future: Future,
    bar: tqdm,
    on_part: Callable[[int, dict[str, Any]], None] | None,
) -> None:
    table = future.result()
    writer.write_part(partition, table)
    stats = partition_stats(table, job, partition)
    writer.commit(partition, stats)
    bar.update(stats["recipients"])
    if on_part is not None:
        on_part(partition, stats)


def print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"batch-recommend {summary['campaign']} ({summary['engine']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in (
        "audience",
        "recipients",
        "emails",
        "rows",
        "partitions",
        "partitions_run_now",
        "new_events",
        "first_stage",
        "seconds",
        "customers_per_second",
        "complete",
    ):
        table.add_row(key, str(summary[key]))
    for key, n in summary["reasons"].items():
        table.add_row(f"reason: {key}…", str(n))
    console.print(table)


def run_batch(
    bundle_dir: Path,
    data_dir: Path,
    out: Path,
    options: BatchOptions,
    settings: Settings,
    engine: str = "local",
    overwrite: bool = False,
    num_cpus: int | None = None,
    store: Path | None = None,
    output_format: str = "parquet",
    email_products: int = 4,
    ray_address: str | None = None,
) -> dict[str, Any]:
    """The CLI entry: prepare, then run locally or on Ray, resuming what a previous run finished.

    ``store``: the service's live store to read (never written); ``None`` scores the bundle's catalog.
    ``output_format`` other than parquet: once every part is written, an email tool's audience file
    beside them (``training/batch/export.py``) with the first ``email_products`` products per person.
    ``ray_address`` (engine ray): the cluster to run on; ``num_cpus``: a local Ray cluster's size (None:
    this machine's CPUs). Either way the cluster's CPU count sets how many partitions run at once.
    """
    export.check_format(output_format, email_products)
    if URL.match(str(out)):  # s3://, gs://, hdfs://...: parts and checkpoints rely on an atomic rename
        raise campaigns.CampaignError(
            f"--out {out}: a URL; batch output goes to a directory (on a Ray cluster, a shared mount every "
            "node sees at the same path); copy it to object storage afterwards"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    job = prepare(bundle_dir, data_dir, options, settings, out / "_quarantine.jsonl", store=store)
    writer = PartWriter(out, job.job_record(), overwrite=overwrite)
    if engine == "ray":
        summary = run_ray(job, writer, num_cpus=num_cpus, address=ray_address)
    elif engine == "local":
        summary = run_local(job, writer, threads=settings.batch_threads)
    else:
        raise campaigns.CampaignError(f"unknown engine {engine!r}; choose local or ray")
    print_summary(summary)
    if output_format != "parquet" and summary["complete"]:
        summary["export"] = export.export_audience(
            out, output_format, job.engine.catalog, data_dir, settings.pii_salt, email_products
        )
        written = summary["export"]
        console.print(f"audience file {written['path']}: {written['rows']} rows (owner-only)")
    return summary
