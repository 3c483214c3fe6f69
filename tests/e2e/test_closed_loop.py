"""The closed loop on a real server: what shoppers do through the API trains the next bundle, shows in
the analytics report and reaches the email jobs.

A real ``omnirank serve`` over the sample bundle receives searches, clicks, a purchase and a cart from
guests and a known customer; then the real CLI runs ``omnirank train --store`` (the new bundle's
suggestions include the shop's own new query), ``omnirank analytics`` (the query, its click position
and the attributed purchase) and ``omnirank batch-recommend --store`` (the cart posted at T is in the
abandoned-cart job run at T + 1 h, and not at T + 30 min, while the shopper may still check out; a shopper who unsubscribed through
``POST /v1/customers/consent`` gets no email).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

from models.pii import identifier_key

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("omnirank"))
TIMEOUT = 60


def _cli(*args: str, store: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMNIRANK_EVENT_STORE_PATH": str(store)}
    done = subprocess.run([CLI, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"omnirank {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def _consenting_emails(bundle: Path, sample: Path, n: int = 2) -> list[tuple[str, str]]:
    """(raw email, customer id) of ``n`` sample customers the email jobs may write to."""
    from models.config import Settings

    salt = Settings().pii_salt
    people = pd.read_parquet(bundle / "identity" / "customers.parquet")
    reachable = set(people.loc[people["email_consent"].fillna(False).astype(bool), "email_hash"].dropna())
    owner = pd.read_parquet(bundle / "identity" / "identity_map.parquet").set_index("identifier_hash")[
        "customer_id"
    ]
    found: dict[str, str] = {}
    for email in pd.read_parquet(sample / "customers.parquet")["email"].dropna():
        h = identifier_key("email", email, salt)
        if h in reachable and owner[h] not in found.values():
            found[email] = owner[h]
            if len(found) == n:
                return list(found.items())
    pytest.fail(f"fewer than {n} consenting customers in the sample")


def _post(base: str, events: list[dict]) -> dict:
    r = httpx.post(f"{base}/v1/events", json={"events": events}, timeout=TIMEOUT)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["rejected"] == [] and body["accepted"] == len(events), body
    return body


def test_api_events_train_the_next_bundle_show_in_analytics_and_reach_the_email_job(
    trained_bundle: Path, sample_dir: Path, tmp_path: Path, start_server
):
    state = tmp_path / "state"
    state.mkdir()
    store = state / "events.sqlite3"
    bundle = trained_bundle / "latest"
    (email, customer), (leaver, gone) = _consenting_emails(bundle, sample_dir)
    query = f"walnut espresso tamper {uuid.uuid4().hex[:4]}"

    with start_server(trained_bundle, state) as base:
        # the server's clock, not this process's: events and the report period follow what it stamps
        now = parsedate_to_datetime(httpx.get(f"{base}/health/live", timeout=TIMEOUT).headers["date"])
        stamp = now.isoformat().replace("+00:00", "Z")
        # guests search for the same new thing in three sessions; one clicks the second result and buys it
        answers = []
        for n in range(3):
            r = httpx.get(
                f"{base}/v1/search", params={"q": "coffee maker", "session_id": f"S{n}"}, timeout=TIMEOUT
            )
            assert r.status_code == 200, r.text
            answers.append(r.json())
        first = answers[0]
        assert answers[-1]["request_id"] == r.headers["X-Request-ID"]  # the body quotes the header's id
        assert all(a["arm"] == "A" for a in answers) and len({a["request_id"] for a in answers}) == 3
        clicked = first["hits"][1]["product"]
        events = [
            {
                "event_id": f"q{n}-{uuid.uuid4().hex[:6]}",
                "type": "search",
                "timestamp": stamp,
                "channel": "web",
                "session_id": f"S{n}",
                "query": query,
            }
            for n in range(3)
        ]
        events += [
            {
                "event_id": f"click-{uuid.uuid4().hex[:6]}",
                "type": "search_click",
                "timestamp": stamp,
                "channel": "web",
                "session_id": "S0",
                "sku": clicked["sku"],
                "query": "coffee maker",
                "request_id": first["request_id"],
                "position": 2,
            },
            {  # bought in the same session without the request id: attributed through the click
                "event_id": f"buy-{uuid.uuid4().hex[:6]}",
                "type": "purchase",
                "timestamp": (now + timedelta(minutes=5)).isoformat(),
                "channel": "web",
                "session_id": "S0",
                "basket_id": "ORDER-1",
                "sku": clicked["sku"],
                "quantity": 2,
                "price": 50.0,
            },
            {  # a known customer carts on the web and leaves
                "event_id": f"cart-{uuid.uuid4().hex[:6]}",
                "type": "add_to_cart",
                "timestamp": stamp,
                "channel": "web",
                "email": email,
                "sku": clicked["sku"],
            },
        ]
        # a second customer carts too, then unsubscribes through the API: no email for them
        events.append(events[-1] | {"event_id": f"cart2-{uuid.uuid4().hex[:6]}", "email": leaver})
        _post(base, events)
        r = httpx.post(
            f"{base}/v1/customers/consent", json={"email": leaver, "email_consent": False}, timeout=TIMEOUT
        )
        assert r.status_code == 202 and r.json()["recorded"] == 1, r.text
        # the served answers reach the store within the flush interval (1 s)
        report = None
        for _ in range(20):
            r = httpx.get(
                f"{base}/v1/admin/analytics",
                params={
                    "since": (now - timedelta(hours=1)).isoformat(),
                    "until": (now + timedelta(hours=1)).isoformat(),
                },
                timeout=TIMEOUT,
            )
            assert r.status_code == 200, r.text
            report = r.json()
            if report["search"]["answers"] >= 3:
                break
            time.sleep(0.5)
        assert report["search"]["answers"] == 3 and report["search"]["clicks"] == 1
        assert report["search"]["revenue"] == pytest.approx(100.0)

    # analytics from the CLI: the same numbers, with the query and the click position
    since, until = (now - timedelta(hours=1)).isoformat(), (now + timedelta(hours=1)).isoformat()
    _cli(
        "analytics",
        "--store",
        str(store),
        "--since",
        since,
        "--until",
        until,
        "--out",
        str(tmp_path / "an"),
        store=store,
    )
    cli_report = json.loads((tmp_path / "an" / "report.json").read_text())
    top = {row["query"]: row for row in cli_report["top_queries"]}
    assert top["coffee maker"]["searches"] == 3 and top["coffee maker"]["clicks"] == 1
    assert top["coffee maker"]["purchases"] == 1 and top["coffee maker"]["revenue"] == pytest.approx(100.0)
    position = {row["position"]: row for row in cli_report["ctr_by_position"]}
    assert position[2]["clicks"] == 1 and position[1]["clicks"] == 0
    assert any(p.suffix == ".png" for p in (tmp_path / "an").iterdir())

    # the next bundle learns the shop's own query
    _cli(
        "train",
        "--data",
        str(sample_dir),
        "--store",
        str(store),
        "--out",
        str(tmp_path / "next"),
        "--no-evaluate",
        store=store,
    )
    from models.suggest import Suggester

    manifest = json.loads((tmp_path / "next" / "latest" / "manifest.json").read_text())
    live = manifest["metrics"]["ingest"]["live_events"]
    assert live["used"] == len(events) and live["skipped"] == {}, live
    suggester = Suggester.load(tmp_path / "next" / "latest" / "search" / "suggest")
    assert query in [s.text for s in suggester.suggest("walnut espresso", 10)]

    # the cart posted at T is in the abandoned-cart job at T + 1 h, not at T + 30 min
    def cart_job(at: datetime, out: Path) -> pd.DataFrame:
        _cli(
            "batch-recommend",
            "--campaign",
            "abandoned-cart",
            "--bundle",
            str(trained_bundle),
            "--data",
            str(sample_dir),
            "--out",
            str(out),
            "--store",
            str(store),
            "--now",
            at.isoformat(),
            store=store,
        )
        return pd.read_parquet(out)

    early = cart_job(now + timedelta(minutes=30), tmp_path / "cart-early")
    assert customer not in set(early["customer_id"])
    due = cart_job(now + timedelta(hours=1), tmp_path / "cart-due")
    assert customer in set(due["customer_id"]) and gone not in set(due["customer_id"])
    assert clicked["sku"] in set(due.loc[due["customer_id"] == customer, "sku"])
