"""eval-recs end to end on a tiny planted CSV, plus the Online Retail adapter on a hand-made sheet."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from training.adapters.online_retail import interactions_to_import_format, online_retail_to_interactions
from training.cli import app

MODELS = ("popularity", "item_knn", "als", "bpr", "ease", "omnirank")
FAST_ENV = {
    "OMNIRANK_ALS_ITERATIONS": "5",
    "OMNIRANK_ALS_FACTORS": "8",
    "OMNIRANK_BPR_FACTORS": "8",
    "OMNIRANK_BPR_ITERATIONS": "20",
}


def _invoke(args: list[str]):
    return CliRunner().invoke(app, ["eval-recs", *args], env=FAST_ENV)


@pytest.fixture(scope="module")
def evalrecs_csv(tmp_path_factory) -> str:
    rng = np.random.default_rng(3)
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    rows = []
    for u in range(60):
        group = u % 3
        items = rng.choice(np.arange(group * 10, group * 10 + 10), 6, replace=False)
        for day in sorted(rng.integers(0, 100, 8)):
            item = rng.choice(items)
            rows.append((f"u{u}", f"i{item}", t0 + pd.Timedelta(days=int(day)), 1, f"b{u}-{day}", "web"))
    rows.append(("", "i1", t0, 2, "guest-1", "store"))  # guest: training only
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "quantity", "basket_id", "channel"])
    path = tmp_path_factory.mktemp("evalrecs") / "interactions.csv"
    df.to_csv(path, index=False)
    return str(path)


def test_eval_recs_cli_writes_json(evalrecs_csv, tmp_path):
    out = tmp_path / "recs.json"
    result = _invoke(["--interactions", evalrecs_csv, "--out", str(out), "--split", "0.8", "--k", "20"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["modes"]) == {"all", "new"}
    for mode in ("all", "new"):
        for model in MODELS:
            m = data["modes"][mode][model]
            assert {"recall@20", "ndcg@20", "coverage"} <= set(m)
            assert 0.0 <= m["recall@20"] <= 1.0 and 0.0 <= m["ndcg@20"] <= 1.0
    assert data["n_users_test"] > 0 and data["n_items"] == 30
    assert any("guest" in n for n in data["notes"])
    # blend and ranker rows, bootstrap intervals around every row, the segment table
    for mode in ("all", "new"):
        assert "blend" in data["modes"][mode] and data["modes"][mode]["omnirank"]["served"] in (
            "blend",
            "ranker",
        )
        assert {"validation_users_fit", "kept"} <= set(data["ranker"][mode])
        ci = data["confidence"][mode]["intervals"]["omnirank"]["recall@20"]
        assert ci[0] <= data["modes"][mode]["omnirank"]["recall@20"] <= ci[1]
        assert data["confidence"][mode]["served_vs_best_single"]["best_single"] in MODELS + ("repeat_buy",)
    segments = data["segments"]["all"]
    assert segments["online-only buyers"]["n_users"] == data["n_users_test"]  # planted data: no store lines
    assert (
        sum(v["n_users"] for k, v in segments.items() if k.startswith(("new", "returning")))
        == data["n_users_test"]
    )
    # planted groups: personalised models must find the user's group better than popularity
    assert data["modes"]["all"]["omnirank"]["recall@20"] > data["modes"]["all"]["popularity"]["recall@20"]


def test_eval_recs_cli_clear_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"user_id": ["a"], "item": ["x"]}).to_csv(bad, index=False)
    result = _invoke(["--interactions", str(bad)])
    assert result.exit_code == 2 and "item_id" in result.output
    result = _invoke(["--interactions", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2 and "not found" in result.output


def test_online_retail_adapter_reports_what_it_drops():
    raw = pd.DataFrame(
        {
            "Invoice": ["1", "1", "1", "C2", "3", "3", "4"],
            "StockCode": ["85048", "POST", "22041", "85048", "22041", "TEST001", "21232"],
            "Description": ["LIGHTS", "POSTAGE", "FRAME", "LIGHTS", "FRAME", "test", None],
            "Quantity": [2, 1, 6, -2, 1, 1, 3],
            "InvoiceDate": ["2010-01-04 10:00:00"] * 3
            + ["2010-01-05 09:00:00"]
            + ["2010-01-06 11:00:00"] * 3,
            "Price": [6.95, 18.0, 2.1, 6.95, 0.0, 1.0, 1.25],
            "Customer ID": [13085.0, 13085.0, 13085.0, 13085.0, np.nan, np.nan, np.nan],
            "Country": ["United Kingdom"] * 7,
        }
    )
    inter, report = online_retail_to_interactions(raw)
    assert report["dropped_non_product_lines"] == 2
    assert report["dropped_non_product_by_code"] == {"POST": 1, "TEST001": 1}
    assert report["dropped_price_zero_lines"] == 1 and report["returns_lines"] == 1
    assert inter["type"].tolist() == ["purchase", "purchase", "return", "purchase"]
    assert inter["user_id"].tolist() == ["13085", "13085", "13085", ""]
    assert (inter["quantity"] > 0).all() and str(inter["timestamp"].dt.tz) == "UTC"
    products, events = interactions_to_import_format(inter)
    assert set(products["sku"]) == {"85048", "22041", "21232"}
    assert events["loyalty_id"].isna().sum() == 1 and set(events["type"]) == {"purchase", "return"}
