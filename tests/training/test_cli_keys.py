"""``omnirank keys``: a key is printed once, listed without its secret, refused once revoked."""

from __future__ import annotations

from typer.testing import CliRunner

from models.store import LiveStore
from training.cli import app

NOW = 1_790_000_000.0  # a key without an expiry is active at any moment: no need for today's


def test_create_list_revoke(tmp_path, monkeypatch):
    monkeypatch.setenv("OMNIRANK_EVENT_STORE_PATH", str(tmp_path / "store.sqlite3"))
    runner = CliRunner()
    created = runner.invoke(
        app, ["keys", "create", "--scope", "associate", "--store", "ST-RIO", "--name", "tablets rio"]
    )
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    key_id, secret = key.removeprefix("ork_").split(".")
    listed = runner.invoke(app, ["keys", "list"])
    assert key_id in listed.output and "associate" in listed.output and "stores=ST-RIO" in listed.output
    assert secret not in listed.output
    with LiveStore(tmp_path / "store.sqlite3") as store:
        (stored,) = store.api_keys()
        assert (stored.scope, stored.stores, stored.name) == ("associate", ("ST-RIO",), "tablets rio")
        assert stored.matches(secret) and stored.active(NOW)
        assert secret.encode() not in (tmp_path / "store.sqlite3").read_bytes()
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    with LiveStore(tmp_path / "store.sqlite3") as store:
        assert not store.api_keys()[0].active(NOW)
    bad = runner.invoke(app, ["keys", "create", "--scope", "search", "--store", "ST-RIO", "--name", "x"])
    assert bad.exit_code == 2 and "only associate keys" in bad.output
    assert runner.invoke(app, ["keys", "revoke", "nope"]).exit_code == 2
