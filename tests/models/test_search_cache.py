"""The per-bundle caches of the search hot path (query encodings, parsed intents): bounded, safe
under concurrent requests, and invisible in the results -- a cached search is exactly the uncached
one, and an engine over another bundle never answers from this one's cache."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.catalog import Catalog
from models.config import Settings
from models.lru import BoundedLRU
from models.search_engine import SearchEngine, SearchFilters, SearchResult, positions_in


def test_the_lru_is_bounded_and_evicts_the_least_recently_used() -> None:
    cache: BoundedLRU[str, int] = BoundedLRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2
    assert cache.stats() == {"entries": 2, "hits": 3, "misses": 0}


def test_a_zero_sized_lru_caches_nothing() -> None:
    cache: BoundedLRU[str, int] = BoundedLRU(0)
    calls: list[str] = []
    for _ in range(3):
        assert cache.get_or_compute("q", lambda k: calls.append(k) or 7) == 7
    assert len(cache) == 0 and calls == ["q", "q", "q"]


def test_the_lru_survives_concurrent_hits_misses_and_evictions() -> None:
    """FastAPI runs sync endpoints in a thread pool: a plain OrderedDict LRU raises KeyError when one
    thread moves a key another has just evicted."""
    cache: BoundedLRU[int, int] = BoundedLRU(16)
    errors: list[BaseException] = []

    def hammer(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for key in rng.integers(0, 40, size=5000).tolist():
                assert cache.get_or_compute(key, lambda k: k * k) == key * key
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cache) <= 16


def test_positions_in_maps_items_back_to_their_rows() -> None:
    before = np.array([7, 3, 9, 1])
    after = np.array([9, 5, 1, 7, 3])
    assert positions_in(before, after).tolist() == [2, -1, 3, 0, 1]
    assert positions_in(np.empty(0, np.int64), after).tolist() == [-1] * 5


# --- the served engine -------------------------------------------------------------------------
def _engine(bundles: Path, **settings) -> SearchEngine:
    bundle = (bundles / "latest").resolve()
    return SearchEngine.load(bundle, Catalog.load(bundle / "catalog"), settings=Settings(**settings))


def _answer(result: SearchResult) -> tuple:
    """Everything a search returns, as comparable values (floats exactly)."""
    return (
        [(h.item, h.score, h.bm25, h.dense, h.matches) for h in result.hits],
        result.total,
        result.intent.model_dump(),
        result.applied_filters,
        result.facets,
        result.did_you_mean,
        result.relaxed,
        result.relaxed_from,
        result.personalised,
        result.rules_fired,
        result.redirect,
        result.low_confidence,
    )


@pytest.fixture(scope="module")
def engines(trained_bundle: Path) -> tuple[SearchEngine, SearchEngine]:
    """(cached, uncached) engines over the same bundle."""
    return _engine(trained_bundle), _engine(trained_bundle, search_query_cache_entries=0)


@pytest.fixture(scope="module")
def queries(sample_dir: Path) -> list[str]:
    labelled = pd.read_parquet(sample_dir / "queries.parquet")["query"].astype(str).tolist()
    # gifts, targets, prices, a misspelling, other languages: intents the engine rewrites in place
    return [*labelled[::7], "gift for dad under 50", "red running shoes for women", "runing shoes", "tênis"]


def test_a_cached_search_returns_exactly_the_uncached_result(engines, queries) -> None:
    cached, uncached = engines
    store = cached.catalog.store_ids[0]
    cases = [
        (
            q,
            SearchFilters(store_id=store)
            if i % 3 == 1
            else SearchFilters(price_max=50.0)
            if i % 3 == 2
            else None,
        )
        for i, q in enumerate(queries)
    ]
    for _ in range(2):  # the second pass answers every query from the caches
        for q, filters in cases:
            assert _answer(cached.search(q, k=10, filters=filters)) == _answer(
                uncached.search(q, k=10, filters=filters)
            ), q
    assert cached.intents.hits >= len(cases) and len(uncached.intents) == 0
    assert cached.encoder._cache.hits > 0 and len(uncached.encoder._cache) == 0


def test_a_search_cannot_change_the_cached_intent(engines) -> None:
    """The engine rewrites the intent it works on (rules' expansions, a vetoed category): each
    search gets its own copy, so the next one starts from the pristine parse."""
    cached, _ = engines
    first = cached.search("gift for dad under 50", k=5).intent
    first.expansions.append("mutated")
    first.colors.append("mutated")
    again = cached.search("gift for dad under 50", k=5).intent
    assert "mutated" not in again.expansions and "mutated" not in again.colors


def test_live_copies_share_the_cache_and_another_bundle_has_its_own(engines, trained_bundle) -> None:
    """What is cached depends only on the bundle: a live view or a rules swap of the same bundle
    shares it, an engine over another bundle (a swap) starts empty and parses with its own model."""
    cached, _ = engines
    live = replace(cached.with_live(cached.catalog, cached.delta) if cached.delta else cached, rules=None)
    assert live.intents is cached.intents and live.encoder._cache is cached.encoder._cache
    # another bundle's query model: here the same files served with another category threshold
    strict = _engine(trained_bundle, query_category_threshold=1.01)
    assert strict.intents is not cached.intents and len(strict.intents) == 0
    q = "running shoes"
    assert cached.search(q, k=5).intent.category.applied  # now cached with the category applied
    assert strict.search(q, k=5).intent.category.applied is False


def test_a_copy_with_another_query_model_never_reads_the_original_parses(engines, trained_bundle) -> None:
    """An evaluation that switches a layer off copies the served engine with ``replace(query=...)``:
    the copy shares the cache object but must parse with its own model (the language benchmark's
    "before" pass once answered the "after" pass from it)."""
    cached, _ = engines
    strict_model = _engine(trained_bundle, query_category_threshold=1.01).query
    q = "running shoes"
    assert cached.search(q, k=5).intent.category.applied  # cached with the served model
    copy = replace(cached, query=strict_model)
    assert copy.intents is cached.intents
    assert copy.search(q, k=5).intent.category.applied is False
    assert cached.search(q, k=5).intent.category.applied  # and the original still reads its own


def test_facet_codes_count_like_np_unique_over_the_non_empty_strings() -> None:
    """Facets count value codes (numbered in sorted order) instead of a Python pass per request."""
    values = ["red", None, "", "blue", np.nan, "red", 3, "Blue", "blue", "red"]
    products = pd.DataFrame(
        {"sku": [f"S{i}" for i in range(len(values))], "title": "t", "category": "A > B", "price": 1.0}
    )
    products["color"] = pd.Series(values, dtype=object)
    catalog = Catalog(products, [], np.zeros((0, len(values)), np.int32))
    codes, names = catalog.facet_codes("color")
    assert names.tolist() == ["Blue", "blue", "red"]
    assert codes.tolist() == [2, -1, -1, 1, -1, 2, -1, 0, 1, 2]
    items = np.array([0, 1, 3, 5, 7, 8])
    expected_names, expected_counts = np.unique(
        [v for v in np.asarray(values, dtype=object)[items] if isinstance(v, str) and v], return_counts=True
    )
    counts = np.bincount(codes[items][codes[items] >= 0], minlength=len(names))
    assert dict(zip(names.tolist(), counts.tolist(), strict=True)) == dict(
        zip(expected_names.tolist(), expected_counts.tolist(), strict=True)
    )
    assert catalog.folded_skus.tolist() == [f"s{i}" for i in range(len(values))]
