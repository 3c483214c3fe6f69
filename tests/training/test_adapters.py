"""Public datasets convert to the import format (tiny hand-made copies; CI never needs ../shared)."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from training.cli import app
from training.ingest import read_table


def test_home_depot_converts_to_catalog_queries_and_wands_judgments(tmp_path):
    src = tmp_path / "hd"
    src.mkdir()
    pd.DataFrame(
        {
            "product_id": ["100001", "100002"],
            "title": ["Simpson Strong-Tie 12-Gauge Angle", "BEHR Premium Textured Deck Paint"],
        }
    ).to_csv(src / "products.csv", index=False)
    pd.DataFrame({"query_id": ["1", "2"], "query": ["angle bracket", "deck paint"]}).to_csv(
        src / "queries.csv", index=False
    )
    pd.DataFrame(
        {
            "query_id": ["1", "2", "2"],
            "product_id": ["100001", "100002", "100001"],
            "relevance": ["3", "2.33", "1"],
        }
    ).to_csv(src / "judgments.csv", index=False)
    result = CliRunner().invoke(
        app, ["import-dataset", "home-depot", "--source", str(src), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    judgments = read_table(tmp_path / "out", "judgments")
    assert judgments.set_index(["query_id", "sku"])["label"].to_dict() == {
        ("1", "100001"): "exact",
        ("2", "100002"): "partial",
        ("2", "100001"): "irrelevant",
    }
    assert len(read_table(tmp_path / "out", "products")) == 2


def test_home_depot_judged_queries_can_become_search_click_logs_for_training(tmp_path):
    """--judged-as-logs: a seeded share of the queries becomes a search and a click per relevant
    (exact or partial) product; only the other queries stay labelled, so evaluation never sees them."""
    src = tmp_path / "hd"
    src.mkdir()
    ids = [str(i) for i in range(1, 41)]
    pd.DataFrame({"product_id": ["P1", "P2", "P3"], "title": ["angle", "deck paint", "drill"]}).to_csv(
        src / "products.csv", index=False
    )
    pd.DataFrame({"query_id": ids, "query": [f"query {i}" for i in ids]}).to_csv(
        src / "queries.csv", index=False
    )
    pd.DataFrame(
        {
            "query_id": [q for q in ids for _ in range(3)],
            "product_id": ["P1", "P2", "P3"] * len(ids),
            "relevance": ["3", "2", "1"] * len(ids),  # exact, partial, irrelevant
        }
    ).to_csv(src / "judgments.csv", index=False)
    out = tmp_path / "out"
    args = [
        "import-dataset",
        "home-depot",
        "--source",
        str(src),
        "--out",
        str(out),
        "--judged-as-logs",
        "0.5",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output

    events, queries, judgments = (read_table(out, t) for t in ("events", "queries", "judgments"))
    searched = set(events.loc[events["type"] == "search", "query"])
    labelled = set(queries["query"])
    assert searched and labelled and not searched & labelled
    assert searched | labelled == {f"query {i}" for i in ids}
    assert 10 <= len(searched) <= 30  # about half
    clicks = events[events["type"] == "search_click"]
    assert sorted(clicks.groupby("query")["sku"].agg(sorted).map(tuple).unique()) == [("P1", "P2")]
    assert set(clicks["query"]) == searched and set(judgments["query_id"]) == set(queries["query_id"])
    assert len(judgments) == 3 * len(queries)

    again = tmp_path / "again"
    assert CliRunner().invoke(app, [*args[:-4], "--out", str(again), *args[-2:]]).exit_code == 0
    assert set(read_table(again, "queries")["query_id"]) == set(queries["query_id"])  # the same split


def test_unknown_dataset_and_missing_source_are_clear_errors(tmp_path):
    runner = CliRunner()
    assert (
        runner.invoke(
            app, ["import-dataset", "nope", "--source", str(tmp_path), "--out", str(tmp_path / "o")]
        ).exit_code
        == 2
    )
    missing = runner.invoke(
        app,
        ["import-dataset", "home-depot", "--source", str(tmp_path / "none"), "--out", str(tmp_path / "o")],
    )
    assert missing.exit_code == 2 and "does not exist" in missing.output
