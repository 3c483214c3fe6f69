"""eval-search end to end on a tiny judged catalog written to tmp_path (not the shared datasets)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.config import Settings
from training.cli import app
from training.eval_search import EvalInputError, load_gains, run_eval_search

KINDS = {
    "drill": ["Cordless Drill 18V", "Hammer Drill Kit", "Brushless Drill Driver", "Right Angle Drill"],
    "hose": ["Garden Hose 50 ft", "Expandable Water Hose", "Soaker Hose 25 ft", "Hose Reel Cart"],
    "paint": [
        "Interior Wall Paint White 1 gal",
        "Exterior Latex Paint",
        "Spray Paint Black Gloss",
        "Primer and Paint",
    ],
    "lamp": ["LED Desk Lamp", "Floor Lamp with Shade", "Table Lamp Brass", "Clip-on Reading Lamp"],
    "sofa": ["Three Seat Sofa Grey", "Leather Sofa Brown", "Sleeper Sofa Bed", "Sectional Sofa Corner"],
    "mower": ["Electric Lawn Mower", "Gas Push Mower", "Robotic Lawn Mower", "Reel Mower Manual"],
    "faucet": [
        "Kitchen Faucet Pull Down",
        "Bathroom Sink Faucet",
        "Outdoor Faucet Spigot",
        "Shower Faucet Set",
    ],
    "tent": ["Camping Tent 4 Person", "Pop Up Canopy Tent", "Backpacking Tent", "Family Cabin Tent"],
}
QUERIES = {
    "q1": ("cordless drill", "drill"),
    "q2": ("hose for watering the garden", "hose"),
    "q3": ("white wall paint", "paint"),
    "q4": ("reading light for desk", "lamp"),
    "q5": ("couch for living room", "sofa"),
    "q6": ("lawn mower", "mower"),
    "q7": ("kitchen tap", "faucet"),
    "q8": ("tent for camping", "tent"),
}


@pytest.fixture(scope="module")
def tiny_search_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval_search_data")
    products, judgments = [], []
    n = 0
    for kind, titles in KINDS.items():
        for title in titles:
            n += 1
            products.append({"product_id": f"P{n:03d}", "title": title, "brand": "Acme", "category": kind})
    assert len(products) == 32
    for qid, (_, kind) in QUERIES.items():
        for p in products:
            if p["category"] == kind:
                judgments.append({"query_id": qid, "product_id": p["product_id"], "relevance": 3})
        judgments.append(
            {"query_id": qid, "product_id": products[(int(qid[1:]) * 5) % 32]["product_id"], "relevance": 1}
        )
    paths = {name: root / f"{name}.csv" for name in ("products", "queries", "judgments")}
    pd.DataFrame(products).to_csv(paths["products"], index=False)
    pd.DataFrame([{"query_id": q, "query": t} for q, (t, _) in QUERIES.items()]).to_csv(
        paths["queries"], index=False
    )
    pd.DataFrame(judgments).to_csv(paths["judgments"], index=False)
    return paths


@pytest.fixture(scope="module")
def eval_settings(omnirank_exported_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        encoder_dir=omnirank_exported_encoder_dir, cache_dir=tmp_path_factory.mktemp("eval_cache")
    )


def test_report_shape_and_quality(tiny_search_data: dict[str, Path], eval_settings: Settings) -> None:
    report = run_eval_search(
        tiny_search_data["products"],
        tiny_search_data["queries"],
        tiny_search_data["judgments"],
        eval_settings,
        relevance_min=1.0,
        folds=2,
    )
    assert set(report["methods"]) == {"bm25", "dense", "hybrid", "omnirank"}
    assert report["n_queries"] == 8 and report["n_products"] == 32
    for metrics in report["methods"].values():
        assert set(metrics) == {"ndcg@10", "ndcg@10_condensed", "mrr@10", "recall@100", "zero_result_rate"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    # Paraphrases ("couch", "kitchen tap") have no shared word: BM25 misses them, dense does not.
    assert report["methods"]["bm25"]["zero_result_rate"] > 0
    assert report["methods"]["dense"]["zero_result_rate"] == 0
    assert report["methods"]["dense"]["ndcg@10"] > report["methods"]["bm25"]["ndcg@10"]
    assert report["methods"]["dense"]["recall@100"] == 1.0
    assert any("fold" in note and "held-out" in note for note in report["notes"])
    # second run reuses the cached product embeddings
    again = run_eval_search(
        tiny_search_data["products"],
        tiny_search_data["queries"],
        tiny_search_data["judgments"],
        eval_settings,
        relevance_min=1.0,
        folds=2,
        limit_queries=5,
    )
    assert again["n_queries"] == 5
    assert "product embeddings loaded from cache" in again["notes"]


def test_wands_labels_detected(tmp_path: Path) -> None:
    path = tmp_path / "j.csv"
    pd.DataFrame(
        {
            "query_id": ["1", "1", "2"],
            "product_id": ["a", "b", "a"],
            "relevance": ["Exact", "Partial", "Irrelevant"],
        }
    ).to_csv(path, index=False)
    gains, scheme = load_gains(path)
    assert gains == {"1": {"a": 1.0, "b": 0.5}, "2": {"a": 0.0}} and "WANDS" in scheme
    pd.DataFrame({"query_id": ["1"], "product_id": ["a"], "relevance": ["great"]}).to_csv(path, index=False)
    with pytest.raises(EvalInputError):
        load_gains(path)


def test_cli_writes_json_and_rejects_bad_input(
    tiny_search_data: dict[str, Path], omnirank_exported_encoder_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OMNIRANK_ENCODER_DIR", str(omnirank_exported_encoder_dir))
    monkeypatch.setenv("OMNIRANK_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "report.json"
    args = [
        "eval-search",
        "--products",
        str(tiny_search_data["products"]),
        "--queries",
        str(tiny_search_data["queries"]),
        "--judgments",
        str(tiny_search_data["judgments"]),
    ]
    result = CliRunner().invoke(app, [*args, "--relevance-min", "1", "--folds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report["methods"]["omnirank"]) >= {"ndcg@10", "mrr@10", "recall@100"}

    missing = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "not found" in missing.output
    bad = tmp_path / "bad_products.csv"
    pd.DataFrame({"product_id": ["1"], "name": ["x"]}).to_csv(bad, index=False)
    bad_args = ["eval-search", "--products", str(bad), *args[3:]]
    result_bad = CliRunner().invoke(app, bad_args)
    assert result_bad.exit_code == 2 and "title" in result_bad.output


def test_numeric_relevance_defaults_to_gain_equal_relevance(tmp_path: Path) -> None:
    path = tmp_path / "j.csv"
    pd.DataFrame({"query_id": ["1", "1"], "product_id": ["a", "b"], "relevance": ["3", "1"]}).to_csv(
        path, index=False
    )
    assert load_gains(path)[0] == {"1": {"a": 3.0, "b": 1.0}}
    assert load_gains(path, 1.0)[0] == {"1": {"a": 2.0, "b": 0.0}}


def test_cli_scores_each_rendering_of_the_same_queries(
    tiny_search_data: dict[str, Path], omnirank_exported_encoder_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OMNIRANK_ENCODER_DIR", str(omnirank_exported_encoder_dir))
    monkeypatch.setenv("OMNIRANK_CACHE_DIR", str(tmp_path / "cache"))
    queries = pd.read_csv(tiny_search_data["queries"], dtype=str)
    english, shouted = tmp_path / "queries_en.csv", tmp_path / "queries_hi_latn.csv"
    queries.to_csv(english, index=False)
    queries.assign(query=queries["query"].str.upper()).to_csv(shouted, index=False)  # same words, other case
    out = tmp_path / "languages.json"
    result = CliRunner().invoke(
        app,
        [
            "eval-search",
            "--products",
            str(tiny_search_data["products"]),
            "--queries",
            str(english),
            "--queries",
            str(shouted),
            "--judgments",
            str(tiny_search_data["judgments"]),
            "--relevance-min",
            "1",
            "--folds",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "NDCG@10 by language" in result.output
    by_language = json.loads(out.read_text())["by_language"]
    assert set(by_language) == {"en", "hi-Latn"}
    assert by_language["en"]["methods"]["bm25"] == by_language["hi-Latn"]["methods"]["bm25"]
