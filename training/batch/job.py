"""The batch-recommend job: prepare once, score each customer partition, write it, checkpoint it.

``prepare`` reads the bundle and ``--data`` (through ``ingest``), resolves every event to a person
through the bundle's identity map, applies the campaign's selection rules and the engine's
exclusion rules, and assigns each recipient to a partition by a hash of ``customer_id``. With a
live store (``--store``) it scores over the live catalog (``training/batch/live.py``): live stock
and web stock, discontinued products and products added since training.
``score_partition`` is a pure function of (job, partition): the local runner and the Ray runner
call the same one, which is why their outputs are equal.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table
from tqdm.auto import tqdm

from models import artifacts as A
from models.bundle import Bundle, fingerprint_files
from models.catalog import Catalog
from models.config import Settings
from models.pii import identifier_key
from models.recommend import Context, RecommendationEngine, history_table
from models.recommenders.ann import IVFScorer
from models.recommenders.interactions import type_weights_from_settings
from training.batch import campaigns
from training.batch.live import read_consent, read_live_state
from training.batch.scoring import complement_matrix, incidence, score_complements
from training.batch.writer import SCHEMA, PartWriter
from training.identity import IdentityGraph
from training.ingest import ingest
from training.live_events import merge_events, read_live_events, resolve_live_rows

console = Console(stderr=True)
CHANNEL = "web"  # emails link to the web shop: only items sold there may appear


@dataclass
class BatchOptions:
    campaign: str
    k: int = 20
    cart_window_days: float = 7.0
    cart_idle_hours: float = 2.0
    purchase_window_days: float = 14.0
    chunk_customers: int = 50_000
    now: pd.Timestamp | None = None

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
            chunk_customers=settings.batch_chunk_customers,
            now=now,
        )


@dataclass
class BatchJob:
    """Everything a worker needs to score any partition (broadcast once to distributed workers)."""

    campaign: str
    k: int
    now: pd.Timestamp
    engine: RecommendationEngine
    recipients: pd.DataFrame  # customer_id, email_hash, partition
    seeds: pd.DataFrame  # customer_id, item, at, channel
    delta: pd.DataFrame  # customer_id, item, weight: events newer than the bundle
    excluded: pd.DataFrame  # customer_id, item: what the rules forbid per person
    n_partitions: int
    fingerprint: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)

    def job_record(self) -> dict[str, Any]:
        return {**self.fingerprint, "n_partitions": self.n_partitions}


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
    banned = engine.excluded_events(
        history["item"].to_numpy(np.int64), history["type"].to_numpy(object), ages
    )
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
    if live is not None:
        params["live"] = live.fingerprint()  # a resumed job never mixes two live states
    if live_events is not None:
        params["live_events"] = live_events.report()
    params["fingerprint"] = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return BatchJob(
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


# --- scoring one partition -------------------------------------------------------------------
def _rows_of(frame: pd.DataFrame, customers: pd.Index) -> np.ndarray:
    return customers.get_indexer(frame["customer_id"].astype(str))


def _pair_matrix(
    frame: pd.DataFrame, customers: pd.Index, n_items: int, values: str | None = None
) -> sp.csr_matrix:
    sub = frame[frame["customer_id"].isin(customers)]
    rows = _rows_of(sub, customers)
    if values is None:
        return incidence(rows, sub["item"].to_numpy(np.int64), len(customers), n_items)
    m = sp.csr_matrix(
        (sub[values].to_numpy(np.float32), (rows, sub["item"].to_numpy(np.int64))),
        shape=(len(customers), n_items),
    )
    m.sum_duplicates()
    return m


def _compact(
    ids: np.ndarray, scores: np.ndarray, flags: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First ``k`` valid entries of each row, order kept, padded -1 / -inf / False."""
    valid = ids >= 0
    rank = np.cumsum(valid, axis=1) - 1
    valid &= rank < k
    out_ids = np.full((len(ids), k), -1, np.int32)
    out_scores = np.full((len(ids), k), -np.inf, np.float32)
    out_flags = np.zeros((len(ids), k), dtype=bool)
    r, c = np.nonzero(valid)
    out_ids[r, rank[r, c]], out_scores[r, rank[r, c]], out_flags[r, rank[r, c]] = (
        ids[r, c],
        scores[r, c],
        flags[r, c],
    )
    return out_ids, out_scores, out_flags


def _complement_source(job: BatchJob, customers: pd.Index, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """For each (row, item) output pair, the seed whose complements gave it the most NPMI (-1: none)."""
    cp = job.engine.copurchase
    seeds = job.seeds[job.seeds["customer_id"].isin(customers) & (job.seeds["item"] < cp.ids_.shape[0])]
    seed_rows = np.repeat(_rows_of(seeds, customers), cp.ids_.shape[1])
    seed_items = np.repeat(seeds["item"].to_numpy(np.int64), cp.ids_.shape[1])
    long = pd.DataFrame(
        {
            "row": seed_rows,
            "item": cp.ids_[seeds["item"].to_numpy(np.int64)].ravel(),
            "npmi": cp.npmi_[seeds["item"].to_numpy(np.int64)].ravel(),
            "seed": seed_items,
        }
    )
    long = long[(long["item"] >= 0) & (long["npmi"] > 0)]
    best = long.sort_values(["npmi", "seed"], ascending=[False, True], kind="stable").drop_duplicates(
        ["row", "item"]
    )
    pairs = pd.DataFrame({"row": rows, "item": items.astype(np.int64)})
    return pairs.merge(best, on=["row", "item"], how="left")["seed"].fillna(-1).to_numpy(np.int64)


def score_partition(job: BatchJob, partition: int) -> pa.Table:
    """The emails of one partition as an Arrow table in output order (customer_id, rank)."""
    engine, catalog = job.engine, job.engine.catalog
    part = job.recipients[job.recipients["partition"] == partition].sort_values("customer_id", kind="stable")
    customers = pd.Index(part["customer_id"].astype(str))
    n_items, k = len(catalog), job.k
    eligible = engine.eligible(Context(channel=CHANNEL, now=job.now))
    excluded = _pair_matrix(job.excluded, customers, n_items)
    titles = catalog.products["title"].astype(str).to_numpy()
    cats = catalog.products["top_category"].astype(str).to_numpy()

    if job.campaign == "newsletter":
        ids, scores, reasons = _newsletter(job, customers, excluded, eligible, cats)
    else:
        seeds = _pair_matrix(job.seeds, customers, n_items)
        comp = complement_matrix(engine.copurchase, n_items)
        comp_ids, comp_scores = score_complements(seeds, comp, excluded, eligible, k)
        if job.campaign == "abandoned-cart":
            in_stock = eligible & still_in_stock(catalog)
            carts = job.seeds[job.seeds["customer_id"].isin(customers)]
            carts = carts[in_stock[carts["item"].to_numpy(np.int64)]]
            cart_rows = _rows_of(carts, customers)
            rank = carts.groupby(cart_rows).cumcount().to_numpy()  # seeds are latest first per customer
            cart_ids = np.full((len(customers), k), -1, np.int32)
            keep = rank < k
            cart_ids[cart_rows[keep], rank[keep]] = carts["item"].to_numpy(np.int64)[keep]
            has_cart = (cart_ids >= 0).any(axis=1)
            comp_ids = np.where(has_cart[:, None], comp_ids, -1)  # no in-stock cart item: no reminder
            ids, scores, is_cart = _compact(
                np.hstack([cart_ids, comp_ids]),
                np.hstack([np.where(cart_ids >= 0, 1.0, -np.inf).astype(np.float32), comp_scores]),
                np.hstack([np.ones_like(cart_ids, dtype=bool), np.zeros_like(comp_ids, dtype=bool)]),
                k,
            )
            verb = "in your cart"
        else:
            ids, scores, is_cart = comp_ids, comp_scores, np.zeros_like(comp_ids, dtype=bool)
            verb = "you bought"
        r, c = np.nonzero(ids >= 0)
        source = _complement_source(job, customers, r, ids[r, c])
        reasons = np.empty(ids.shape, dtype=object)
        is_seed = is_cart[r, c]
        reasons[r[is_seed], c[is_seed]] = "Still in your cart"
        src = source[~is_seed]
        reasons[r[~is_seed], c[~is_seed]] = np.where(
            src >= 0,
            np.char.add(np.char.add("Goes with ", titles[np.maximum(src, 0)].astype(str)), f" {verb}"),
            "Completes your basket",
        )

    r, c = np.nonzero(ids >= 0)
    table = pa.table(
        {
            "customer_id": customers.to_numpy()[r],
            "email_hash": part["email_hash"].astype(str).to_numpy()[r],
            "campaign": np.full(len(r), job.campaign, dtype=object),
            "rank": (c + 1).astype(np.int32),
            "sku": catalog.skus[ids[r, c]].astype(str),
            "score": scores[r, c].astype(np.float32),
            "reason": reasons[r, c].astype(str),
        }
    )
    return table.cast(SCHEMA)


def still_in_stock(catalog: Catalog) -> np.ndarray:
    """Can the web shop still ship it? Its live web stock where that is tracked, else units on
    hand in any store (no stores at all: nothing to check)."""
    anywhere = catalog.stock.sum(axis=0) > 0 if catalog.stock.shape[0] else np.ones(len(catalog), dtype=bool)
    return np.where(catalog.web_stock >= 0, catalog.web_stock > 0, anywhere)


def _newsletter(
    job: BatchJob, customers: pd.Index, excluded: sp.csr_matrix, eligible: np.ndarray, cats: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    engine, n_items = job.engine, job.engine.n_trained  # products added since training: not in the models
    if excluded.shape[1] > n_items:
        excluded = excluded[:, :n_items]
    ctx = Context(channel=CHANNEL, now=job.now)
    idx = engine.user_index
    model_row = np.array([idx.get(c, -1) for c in customers], dtype=np.int64)
    known = np.flatnonzero(model_row >= 0)
    select = sp.csr_matrix(
        (np.ones(len(known), np.float32), (known, model_row[known])),
        shape=(len(customers), engine.user_items.shape[0]),
    )
    delta = _pair_matrix(job.delta, customers, n_items, values="weight")
    rows = (select @ engine.user_items.astype(np.float32) + delta).tocsr()
    # Trained factors for people with nothing new; people with new events are folded in from their row.
    userids = np.where(np.diff(delta.indptr) > 0, -1, model_row)
    ids, scores = engine.for_customers(userids, rows, excluded, ctx, job.k)
    reasons = np.where(
        ids >= 0,
        np.char.add("Picked for you from your interest in ", cats[np.maximum(ids, 0)].astype(str)),
        "",
    )
    reasons = reasons.astype(object)
    cold = np.diff(rows.indptr) == 0
    if cold.any():
        trend = engine.trending_list(ctx, job.k, cold_start=True)
        t_ids = np.full(job.k, -1, np.int32)
        t_scores = np.full(job.k, -np.inf, np.float32)
        t_reasons = np.full(job.k, "", dtype=object)
        for pos, rec in enumerate(trend):
            t_ids[pos], t_scores[pos], t_reasons[pos] = rec.item, rec.score, rec.reason
        ids[cold], scores[cold], reasons[cold] = t_ids, t_scores, t_reasons
    return ids, scores, reasons


# --- running ---------------------------------------------------------------------------------
def partition_stats(table: pa.Table, job: BatchJob, partition: int) -> dict[str, Any]:
    reasons = pd.Series(table.column("reason").to_numpy(zero_copy_only=False)).str.split(" ").str[0]
    return {
        "partition": partition,
        "recipients": int((job.recipients["partition"] == partition).sum()),
        "emails": int(pa.compute.count_distinct(table.column("customer_id")).as_py()) if len(table) else 0,
        "rows": int(len(table)),
        "reasons": {str(k): int(v) for k, v in reasons.value_counts().sort_index().items()},
    }


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


def summarise(
    job: BatchJob, writer: PartWriter, seconds: float, parts_run: int, engine: str
) -> dict[str, Any]:
    done = writer.done()
    reasons: dict[str, int] = {}
    for s in done.values():
        for key, n in s["reasons"].items():
            reasons[key] = reasons.get(key, 0) + n
    scored = sum(s["recipients"] for p, s in done.items())
    summary = {
        "campaign": job.campaign,
        "engine": engine,
        "now": job.now.isoformat(),
        "bundle": job.fingerprint["bundle"],
        "fingerprint": job.fingerprint["fingerprint"],
        "audience": job.stats["audience"],
        "recipients": job.stats["recipients"],
        "emails": sum(s["emails"] for s in done.values()),
        "rows": sum(s["rows"] for s in done.values()),
        "partitions": job.n_partitions,
        "partitions_run_now": parts_run,
        "complete": len(done) == job.n_partitions,
        "seconds": round(seconds, 2),
        "customers_per_second": round(scored / seconds, 1) if seconds > 0 else None,
        "new_events": job.stats["new_events"],
        "first_stage": job.stats.get("first_stage", "exact"),
        "reasons": reasons,
    }
    if "live_version" in job.stats:
        summary["live_version"] = job.stats["live_version"]
    if summary["complete"]:
        writer.finish(summary)
    return summary


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
    num_cpus: int = 2,
    store: Path | None = None,
) -> dict[str, Any]:
    """The CLI entry: prepare, then run locally or on Ray, resuming what a previous run finished.

    ``store``: the service's live store to read (never written); ``None`` scores the bundle's catalog.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    job = prepare(bundle_dir, data_dir, options, settings, out / "_quarantine.jsonl", store=store)
    writer = PartWriter(out, job.job_record(), overwrite=overwrite)
    if engine == "ray":
        from training.batch.distributed import run_ray

        summary = run_ray(job, writer, num_cpus=num_cpus)
    elif engine == "local":
        summary = run_local(job, writer, threads=settings.batch_threads)
    else:
        raise campaigns.CampaignError(f"unknown engine {engine!r}; choose local or ray")
    print_summary(summary)
    return summary
