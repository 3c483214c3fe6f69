"""Everything the service reads from one bundle, loaded once at start-up into ``app.state``.

A reload of a new bundle builds a new ``ServingState`` and swaps the reference, so requests in
flight finish on the state they started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models import artifacts as A
from models.bundle import Bundle
from models.catalog import Catalog
from models.config import Settings
from models.recommend import Interaction, RecommendationEngine, load_history
from models.recommenders.interactions import type_weights_from_settings
from models.search_engine import SearchEngine
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
        return cls(
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
