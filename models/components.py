"""Bundle components: the unit a bundle is made of, trained in, recorded by and served from.

A component names its settings sections (``models/config.py``), the artifacts it leaves in a bundle
(``models/artifacts.py``) and how a reader loads them. Its training stages are declared beside it
in ``training/stages`` (``training`` may import this module, ``models`` never imports ``training``).
The service holds the loaded components of one bundle as one immutable map
(``service.state.BundleView.components``); ``tests/models/test_components.py`` checks that every
component has a stage, that every artifact a stage writes belongs to a component and that each
loader opens what the sample bundle holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pydantic import BaseModel

from models import artifacts as A
from models.bundle import CUSTOMERS, RECOMMENDATIONS, RECS_RANKER, SEARCH, SUGGEST, Bundle, BundleError
from models.catalog import Catalog
from models.config import (
    InteractionSettings,
    RecommendationSettings,
    RecsRankerSettings,
    SearchSettings,
    Settings,
    SuggestSettings,
    TrendingSettings,
    section_values,
)
from models.customers import CustomerBook
from models.recommend import RecommendationEngine
from models.recs_ranker import ServedRanker
from models.search_engine import SearchEngine
from models.suggest import Suggester

__all__ = [
    "BY_NAME",
    "COMPONENTS",
    "CUSTOMERS",
    "RECOMMENDATIONS",
    "RECS_RANKER",
    "SEARCH",
    "SUGGEST",
    "Component",
    "load_components",
]


@dataclass(frozen=True)
class Component:
    """One part of a bundle: its settings, its artifacts, its loader."""

    name: str
    settings: tuple[type[BaseModel], ...]
    artifacts: tuple[str, ...]
    """Files and directories (relative to the version dir) that hold it; all must be present."""
    optional: tuple[str, ...]
    """What its stages write only when it earns its place (a ranker that beat the baseline)."""
    needs_history: bool
    """Trained only from customer events: a catalog-only bundle leaves it out."""
    loader: Callable[[Bundle, Catalog, Settings], object]
    summary: str
    earned: bool = False
    """Listed in a bundle only when its stage kept it (its artifacts were written): training records
    its settings and decision either way, but a bundle without it serves without it."""
    serves_through: str | None = None
    """Served by another component, which ``attach`` hands it to when both are loaded."""
    attach: Callable[[object, object], object] | None = None
    """(host, this) -> the host serving with this (``serves_through``)."""

    def present_in(self, bundle: Bundle) -> bool:
        """Listed in the manifest; raises ``BundleError`` when listed but an artifact is missing."""
        if self.name not in bundle.components:
            return False
        if missing := [path for path in self.artifacts if not bundle.holds(path)]:
            raise BundleError(f"bundle {bundle.version} lists {self.name!r} but lacks {', '.join(missing)}")
        return True

    def settings_of(self, settings: Settings) -> dict[str, dict]:
        """This component's settings sections as the manifest records them."""
        return {section.__name__: section_values(settings, section) for section in self.settings}


def _load_search(bundle: Bundle, catalog: Catalog, settings: Settings) -> SearchEngine:
    return SearchEngine.load(
        bundle.path,
        catalog,
        model_file=A.query_model_file(bundle.manifest),
        threads=settings.onnx_threads,
        settings=settings,
    )


def _load_suggest(bundle: Bundle, catalog: Catalog, settings: Settings) -> Suggester:
    return Suggester.load(bundle.path / A.SUGGEST_DIR)


def _load_customers(bundle: Bundle, catalog: Catalog, settings: Settings) -> CustomerBook:
    return CustomerBook.load(bundle.path)


def _load_recommendations(bundle: Bundle, catalog: Catalog, settings: Settings) -> RecommendationEngine:
    return RecommendationEngine.load(bundle.path, catalog, settings)


def _load_recs_ranker(bundle: Bundle, catalog: Catalog, settings: Settings) -> ServedRanker:
    return ServedRanker.load(bundle.path / A.RECS_RANKER_DIR)


def _rank_with(engine: object, ranker: object) -> RecommendationEngine:
    assert isinstance(engine, RecommendationEngine) and isinstance(ranker, ServedRanker)
    return engine.with_ranker(ranker)


COMPONENTS: tuple[Component, ...] = (
    Component(
        SEARCH,
        (SearchSettings,),
        (
            A.ENCODER_DIR,
            A.PRODUCT_EMBEDDINGS,
            A.PRODUCT_INDEX_DIR,
            A.BM25_DIR,
            A.QUERY_DIR,
            A.POPULARITY,
            A.RULES,
        ),
        optional=(A.RANKER,),
        needs_history=False,
        loader=_load_search,
        summary="hybrid product search: encoder, FAISS and BM25 indexes, query understanding, ranker",
    ),
    Component(
        SUGGEST,
        (SuggestSettings,),
        (A.SUGGEST_DIR,),
        optional=(),
        needs_history=False,
        loader=_load_suggest,
        summary="search-box completions from the query log and the catalog",
    ),
    Component(
        CUSTOMERS,
        (),
        (A.IDENTITY_MAP, A.CUSTOMERS, A.CATEGORY_AFFINITY, A.HISTORY),
        optional=(),
        needs_history=True,
        loader=_load_customers,
        summary="one customer across channels: identity map, timeline history, category affinity",
    ),
    Component(
        RECOMMENDATIONS,
        (InteractionSettings, RecommendationSettings, TrendingSettings),
        (
            A.BLEND_DIR,
            A.USER_ITEMS,
            A.USER_IDS,
            A.ALS_INDEX_DIR,
            A.COPURCHASE_DIR,
            A.TRENDING,
            A.PRODUCT_KNOWLEDGE,
        ),
        optional=(),
        needs_history=True,
        loader=_load_recommendations,
        summary="personal lists, similar items, bought-together and trending, with their business rules",
    ),
    Component(
        RECS_RANKER,
        (RecsRankerSettings,),
        (A.RECS_RANKER_DIR,),
        optional=(),
        needs_history=True,
        loader=_load_recs_ranker,
        summary="a learned ranker ordering the blend's candidates per customer, kept when it beats the blend",
        earned=True,
        serves_through=RECOMMENDATIONS,
        attach=_rank_with,
    ),
)
BY_NAME: Mapping[str, Component] = MappingProxyType({c.name: c for c in COMPONENTS})


def load_components(bundle: Bundle, catalog: Catalog, settings: Settings) -> Mapping[str, object]:
    """Every component the bundle holds, loaded; an immutable map by component name. A component
    served through another (the recommendation ranker) is also handed to it."""
    loaded = {c.name: c.loader(bundle, catalog, settings) for c in COMPONENTS if c.present_in(bundle)}
    for c in COMPONENTS:
        if c.attach is not None and c.name in loaded and c.serves_through in loaded:
            loaded[c.serves_through] = c.attach(loaded[c.serves_through], loaded[c.name])
    return MappingProxyType(loaded)
