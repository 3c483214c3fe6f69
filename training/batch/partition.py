"""A prepared batch job and the scoring of one of its customer partitions.

``BatchJob`` holds everything a worker needs (engine, recipients, seeds, exclusions);
``score_partition`` is a pure function of (job, partition) and ``partition_stats``/``summarise``
turn written parts into the job's figures. The local runner (``job.py``) and the Ray runner
(``distributed.py``) both call these, which is why their outputs are equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from models.catalog import Catalog
from models.promotions import member_offer_reason
from models.recommend import Context, RecommendationEngine, restock_reason
from training.batch.promotions import EmailPromotions, MemberOffer
from training.batch.scoring import complement_matrix, incidence, score_complements
from training.batch.writer import SCHEMA, PartWriter

CHANNEL = "web"  # emails link to the web shop: only items sold there may appear


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
    promotions: EmailPromotions | None = None
    """The email surface's rules and the newsletter's new / sale section (training/batch/promotions.py)."""

    def job_record(self) -> dict[str, Any]:
        return {**self.fingerprint, "n_partitions": self.n_partitions}


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
    catalog = job.engine.catalog
    part = job.recipients[job.recipients["partition"] == partition].sort_values("customer_id", kind="stable")
    customers = pd.Index(part["customer_id"].astype(str))
    # loyalty members see what their tier unlocks: each tier's recipients are scored as one block
    groups = (
        job.promotions.groups(customers)
        if job.promotions is not None
        else [(np.arange(len(customers)), None)]
    )
    if len(groups) == 1:
        ids, scores, reasons = _score_group(job, customers, groups[0][1])
    else:
        done = [(rows, _score_group(job, customers[rows], tier)) for rows, tier in groups]
        width = done[0][1][0].shape[1]
        ids = np.full((len(customers), width), -1, np.int32)
        scores = np.full((len(customers), width), -np.inf, np.float32)
        reasons = np.full((len(customers), width), "", dtype=object)
        for rows, (g_ids, g_scores, g_reasons) in done:
            ids[rows], scores[rows], reasons[rows] = g_ids, g_scores, g_reasons
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


def _score_group(
    job: BatchJob, customers: pd.Index, tier: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, width) ids, scores and reasons of ``customers``, all of loyalty ``tier`` (None: not members)."""
    engine, catalog = job.engine, job.engine.catalog
    n_items, k = len(catalog), job.k
    # member-only products above the tier and what the email rules hide: never in an email
    hidden = job.promotions.hidden(catalog, tier) if job.promotions is not None else None
    offer = job.promotions.offer(catalog, tier) if job.promotions is not None else None
    eligible = engine.eligible(Context(channel=CHANNEL, now=job.now, hidden=hidden))
    excluded = _pair_matrix(job.excluded, customers, n_items)
    titles = catalog.products["title"].astype(str).to_numpy()
    cats = catalog.products["top_category"].astype(str).to_numpy()

    if job.campaign == "newsletter":
        ids, scores, reasons = _newsletter(job, customers, excluded, eligible, cats, hidden, offer)
    elif job.campaign == "replenishment":
        ids, scores, reasons = _replenishment(job, customers, excluded, eligible, cats, titles, hidden, offer)
    else:
        seeds = _pair_matrix(job.seeds, customers, n_items)
        comp = complement_matrix(engine.copurchase, n_items)
        comp_ids, comp_scores = score_complements(seeds, comp, excluded, eligible, k)
        if offer is not None:  # the member's complements; reasons follow the items below
            comp_ids, comp_scores, _ = offer.apply(
                comp_ids, comp_scores, np.zeros(comp_ids.shape, dtype=object)
            )
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
        if offer is not None:
            boosted = (ids >= 0) & ~is_cart & offer.unlocked[np.maximum(ids, 0)]
            reasons[boosted] = member_offer_reason(offer.tier)

    if job.promotions is not None and job.promotions.active(job.campaign):
        ids, scores, reasons = job.promotions.apply(
            job.campaign, engine, customers, ids, scores, reasons, eligible, k
        )
    return ids, scores, reasons


def still_in_stock(catalog: Catalog) -> np.ndarray:
    """Can the web shop still ship it? Its live web stock where that is tracked, else units on
    hand in any store (no stores at all: nothing to check)."""
    anywhere = catalog.stock.sum(axis=0) > 0 if catalog.stock.shape[0] else np.ones(len(catalog), dtype=bool)
    return np.where(catalog.web_stock >= 0, catalog.web_stock > 0, anywhere)


def _replenishment(
    job: BatchJob,
    customers: pd.Index,
    excluded: sp.csr_matrix,
    eligible: np.ndarray,
    cats: np.ndarray,
    titles: np.ndarray,
    hidden: np.ndarray | None = None,
    offer: MemberOffer | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Due consumables the web shop can ship first ("Time to restock ..."), most overdue first, then
    the person's newsletter list without them. No due item the shop can ship: no email."""
    k = job.k
    due = job.seeds[job.seeds["customer_id"].isin(customers)]
    due = due[(eligible & still_in_stock(job.engine.catalog))[due["item"].to_numpy(np.int64)]]
    due_rows = _rows_of(due, customers)
    rank = due.groupby(due_rows).cumcount().to_numpy()  # seeds are most overdue first per customer
    keep = rank < k
    due_ids = np.full((len(customers), k), -1, np.int32)
    due_ids[due_rows[keep], rank[keep]] = due["item"].to_numpy(np.int64)[keep]
    due_reasons = np.full((len(customers), k), "", dtype=object)
    since = (job.now - pd.to_datetime(due["at"], utc=True)).to_numpy()[keep]
    due_reasons[due_rows[keep], rank[keep]] = [
        restock_reason(str(titles[i]), pd.Timedelta(d))
        for i, d in zip(due["item"].to_numpy(np.int64)[keep], since, strict=True)
    ]
    taken = _pair_matrix(due, customers, excluded.shape[1])
    ids, scores, reasons = _newsletter(
        job, customers, (excluded + taken).tocsr(), eligible, cats, hidden, offer
    )
    has_due = (due_ids >= 0).any(axis=1)
    ids = np.where(has_due[:, None], ids, -1)
    top = np.where(np.isfinite(scores[:, :1]), scores[:, :1], 1.0).astype(np.float32)
    out_ids, out_scores, _ = _compact(
        np.hstack([due_ids, ids]),
        np.hstack([np.where(due_ids >= 0, np.maximum(top, 1.0), -np.inf).astype(np.float32), scores]),
        np.hstack([np.ones_like(due_ids, dtype=bool), np.zeros_like(ids, dtype=bool)]),
        k,
    )
    # the reasons travel with the items: compact them the same way
    both = np.hstack([due_reasons, reasons.astype(object)])
    valid = np.hstack([due_ids, ids]) >= 0
    position = np.cumsum(valid, axis=1) - 1
    out_reasons = np.full((len(customers), k), "", dtype=object)
    r, c = np.nonzero(valid & (position < k))
    out_reasons[r, position[r, c]] = both[r, c]
    return out_ids, out_scores, out_reasons


def _newsletter(
    job: BatchJob,
    customers: pd.Index,
    excluded: sp.csr_matrix,
    eligible: np.ndarray,
    cats: np.ndarray,
    hidden: np.ndarray | None = None,
    offer: MemberOffer | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    engine, n_items = job.engine, job.engine.n_trained  # products added since training: not in the models
    if excluded.shape[1] > n_items:
        excluded = excluded[:, :n_items]
    ctx = Context(channel=CHANNEL, now=job.now, hidden=hidden)
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
    if offer is not None:  # as the service boosts a member's list, cold-start ones too
        ids, scores, reasons = offer.apply(ids, scores, reasons)
    return ids, scores, reasons


# --- a partition's and the job's figures ----------------------------------------------------
def partition_stats(table: pa.Table, job: BatchJob, partition: int) -> dict[str, Any]:
    reasons = pd.Series(table.column("reason").to_numpy(zero_copy_only=False)).str.split(" ").str[0]
    return {
        "partition": partition,
        "recipients": int((job.recipients["partition"] == partition).sum()),
        "emails": int(pa.compute.count_distinct(table.column("customer_id")).as_py()) if len(table) else 0,
        "rows": int(len(table)),
        "reasons": {str(k): int(v) for k, v in reasons.value_counts().sort_index().items()},
    }


def summarise(
    job: BatchJob,
    writer: PartWriter,
    seconds: float,
    parts_run: int,
    engine: str,
    extra: dict[str, Any] | None = None,
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
    summary.update(extra or {})  # the Ray runner's cluster_cpus
    if summary["complete"]:
        writer.finish(summary)
    return summary
