"""A loaded bundle has built what requests would otherwise build on first use (``BundleView.load``):
a pre-fork master's workers share one copy, and no shopper waits for it."""

from __future__ import annotations

from models.search_engine import FACET_FIELDS
from service.state import BundleView


def test_a_loaded_bundle_holds_its_facet_codes_factor_tables_and_purchase_cycles(service_settings):
    view = BundleView.load(service_settings)

    catalog = view.search.catalog
    assert set(catalog._facet_codes) == set(FACET_FIELDS)
    codes_before = {f: catalog._facet_codes[f] for f in FACET_FIELDS}
    view.search.search("shoes", k=10)
    # the search read the prepared codes: the very same arrays, nothing recomputed
    assert all(catalog._facet_codes[f] is codes_before[f] for f in FACET_FIELDS)

    factor_models = [m for m in view.recs.model.models_.values() if hasattr(m, "item_factors_")]
    assert factor_models, "the sample bundle's blend has ALS"
    for m in factor_models:
        y64, gram = m._f64_cache
        assert y64.shape == m.item_factors_.shape and gram.shape == (y64.shape[1], y64.shape[1])
    assert "person_cycles" in view.recs.cache
