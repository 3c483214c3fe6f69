"""The offline pipeline: ingest -> identity -> catalog -> embeddings -> lexical -> query
understanding -> CF / co-purchase / trending -> ranker -> evaluation -> one published bundle.

Each stage is a function of the previous stages' outputs; this module only wires them, times them
and writes their artifacts into the bundle being built.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from models import artifacts as A
from models.bundle import ALL_COMPONENTS, SEARCH, BundleWriter, fingerprint_files
from models.catalog import Catalog
from models.columns import as_str
from models.config import Settings
from models.copurchase import CoPurchase, basket_matrix
from models.encoder import OnnxEncoder, base_model_path
from models.lexical import BM25Index
from models.pii import IDENTIFIER_TYPES
from models.product_knowledge import ProductKnowledge
from models.query import QueryUnderstanding
from models.recommend import history_table
from models.recommenders.interactions import type_weights_from_settings
from models.rules import RuleSet
from models.suggest import Suggester, query_log_from_events, sku_popularity
from models.trending import Trending
from training import cf, embed, identity, ingest
from training.eval_surfaces import evaluate_surfaces
from training.evaluate import evaluate_search
from training.live_events import LIVE_ONLY_COLUMNS, merge_events, read_live_events, resolve_live_rows
from training.memory import release_unused_memory
from training.ranker import popularity, train_search_ranker
from training.report import write_report

console = Console(stderr=True)

TRAINING_PARAMETERS = (
    "encoder_max_seq_length",
    "als_factors",
    "als_regularization",
    "als_iterations",
    "als_alpha",
    "bpr_factors",
    "bpr_learning_rate",
    "bpr_iterations",
    "ease_l2",
    "half_life_days",
    "trending_half_life_days",
    "weight_purchase",
    "weight_add_to_cart",
    "weight_view",
    "weight_email_click",
    "weight_search_click",
    "weight_click",
    "holdout_days",
    "random_seed",
    "exact_index_max_items",
    "hnsw_m",
    "hnsw_ef_search",
    "knn_neighbors",
    "knn_shrink",
    "bm25_k1",
    "bm25_b",
)


@dataclass
class StageTimer:
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str):
        console.print(f"[bold cyan]▶ {name}[/]")
        start = time.perf_counter()
        yield
        release_unused_memory()
        self.timings[name] = round(time.perf_counter() - start, 2)
        console.print(f"  [green]✓ {name}[/] in {self.timings[name]:.1f}s")


def train(
    data_dir: Path,
    bundles_dir: Path,
    settings: Settings,
    *,
    evaluate: bool = True,
    finetune: bool = False,
    on_stage: Callable[[str], None] | None = None,
    store: Path | None = None,
) -> Path:
    """Run every stage on ``data_dir`` and publish a bundle under ``bundles_dir``; returns its path.

    ``store``: the service's live store; its events join ``--data``'s (``training/live_events.py``)."""
    timer = StageTimer()
    metrics: dict = {}
    with BundleWriter(bundles_dir) as out:
        with timer.stage("ingest and validate"):
            data = ingest.ingest(data_dir, out.file(A.QUARANTINE))
            metrics["ingest"] = data.report()
        live = None
        if store is not None:
            with timer.stage("live events (the service's store)"):
                live = read_live_events(
                    store, data.events, data.products["sku"].astype(str), data.stores["store_id"].astype(str)
                )
                data.events = merge_events(data.events, live)
                metrics["ingest"]["live_events"] = live.report()

        # A catalog without customer events (a retailer starting with search) trains a search-only
        # bundle: identity, CF, co-purchase and trending need events; the service answers search.
        has_history = not data.events.empty
        if has_history:
            with timer.stage("identity resolution"):
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
                graph.identity_map.to_parquet(out.file(A.IDENTITY_MAP), index=False)
                graph.customers.to_parquet(out.file(A.CUSTOMERS), index=False)
                truth = Path(data_dir) / "truth" / "identities.parquet"
                metrics["identity"] = {
                    "customers": int(len(graph.customers)),
                    "identified_event_share": float(data.events["customer_id"].notna().mean()),
                }
                if truth.exists():  # evaluation only: the sample's hidden ground truth
                    evidence = pd.concat(
                        [
                            data.customers[["loyalty_id", "email", "phone"]],
                            data.events[["loyalty_id", "email", "phone"]],
                        ]
                    )
                    metrics["identity"].update(
                        identity.merge_quality(
                            graph.identity_map, pd.read_parquet(truth), settings.pii_salt, evidence
                        )
                    )
                # No later stage reads event ids or raw identifiers: dropping them keeps raw PII out of
                # the rest of training and frees ~1 GB per 20M events before the CF stage.
                data.events = data.events.drop(
                    columns=["event_id", *IDENTIFIER_TYPES, *LIVE_ONLY_COLUMNS], errors="ignore"
                )

        with timer.stage("catalog"):
            catalog = Catalog.build(
                data.products, data.inventory, data.stores["store_id"].astype(str).tolist()
            )
            catalog.save(out.file(A.CATALOG_DIR + "/x").parent)
            data.stores.to_parquet(out.file(A.STORES), index=False)

        with timer.stage("semantic embeddings (ONNX)"):
            encoder_dir = out.file(A.ENCODER_DIR + "/x").parent
            source = base_model_path(settings.encoder_package)
            if finetune:
                from training.finetune import finetune_encoder

                source, metrics["finetune"] = finetune_encoder(
                    source, data, catalog, settings, out.file(A.FINETUNE_DIR + "/x").parent
                )
            metrics["encoder"] = embed.export_encoder(source, encoder_dir, settings.encoder_max_seq_length)
            encoder = OnnxEncoder(encoder_dir, max_length=settings.encoder_max_seq_length, threads=2)
            vectors = embed.embed_catalog(encoder, catalog.products, settings.encoder_batch_size)
            np.save(out.file(A.PRODUCT_EMBEDDINGS), vectors)
            index, metrics["product_index"] = embed.build_vector_index(
                vectors,
                catalog.skus.tolist(),
                settings.exact_index_max_items,
                settings.hnsw_m,
                settings.hnsw_ef_search,
            )
            index.save(out.file(A.PRODUCT_INDEX_DIR + "/x").parent)

        with timer.stage("lexical index (BM25)"):
            bm25 = BM25Index(k1=settings.bm25_k1, b=settings.bm25_b, stemming=settings.bm25_stemming)
            bm25.fit(catalog.products, catalog.skus.tolist()).save(out.file(A.BM25_DIR + "/x").parent)

        with timer.stage("query understanding"):
            clicks = data.events[(data.events["type"] == "search_click") & data.events["query"].notna()]
            category_of = catalog.products.set_index("sku")["category"]
            pairs = list(
                zip(
                    clicks["query"].astype(str),
                    as_str(clicks["sku"]).map(category_of).astype(str),
                    strict=True,
                )
            )
            qu = QueryUnderstanding().fit(
                catalog.products, query_log=clicks["query"].astype(str).tolist(), query_categories=pairs
            )
            qu.save(out.file(A.QUERY_DIR + "/x").parent)
            suggester = Suggester(
                min_query_count=settings.suggest_min_query_count, max_k=settings.suggest_max_k
            )
            suggester.fit(catalog.products, query_log_from_events(data.events), sku_popularity(data.events))
            suggester.save(out.file(A.SUGGEST_DIR + "/x").parent)
            # The default rules ship in the (immutable) bundle; the service edits its own live copy.
            out.file(A.RULES).write_text(RuleSet.from_synonyms(qu.synonyms_).to_json(), encoding="utf-8")

        if has_history:
            with timer.stage("collaborative filtering"):
                cf_result = cf.train_cf(data.events, catalog.skus.astype(str), settings, evaluate=evaluate)
                metrics["recommendations"] = cf_result.metrics
                cf_result.blend.save(out.file(A.BLEND_DIR + "/x").parent)
                _save_user_items(out, cf_result.interactions)
                als_index, metrics["als_index"] = embed.build_vector_index(
                    np.asarray(cf_result.als.item_factors_, dtype=np.float32),
                    catalog.skus.tolist(),
                    settings.exact_index_max_items,
                    settings.hnsw_m,
                    settings.hnsw_ef_search,
                )
                als_index.save(out.file(A.ALS_INDEX_DIR + "/x").parent)
                cf.category_affinity(data.events, catalog.products, cf_result.interactions).to_parquet(
                    out.file(A.CATEGORY_AFFINITY), index=False
                )
                # Saved: the fitted models and matrices (~1 GB at 1M customers) are not needed by any later stage.
                del cf_result, als_index
                release_unused_memory()
                history_table(data.events, catalog).to_parquet(out.file(A.HISTORY), index=False)

        with timer.stage("search ranker"):
            np.save(out.file(A.POPULARITY), popularity(data.events, catalog))
            metrics["search_ranker"] = train_search_ranker(out.path, catalog, data.events, settings)

        if has_history:
            with timer.stage("co-purchase and trending"):
                metrics["copurchase"] = _fit_copurchase(data.events, catalog).save_to(out)
                _fit_trending(data.events, catalog, settings).save(out.file(A.TRENDING))
            with timer.stage("product knowledge (durable / consumable)"):
                purchases = data.events.loc[
                    data.events["type"] == "purchase", ["customer_id", "sku", "timestamp"]
                ]
                knowledge = ProductKnowledge.learn(catalog.products, purchases)
                knowledge.save(out.file(A.PRODUCT_KNOWLEDGE))
                metrics["product_knowledge"] = knowledge.summary()

        int8 = out.file(A.ENCODER_DIR + "/" + A.INT8_MODEL_FILE)
        if evaluate and data.queries is not None and data.judgments is not None:
            with timer.stage("evaluate search"):
                metrics["search"] = evaluate_search(out.path, data.queries, data.judgments, settings)
                quantised = evaluate_search(
                    out.path, data.queries, data.judgments, settings, model_file=int8.name, only=("dense",)
                )
                metrics["encoder"]["int8"] = _int8_decision(
                    metrics["search"], quantised, settings.int8_max_ndcg_loss
                )
        else:
            metrics["encoder"]["int8"] = {"kept": False, "why": "no labelled queries to check its quality"}
        if not metrics["encoder"]["int8"]["kept"]:
            int8.unlink()
        if evaluate and has_history:
            with timer.stage("judged surfaces (what people see)"):
                metrics["surfaces"] = evaluate_surfaces(out.path, Path(data_dir), settings)
                out.write_json(A.SURFACES_REPORT, metrics["surfaces"])

        metrics["stage_seconds"] = timer.timings
        with timer.stage("report"):
            write_report(out.path, metrics)
        parameters = {name: getattr(settings, name) for name in TRAINING_PARAMETERS}
        parameters["finetune"] = finetune
        path = out.publish(
            data_fingerprint=fingerprint_files(data.input_files),
            parameters=parameters,
            metrics=metrics,
            extra={"catalog_size": len(catalog), "stores": catalog.store_ids},
            components=ALL_COMPONENTS if has_history else (SEARCH,),
        )
    console.print(f"[bold green]bundle {path.name} published[/] at {path}")
    return path


def _int8_decision(fp32: dict, int8: dict, max_loss: float) -> dict:
    """Keep the int8 query encoder only if dense NDCG@10 drops by less than ``max_loss``."""
    before, after = fp32["methods"]["dense"]["ndcg@10"], int8["methods"]["dense"]["ndcg@10"]
    return {
        "dense_ndcg@10_fp32": before,
        "dense_ndcg@10_int8": after,
        "loss": round(before - after, 4),
        "kept": bool(before - after < max_loss),
    }


def _save_user_items(out: BundleWriter, interactions) -> None:
    import scipy.sparse as sp

    sp.save_npz(out.file(A.USER_ITEMS), interactions.matrix)
    out.write_json(A.USER_IDS, interactions.user_ids.tolist())


class _CoPurchaseResult:
    def __init__(self, model: CoPurchase, sources: dict[str, int]) -> None:
        self.model, self.sources = model, sources

    def save_to(self, out: BundleWriter) -> dict:
        self.model.save(out.file(A.COPURCHASE_DIR + "/x").parent)
        return {"baskets": self.model.n_baskets_, **self.sources}


def _fit_copurchase(events: pd.DataFrame, catalog: Catalog) -> _CoPurchaseResult:
    """Baskets are receipts and orders (basket_id) plus carts of one session (session_id)."""
    etype = events["type"]
    # .loc[rows, columns]: a boolean filter of the whole frame would copy every column (GBs at 20M events)
    orders = events.loc[(etype == "purchase") & events["basket_id"].notna(), ["basket_id", "sku"]]
    carts = events.loc[(etype == "add_to_cart") & events["session_id"].notna(), ["session_id", "sku"]]
    keys = pd.concat(["b:" + orders["basket_id"].astype(str), "s:" + carts["session_id"].astype(str)])
    codes, _ = pd.factorize(keys)
    items = catalog.indices(pd.concat([orders["sku"], carts["sku"]]))
    ok = items >= 0
    matrix = basket_matrix(codes[ok], items[ok], len(catalog))
    model = CoPurchase().fit(matrix)
    return _CoPurchaseResult(model, {"order_lines": int(len(orders)), "cart_lines": int(len(carts))})


def _fit_trending(events: pd.DataFrame, catalog: Catalog, settings: Settings) -> Trending:
    weights = as_str(events["type"]).map(type_weights_from_settings(settings)).fillna(0.0)
    keep = events["sku"].notna() & (weights > 0)
    ev = events.loc[keep, ["sku", "timestamp", "channel", "store_id"]]  # only the columns trending reads
    frame = pd.DataFrame(
        {
            "item": catalog.indices(ev["sku"]),
            "timestamp": ev["timestamp"].array,  # to_numpy() of tz-aware times: a Timestamp object per event
            "channel": as_str(ev["channel"]).array,
            "store_id": ev["store_id"].array,
            "weight": weights[keep].to_numpy(),
        }
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return Trending(half_life_days=settings.trending_half_life_days).fit(frame[frame["item"] >= 0])


def summary(bundle_path: Path) -> str:
    manifest = json.loads((Path(bundle_path) / "manifest.json").read_text())
    return json.dumps(manifest["metrics"], indent=2, default=str)
