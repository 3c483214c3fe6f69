"""Shared fixtures: one real training run on the committed sample per test session.

Training is the expensive part (the ONNX encoder embeds every product), so every test that needs a
bundle shares this one; tests that change data train nothing and call the stage they test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data_samples"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    assert (SAMPLE / "products.parquet").exists(), "data_samples/ is missing: run omnirank generate-sample --out data_samples"
    return SAMPLE


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """Path of the bundles directory holding one bundle trained on data_samples (``latest``)."""
    from models.config import Settings
    from training.pipeline import train

    bundles = tmp_path_factory.mktemp("bundles")
    train(sample_dir, bundles, Settings(), evaluate=True)
    return bundles


@pytest.fixture(scope="session")
def service_settings(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory):
    from models.config import Settings

    state = tmp_path_factory.mktemp("service-state")
    return Settings(bundles_dir=trained_bundle, event_store_path=state / "events.sqlite3", rules_path=state / "rules.json")


@pytest.fixture(scope="session")
def client(service_settings):
    """A TestClient over the real app (lifespan runs: the bundle is loaded and verified)."""
    from fastapi.testclient import TestClient

    from service.app import create_app

    with TestClient(create_app(service_settings)) as test_client:
        yield test_client
