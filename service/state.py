"""What the service serves: one immutable :class:`ServingView` per (bundle, live version, rules).

A view is a bundle's models (:class:`BundleView`, loaded and verified once) seen through the live
overlay (stock, prices, products added or discontinued since training) with the live
merchandising rules. Nothing in a view changes after it is built: a stock PUT, a rules PUT or a new
bundle builds a new view and :class:`service.serving.Serving` swaps its one reference, so a request
that started on a view finishes on it (every route reads the view once, through
``service.deps.get_view``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from models import artifacts as A
from models.bundle import Bundle, BundleError
from models.catalog import Catalog
from models.components import BY_NAME, CUSTOMERS, RECOMMENDATIONS, SEARCH, SUGGEST, load_components
from models.config import Settings
from models.customers import CustomerBook
from models.history import Interaction
from models.live.overlay import LiveOverlay
from models.recommend import RecommendationEngine
from models.recommenders.interactions import type_weights_from_settings
from models.rules import RuleSet
from models.search_engine import SearchEngine
from models.store import LiveStore
from models.suggest import Suggester


@dataclass(frozen=True)
class BundleView:
    """One verified bundle's loaded components (``models/components.py``), shared by every view built
    on that bundle. ``components`` is an immutable map: nothing in it changes after loading."""

    bundle: Bundle
    catalog: Catalog  # as trained
    components: Mapping[str, object]
    type_weights: dict[str, float]

    @classmethod
    def load(cls, settings: Settings, bundle_path: Path | None = None) -> BundleView:
        """Open, verify every checksum and load; raises ``BundleError`` for a bundle not to serve."""
        bundle = Bundle.open(bundle_path or settings.bundles_dir, verify=True)
        check_memory(bundle, settings.memory_budget_mb)
        for required in (SEARCH, SUGGEST):
            if not BY_NAME[required].present_in(bundle):
                raise BundleError(
                    f"bundle {bundle.version} holds {sorted(bundle.components)}; the service needs {required!r}"
                )
        catalog = Catalog.load(bundle.path / A.CATALOG_DIR)
        components = load_components(bundle, catalog, settings)
        if (RECOMMENDATIONS in components) != (CUSTOMERS in components):
            raise BundleError(
                f"bundle {bundle.version} holds {sorted(components)}: recommendations and customers "
                "come from the same events and are served together"
            )
        view = cls(
            bundle=bundle,
            catalog=catalog,
            components=components,
            type_weights=type_weights_from_settings(settings),
        )
        # what requests would build on first use is built here: a pre-fork master's workers then
        # share one copy (service.prefork), and the first shopper after a swap does not wait for it
        view.search.prepare()
        view.customer_book.prepare()
        if view.recs is not None:
            view.recs.prepare()
        return view

    # the components by the names the routers read
    @property
    def search(self) -> SearchEngine:
        """Over the trained catalog; live views use ``search.with_live``."""
        return self.components[SEARCH]  # type: ignore[return-value]

    @property
    def suggester(self) -> Suggester:
        return self.components[SUGGEST]  # type: ignore[return-value]

    @property
    def recs(self) -> RecommendationEngine | None:
        """None for a search-only bundle (trained from a catalog alone)."""
        return self.components.get(RECOMMENDATIONS)  # type: ignore[return-value]

    @property
    def customer_book(self) -> CustomerBook:
        """Empty for a search-only bundle: the recommendation and profile endpoints answer 503
        (``service.deps.require_recs``) and search takes ``customer_id`` without a re-rank."""
        return self.components.get(CUSTOMERS) or CustomerBook()  # type: ignore[return-value]

    @property
    def default_rules(self) -> Path:
        """The rules the bundle ships, copied to the live rules file on a first start."""
        return self.bundle.path / A.RULES

    @property
    def encoder_id(self) -> str:
        """The served query encoder's model file checksum: live product vectors computed by another
        encoder are recomputed (``LiveOverlay.apply``)."""
        return self.bundle.manifest["files"][f"{A.ENCODER_DIR}/{A.query_model_file(self.bundle.manifest)}"][
            "sha256"
        ]

    def trained_overlay(self) -> LiveOverlay:
        return LiveOverlay.trained(self.catalog, dim=int(self.search.embeddings.shape[1]))


@dataclass(frozen=True)
class ServingView:
    """One bundle through one live overlay with one set of rules: what a request reads."""

    base: BundleView
    overlay: LiveOverlay
    rules: RuleSet
    search: SearchEngine  # the bundle's engine over the live catalog, with ``rules``
    recs: RecommendationEngine | None
    store: LiveStore

    @classmethod
    def build(cls, base: BundleView, overlay: LiveOverlay, rules: RuleSet, store: LiveStore) -> ServingView:
        search = replace(base.search.with_live(overlay.catalog, overlay.delta), rules=rules)
        recs = None if base.recs is None else base.recs.with_catalog(overlay.catalog)
        return cls(base=base, overlay=overlay, rules=rules, search=search, recs=recs, store=store)

    def with_rules(self, rules: RuleSet) -> ServingView:
        return ServingView.build(self.base, self.overlay, rules, self.store)

    # the names every router reads
    @property
    def bundle(self) -> Bundle:
        return self.base.bundle

    @property
    def catalog(self) -> Catalog:
        return self.overlay.catalog

    @property
    def identity(self) -> dict[str, str]:
        return self.base.customer_book.identity

    @property
    def customers(self) -> pd.DataFrame:
        return self.base.customer_book.customers

    @property
    def affinity(self) -> dict[str, dict[str, float]]:
        return self.base.customer_book.affinity

    @property
    def history(self) -> dict[str, list[Interaction]]:
        return self.base.customer_book.history

    @property
    def type_weights(self) -> dict[str, float]:
        return self.base.type_weights

    @property
    def suggester(self) -> Suggester:
        return self.base.suggester


MEMORY_FACTOR = 3.0
"""Resident bytes per byte of a loaded artifact file (Parquet and npz decompress, dicts and indexes
are built over them): measured on the sample, 429 MiB per worker for ~95 MB of loaded files plus
~150 MB of libraries."""


def check_memory(bundle: Bundle, budget_mb: float | None) -> None:
    """Refuse a bundle that would not fit, instead of being OOM-killed half-way through loading it.

    The estimate counts the files a worker loads into memory (not the reports, not the encoder
    variant it does not use, not the memory-mapped product embeddings) times ``MEMORY_FACTOR``.
    The budget is ``budget_mb`` or, when unset, what the system reports as available now."""
    model = A.query_model_file(bundle.manifest)
    loaded = sum(
        meta["bytes"]
        for rel, meta in bundle.manifest["files"].items()
        if not rel.startswith(("reports/", "finetune/"))
        and rel != A.PRODUCT_EMBEDDINGS
        and not (
            rel.startswith(A.ENCODER_DIR + "/") and rel.endswith(".onnx") and not rel.endswith("/" + model)
        )
    )
    need_mb = MEMORY_FACTOR * loaded / 2**20
    budget = budget_mb if budget_mb is not None else available_memory_mb()
    if budget is not None and need_mb > budget:
        raise BundleError(
            f"bundle {bundle.version} needs about {need_mb:,.0f} MB to serve and {budget:,.0f} MB are available "
            "(OMNIRANK_MEMORY_BUDGET_MB or the system's MemAvailable): refused rather than risk the OOM killer"
        )


def available_memory_mb() -> float | None:
    """MemAvailable from /proc/meminfo (None where there is none)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
