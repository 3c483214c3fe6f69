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
