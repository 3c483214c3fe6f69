"""Everything the service reads from one bundle, loaded once at start-up into ``app.state``.

A reload of a new bundle builds a new ``ServingState`` and swaps the reference, so requests in
flight finish on the state they started with.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from models import artifacts as A
from models.bundle import Bundle
from models.catalog import Catalog
from models.config import Settings
from models.recommend import Interaction, RecommendationEngine, load_history
from models.recommenders.interactions import type_weights_from_settings
from models.rules import load_live_rules
from models.search_engine import SearchEngine
from models.suggest import Suggester
from service.event_store import EventStore


@dataclass
class ServingState:
    bundle: Bundle
    catalog: Catalog
    search: SearchEngine
    recs: RecommendationEngine
    identity: dict[str, str]  # identifier hash -> customer_id
    customers: pd.DataFrame  # indexed by customer_id
    affinity: dict[str, dict[str, float]]
    events: EventStore
    type_weights: dict[str, float]
    history: dict[str, list[Interaction]]
    suggester: Suggester | None = None
    rules_path: Path | None = None  # the live rules file; search.rules is its in-memory copy
    rules_lock: threading.Lock = field(default_factory=threading.Lock)  # one rules writer at a time

    @classmethod
    def load(cls, settings: Settings, bundle_path: Path | None = None) -> ServingState:
        bundle = Bundle.open(bundle_path or settings.bundles_dir, verify=True)
        catalog = Catalog.load(bundle.path / A.CATALOG_DIR)
        identity_map = pd.read_parquet(bundle.path / A.IDENTITY_MAP)
        affinity_table = pd.read_parquet(bundle.path / A.CATEGORY_AFFINITY)
        affinity: dict[str, dict[str, float]] = {}
        for cid, cat, aff in affinity_table.itertuples(index=False):
            affinity.setdefault(cid, {})[cat] = float(aff)
        Path(settings.event_store_path).parent.mkdir(parents=True, exist_ok=True)
        state = cls(
            bundle=bundle,
            catalog=catalog,
            search=SearchEngine.load(
                bundle.path, catalog, model_file=A.query_model_file(bundle.manifest), threads=settings.onnx_threads
            ),
            recs=RecommendationEngine.load(bundle.path, catalog),
            identity=dict(zip(identity_map["identifier_hash"], identity_map["customer_id"], strict=True)),
            customers=pd.read_parquet(bundle.path / A.CUSTOMERS).set_index("customer_id"),
            affinity=affinity,
            events=EventStore(settings.event_store_path, synchronous=settings.event_store_synchronous),
            type_weights=type_weights_from_settings(settings),
            history=load_history(bundle.path / A.HISTORY),
        )
        state.rules_path = Path(settings.rules_path)
        state.search.rules = load_live_rules(state.rules_path, bundle.path / A.RULES, catalog, state.search.query.synonyms_)
        state.suggester = load_suggester(bundle, catalog, settings)
        return state


def load_suggester(bundle: Bundle, catalog: Catalog, settings: Settings) -> Suggester:
    """The bundle's suggester; a bundle trained before suggestions existed gets one fitted on its
    catalog (titles, categories, brands; no query log) so the endpoint still works."""
    if (bundle.path / A.SUGGEST_DIR).is_dir():
        return Suggester.load(bundle.path / A.SUGGEST_DIR)
    return Suggester(max_k=settings.suggest_max_k).fit(catalog.products)
