"""``omnirank evaluate --queries`` with renderings of the same queries: one id space per language."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from training.evaluate import labelled_queries_from_csv, language_of_file


def test_language_of_a_query_file() -> None:
    assert [language_of_file(Path(p)) for p in ("queries_bn.csv", "q_bn_latn.csv", "hi.csv", "mine.csv")] == [
        "bn",
        "bn-Latn",
        "hi",
        "mine",
    ]


def test_each_rendering_is_scored_on_the_same_judgments(tmp_path: Path) -> None:
    pd.DataFrame({"query_id": ["1", "2"], "query": ["white paint", "door"]}).to_csv(
        tmp_path / "queries_en.csv", index=False
    )
    pd.DataFrame({"query_id": ["1", "2"], "query": ["সাদা পেইন্ট", "দরজা"]}).to_csv(
        tmp_path / "queries_bn.csv", index=False
    )
    pd.DataFrame({"query_id": ["1", "1", "2"], "product_id": ["a", "b", "c"], "relevance": [3, 1, 2]}).to_csv(
        tmp_path / "j.csv", index=False
    )
    queries, judgments = labelled_queries_from_csv(
        [tmp_path / "queries_en.csv", tmp_path / "queries_bn.csv"], tmp_path / "j.csv", relevance_min=1
    )
    assert queries[["query_id", "language"]].values.tolist() == [
        ["en:1", "en"],
        ["en:2", "en"],
        ["bn:1", "bn"],
        ["bn:2", "bn"],
    ]
    bn = judgments[judgments["query_id"] == "bn:1"].sort_values("sku")
    assert bn[["sku", "gain"]].values.tolist() == [["a", 2.0], ["b", 0.0]]
    assert len(judgments) == 6
