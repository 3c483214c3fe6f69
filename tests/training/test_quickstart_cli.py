"""``omnirank quickstart`` on a fresh checkout: it trains with the settings' defaults, then serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import app


def test_quickstart_trains_with_every_default_then_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundles = tmp_path / "bundles"
    monkeypatch.setenv("OMNIRANK_BUNDLES_DIR", str(bundles))
    monkeypatch.setenv("OMNIRANK_EVENT_STORE_PATH", str(tmp_path / "no-store.sqlite3"))
    trained: list[tuple] = []
    served: list[dict] = []
    monkeypatch.setattr(
        "training.pipeline.train", lambda *args, **kwargs: trained.append((args, kwargs)) or bundles
    )
    monkeypatch.setattr("training.cli.serve", lambda **kwargs: served.append(kwargs))
    result = CliRunner().invoke(app, ["quickstart", "--data", "data_samples", "--port", "8123"])
    assert result.exit_code == 0, result.output
    (data, out, settings), kwargs = trained[0]
    assert (data, out, kwargs) == (Path("data_samples"), bundles, {"store": None})
    assert settings.embed_workers == 1 and settings.bundles_dir == bundles  # plain values, no typer defaults
    assert served == [{"bundle": bundles, "host": None, "port": 8123, "workers": None}]
