"""The memory-lean column code (per-distinct string work, codes instead of Python objects) must give
exactly what the straightforward pandas code gave: these pin it to that reference on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.catalog import Catalog
from models.columns import as_str
from models.history import HISTORY_TYPES, history_table

SKUS = ["s0", "s1", "s2", "s3"]


def _catalog() -> Catalog:
    products = pd.DataFrame({"sku": SKUS, "price": 1.0, "category": "a > b"})
    return Catalog(products, [], np.zeros((0, len(SKUS)), dtype=np.int32))


def _reference_history(events: pd.DataFrame, catalog: Catalog, per_customer: int) -> pd.DataFrame:
    """``history_table`` as it was before it worked on codes (whole-frame sort, Python objects)."""
    ev = events[events["customer_id"].notna() & events["type"].astype(str).isin(HISTORY_TYPES)]
    ev = ev.sort_values("timestamp", ascending=False).groupby("customer_id").head(per_customer)
    return pd.DataFrame(
        {
            "customer_id": ev["customer_id"].astype(str).to_numpy(),
            "item": np.array([catalog.sku_index.get(s, -1) for s in ev["sku"].astype(str)], dtype=np.int64),
            "type": ev["type"].astype(str).to_numpy(),
            "timestamp": pd.to_datetime(ev["timestamp"], utc=True).to_numpy(),
            "channel": ev["channel"].astype(str).to_numpy(),
            "store_id": np.array([s if isinstance(s, str) else None for s in ev["store_id"]], dtype=object),
            "quantity": ev["quantity"].fillna(1).astype("int64").to_numpy(),
            "price": ev["price"].astype(float).to_numpy(),
        }
    )


def _events(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    customers = np.array(["c_a", "c_b", "c_c", "c_d", None], dtype=object)
    types = ["purchase", "return", "add_to_cart", "view", "search", "email_click"]
    return pd.DataFrame(
        {
            "customer_id": pd.array(customers[rng.integers(0, len(customers), n)], dtype="str"),
            "sku": pd.array(
                np.array([*SKUS, "gone", None], dtype=object)[rng.integers(0, 6, n)], dtype="str"
            ),
            "type": pd.Categorical(np.array(types)[rng.integers(0, len(types), n)]),
            # few distinct seconds: many ties, so the order among equal timestamps is checked too
            "timestamp": pd.to_datetime(1_700_000_000 + rng.integers(0, 40, n), unit="s", utc=True),
            "channel": pd.Categorical(np.array(["web", "app", "store"])[rng.integers(0, 3, n)]),
            "store_id": pd.array(
                np.array(["ST-1", "ST-2", None], dtype=object)[rng.integers(0, 3, n)], dtype="str"
            ),
            "quantity": pd.array(rng.integers(1, 4, n), dtype="Int64"),
            "price": np.where(rng.random(n) < 0.5, rng.uniform(1, 100, n).round(2), np.nan),
        },
        index=pd.RangeIndex(1000, 1000 + n),
    )


@pytest.mark.parametrize("per_customer", [1, 7, 100])
def test_history_table_equals_the_whole_frame_version(per_customer: int) -> None:
    events, catalog = _events(), _catalog()
    got = history_table(events, catalog, per_customer=per_customer)
    want = _reference_history(events, catalog, per_customer)
    pd.testing.assert_frame_equal(got, want)  # dtypes included: the Parquet artifact keeps its schema


def test_history_table_of_no_events() -> None:
    got = history_table(_events().iloc[:0], _catalog())
    columns = ["customer_id", "item", "type", "timestamp", "channel", "store_id", "quantity", "price"]
    assert list(got.columns) == columns and got.empty


def test_catalog_indices_match_a_dict_lookup_per_value() -> None:
    catalog = _catalog()
    values = ["s2", "nope", "s0", "s2"]
    assert catalog.indices(values).tolist() == [2, -1, 0, 2]
    assert catalog.indices(pd.Series([*values, None], dtype="category")).tolist() == [2, -1, 0, 2, -1]
    assert catalog.indices([]).dtype == np.int64 and catalog.indices([]).size == 0


def test_as_str_keeps_values_and_missing() -> None:
    cat = pd.Series(pd.Categorical(["b", None, "a", "b"]), index=[5, 6, 7, 8])
    out = as_str(cat)
    assert str(out.dtype) == "str" and out.index.tolist() == [5, 6, 7, 8]
    assert out.iloc[[0, 2, 3]].tolist() == ["b", "a", "b"] and out.isna().tolist() == [
        False,
        True,
        False,
        False,
    ]
    strings = pd.Series(["x", "y"], dtype="str")
    assert as_str(strings) is strings
