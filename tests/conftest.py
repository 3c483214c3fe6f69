"""Shared fixtures: one real training run on the committed sample per test session.

Training is the expensive part (the ONNX encoder embeds every product), so every test that needs a
bundle shares this one; tests that change data train nothing and call the stage they test.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from postgres_fixture import postgres_server, store, store_backend, store_location  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SERVICE_NOW = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
"""The session client's clock: the day after the committed sample ends, whatever today is."""
SAMPLE = REPO / "data_samples"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def service_now() -> datetime:
    """What the session ``client`` reads as now (its injected clock)."""
    return SERVICE_NOW


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    assert (SAMPLE / "products.parquet").exists(), (
        "data_samples/ is missing: run omnirank generate-sample --out data_samples"
    )
    return SAMPLE


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """Path of the bundles directory holding one bundle trained on data_samples (``latest``)."""
    from models.config import Settings
    from training.pipeline import train

    reuse = os.environ.get("OMNIRANK_TEST_BUNDLES")
    if reuse:  # a developer's shortcut: a bundles dir trained on the sample by this code, reused across runs
        return Path(reuse)
    bundles = tmp_path_factory.mktemp("bundles")
    train(sample_dir, bundles, Settings(), evaluate=True)
    return bundles


@pytest.fixture(scope="session")
def service_settings(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory):
    from models.config import Settings

    state = tmp_path_factory.mktemp("service-state")
    # dev_mode: callers without a key are admin; tests/service/test_security.py checks the keys themselves
    return Settings(
        bundles_dir=trained_bundle,
        event_store_path=state / "events.sqlite3",
        rules_path=state / "rules.json",
        dev_mode=True,
    )


@pytest.fixture(scope="session")
def own_client(service_settings, tmp_path_factory: pytest.TempPathFactory):
    """``own_client(name, now)``: a context manager giving a TestClient over the sample bundle with a
    live store and rules file of its own (a module's PUTs stay its own) at a fixed clock."""
    import contextlib

    from fastapi.testclient import TestClient

    from models.clock import fixed_clock
    from service.app import create_app

    @contextlib.contextmanager
    def make(name: str, now: datetime):
        state = tmp_path_factory.mktemp(name)
        settings = service_settings.model_copy(
            update={
                "event_store_path": state / "live.sqlite3",
                "rules_path": state / "rules.json",
                "reload_poll_seconds": 0,
            }
        )
        with TestClient(create_app(settings, clock=fixed_clock(now))) as test_client:
            yield test_client

    return make


@pytest.fixture(scope="session")
def client(service_settings):
    """A TestClient over the real app (lifespan runs: the bundle is loaded and verified)."""
    from fastapi.testclient import TestClient

    from models.clock import fixed_clock
    from service.app import create_app

    with TestClient(create_app(service_settings, clock=fixed_clock(SERVICE_NOW))) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def omnirank_exported_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """all-MiniLM-L6-v2 exported once per session to ONNX (+ int8), with torch reference vectors.

    ``torch_reference.npy`` holds sentence-transformers embeddings of the texts in ``reference_texts.json``
    (ASCII, Portuguese, Hindi, empty, over-long and SKU-like texts).
    """
    from models.encoder import base_model_path
    from training.encoder_export import export_onnx, load_sentence_transformer, quantize_int8

    model = load_sentence_transformer(base_model_path())
    out = tmp_path_factory.mktemp("omnirank_encoder")
    quantize_int8(export_onnx(model, out))
    reference = model.encode(list(ENCODER_REFERENCE_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    np.save(out / "torch_reference.npy", reference)
    (out / "reference_texts.json").write_text(json.dumps(ENCODER_REFERENCE_TEXTS), encoding="utf-8")
    return out


ENCODER_REFERENCE_TEXTS = (
    "cordless drill",
    "18V lithium-ion brushless cordless hammer drill kit with two batteries",
    "1/2 in. x 10 ft. copper pipe",
    "BEHR Premium Textured DeckOver 1-gal. #SC-141 Tugboat Wood and Concrete Coating",
    "red running shoes for women size 8",
    "gift for dad under $50",
    "wireless noise cancelling headphones",
    "organic dog food for senior dogs",
    "nikey runing shoos",
    "tênis de corrida vermelho",
    "camiseta azul de algodão orgânico",
    "panela de pressão inox 6 litros",
    "लाल जूते",
    "बच्चों के लिए हिंदी किताब",
    "स्टेनलेस स्टील पानी की बोतल",
    "",
    "a",
    "SKU-12345-XL",
    "Ultra HD 4K Smart TV 55 inch with HDR10+ and Dolby Vision " * 20,
    "white vanity bathroom sink cabinet",
    "led light bulbs 60 watt equivalent soft white",
    "patio furniture set clearance",
    "kids winter jacket waterproof",
    "espresso machine with milk frother",
    "garden hose 50 ft",
    "fire pit",
    "ceiling fan with remote",
    "non-stick frying pan 12 inch",
    "yoga mat extra thick",
    "mechanical keyboard blue switches",
)


# --- per-phase progress: what the suite is doing, for a newcomer watching `.ci/run` -------------------
PHASES = {
    "e2e": "end to end: real servers, workers, kill -9, train --store (its first test trains the sample "
    "bundle every phase shares: 2-4 min on 2 cores; the phase ~8-12 min)",
    "models": "shared models (unit tests, ~2 min)",
    "service": "HTTP service over the sample bundle, schemathesis included (~4 min)",
    "training": "training stages, batch jobs, CLI (~3 min)",
}


def _phase(nodeid: str) -> str:
    parts = nodeid.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    counts: dict[str, int] = {}
    for item in items:
        counts[_phase(item.nodeid)] = counts.get(_phase(item.nodeid), 0) + 1
    config._omnirank_phases = {"counts": counts, "current": None, "started": None}  # type: ignore[attr-defined]


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    """Say when the run enters a new phase (tests/models, tests/training, ...), with its size and
    how long the previous one took."""
    import time

    config = _CONFIG.get("config")
    state = getattr(config, "_omnirank_phases", None)
    reporter = config.pluginmanager.get_plugin("terminalreporter") if config else None
    phase = _phase(nodeid)
    if state is None or reporter is None or phase == state["current"]:
        return
    now = time.monotonic()
    took = f" (previous phase: {now - state['started']:.0f} s)" if state["started"] else ""
    state["current"], state["started"] = phase, now
    reporter.write_line("")
    reporter.write_line(
        f"▶ {phase}: {state['counts'].get(phase, 0)} tests, {PHASES.get(phase, 'other tests')}{took}",
        bold=True,
    )


_CONFIG: dict[str, pytest.Config] = {}


def pytest_configure(config: pytest.Config) -> None:
    _CONFIG["config"] = config
