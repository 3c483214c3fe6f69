"""Catalog embedding on Ray (``training/embed_ray.py``) equals the single-process path, and the CLI
hands ``--ray-address`` / ``RAY_ADDRESS`` / ``--embed-workers`` to the pipeline and the batch job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.encoder import OnnxEncoder, length_sorted_batches
from training import embed
from training.cli import app

N_PRODUCTS = 240
BATCH_SIZE = 32  # 8 ONNX batches over 2 workers


def test_ray_embedding_equals_single_process_in_catalog_order(
    trained_bundle: Path, sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray")
    from training.embed_ray import embed_texts_ray

    encoder_dir = trained_bundle / "latest" / "encoder"
    products = pd.read_parquet(sample_dir / "products.parquet").head(N_PRODUCTS)
    texts = embed.product_texts(products)
    # the training stage's single-process path: one encoder, two ONNX threads
    single = embed.embed_catalog(OnnxEncoder(encoder_dir, threads=2), products, BATCH_SIZE)

    calls: list[dict] = []
    real_init = ray.init

    def spy_init(*args, **kwargs):  # the real local cluster, with the arguments recorded
        calls.append(kwargs)
        return real_init(*args, **kwargs)

    monkeypatch.setattr(ray, "init", spy_init)
    assert not ray.is_initialized()
    vectors, info = embed_texts_ray(encoder_dir, texts, BATCH_SIZE, 128, address="local", workers=2)

    assert [c.get("address") for c in calls] == ["local"] and calls[0]["num_cpus"] == 2
    assert not ray.is_initialized()  # started here, so shut down here
    assert info["cluster_cpus"] == 2 and info["workers"] == 2 and info["tasks"] >= 2
    assert vectors.shape == single.shape == (N_PRODUCTS, 384)
    # the same ONNX batches on every path, so bit-identical, row i = product i
    assert np.array_equal(vectors, single)


def test_length_sorted_batches_cover_every_row_once() -> None:
    texts = ["bb", "a", "", "dddd", "ccc", "a"]
    batches = length_sorted_batches(texts, 4)
    assert [len(b) for b in batches] == [4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(texts)))
    assert batches[0].tolist() == [2, 1, 5, 0]  # stable: equal lengths keep catalog order


def test_train_passes_ray_address_and_embed_workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[dict] = []

    def fake_train(data, out, cfg, **kwargs):
        seen.append({"embed_workers": cfg.embed_workers, **kwargs})
        return out

    monkeypatch.setattr("training.pipeline.train", fake_train)
    base = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "b"), "--no-store", "--no-evaluate"]
    runner = CliRunner()
    env = {"RAY_ADDRESS": "", "OMNIRANK_EMBED_WORKERS": "1"}
    assert runner.invoke(app, base, env=env).exit_code == 0
    assert runner.invoke(app, [*base, "--ray-address", "ray://head:10001"], env=env).exit_code == 0
    assert runner.invoke(app, base, env={**env, "RAY_ADDRESS": "head:6379"}).exit_code == 0
    assert runner.invoke(app, [*base, "--embed-workers", "3"], env=env).exit_code == 0
    assert [(s["ray_address"], s["embed_workers"]) for s in seen] == [
        (None, 1),
        ("ray://head:10001", 1),
        ("head:6379", 1),
        (None, 3),
    ]


def test_batch_recommend_passes_ray_address(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[dict] = []
    monkeypatch.setattr("training.batch.job.run_batch", lambda *a, **kw: seen.append(kw) or {})
    args = ["batch-recommend", "--campaign", "newsletter", "--bundle", str(tmp_path), "--data", str(tmp_path)]
    args += ["--out", str(tmp_path / "out"), "--no-store", "--engine", "ray"]
    runner = CliRunner()
    assert runner.invoke(app, args, env={"RAY_ADDRESS": "head:6379"}).exit_code == 0
    assert runner.invoke(app, [*args, "--ray-address", "local"], env={"RAY_ADDRESS": ""}).exit_code == 0
    assert [(s["engine"], s["ray_address"]) for s in seen] == [("ray", "head:6379"), ("ray", "local")]


@pytest.mark.parametrize("url", ["s3://bucket/emails", "gs://bucket/emails", "hdfs://nn/emails"])
def test_batch_output_url_is_refused_before_anything_is_read(url: str, tmp_path: Path) -> None:
    from models.config import Settings
    from training.batch.campaigns import CampaignError
    from training.batch.job import BatchOptions, run_batch

    options = BatchOptions.from_settings("newsletter", Settings())
    with pytest.raises(CampaignError, match="shared mount"):
        run_batch(tmp_path / "none", tmp_path / "none", Path(url), options, Settings(), engine="ray")
    assert not Path(url).exists() and not Path("s3:").exists()
