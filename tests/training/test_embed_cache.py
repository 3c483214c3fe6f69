"""The training's embedding cache (``training/embed_cache.py``): a retrain encodes only texts it has not
seen under the same encoder, returns them in the caller's order, and survives many runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.encoder import OnnxEncoder
from training.embed_cache import MAX_SHARDS, EmbeddingCache, cached_encoder

TEXTS = ["red cotton dress", "cordless drill 18v", "lâmpada led 9w", "लाल जूते", "red cotton dress"]


def test_only_unseen_texts_are_encoded_and_vectors_come_back_in_order(
    omnirank_exported_encoder_dir: Path, tmp_path: Path
) -> None:
    encoder = OnnxEncoder(omnirank_exported_encoder_dir, threads=1)
    seen: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        return encoder.encode(texts)

    cache = EmbeddingCache(tmp_path, "minilm")
    first, counts = cache.transform(TEXTS, encode)
    assert counts == {"cached": 0, "encoded": 5} and seen == [TEXTS]
    np.testing.assert_allclose(first, encoder.encode(TEXTS), atol=1e-6)

    later = ["garden hose 30m", "lâmpada led 9w", "red cotton dress"]
    second, counts = EmbeddingCache(tmp_path, "minilm").transform(later, encode)
    assert counts == {"cached": 2, "encoded": 1} and seen[-1] == ["garden hose 30m"]
    assert np.array_equal(second[1], first[2]) and np.array_equal(second[2], first[0])
    np.testing.assert_allclose(second[0], encoder.encode(["garden hose 30m"])[0], atol=1e-6)

    other, counts = EmbeddingCache(tmp_path, "another-encoder").transform(TEXTS[:1], encode)
    assert counts == {"cached": 0, "encoded": 1}  # a different encoder never reuses these vectors


def test_many_runs_are_merged_into_few_shards_and_nothing_is_lost(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = {f"product {i}": rng.standard_normal(4).astype(np.float32) for i in range(3 * MAX_SHARDS)}

    def encode(texts: list[str]) -> np.ndarray:
        return np.stack([table[t] for t in texts])

    names = list(table)
    for run in range(3 * MAX_SHARDS):  # each run brings one new product
        _, counts = EmbeddingCache(tmp_path, "e").transform(names[: run + 1], encode)
        assert counts == {"cached": run, "encoded": 1}
    cache = EmbeddingCache(tmp_path, "e")
    assert 1 <= len(cache._shards()) <= MAX_SHARDS
    vectors, counts = cache.transform(names[::-1], encode)
    assert counts == {"cached": len(names), "encoded": 0}
    assert np.array_equal(vectors, np.stack([table[t] for t in names[::-1]]))


def test_the_encoder_export_runs_once_and_is_published_whole(tmp_path: Path) -> None:
    calls: list[Path] = []

    def export(into: Path) -> dict[str, float]:
        calls.append(into)
        (into / "model.onnx").write_bytes(b"onnx bytes")
        return {"onnx_torch_cosine_min": 0.999}

    folder, metrics, hit = cached_encoder(export, "k1", tmp_path)
    assert not hit and metrics == {"onnx_torch_cosine_min": 0.999} and len(calls) == 1
    assert calls[0] != folder  # written beside, renamed into place when complete
    again, metrics, hit = cached_encoder(export, "k1", tmp_path)
    assert (
        hit and again == folder and len(calls) == 1 and (folder / "model.onnx").read_bytes() == b"onnx bytes"
    )
    assert [p.name for p in (tmp_path / "encoders").iterdir()] == ["k1"]
