"""Security end to end: a real ``omnirank serve --workers 2`` secured as in production
(``OMNIRANK_ADMIN_KEY`` set, no development mode, scoped keys made with ``omnirank keys create``).

* Without a key every route but the probes answers 401, on every worker; the storefront's search
  key searches but may neither read a customer nor change the rules.
* No email, phone or loyalty id a caller sends, in a body, a path or a query, reaches the server's
  output, and every line of that output is JSON (request lines with their request id).
* Events acknowledged with 202 survive ``kill -9`` of every server process mid-load: all of them are
  in the store afterwards, and a replay of them is answered "duplicate".
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("omnirank")
ADMIN = "e2e-admin-key-not-for-production"
WORKERS = 2
HEADER = "x-omnirank-worker"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Secured:
    """``omnirank serve --workers 2`` with an admin key and no development mode, in its own process
    group (so ``kill -9`` reaches the parent and every worker), its stdout and stderr in ``log``."""

    def __init__(self, bundles: Path, state: Path) -> None:
        self.bundles, self.state = bundles, state
        self.log = state / "server.log"
        self.env = {
            **os.environ,
            "OMNIRANK_ADMIN_KEY": ADMIN,
            "OMNIRANK_DEV_MODE": "0",
            "OMNIRANK_EVENT_STORE_PATH": str(state / "events.sqlite3"),
            "OMNIRANK_RULES_PATH": str(state / "rules.json"),
        }
        self.proc: subprocess.Popen | None = None
        self.base = ""

    def create_key(self, scope: str, *stores: str) -> str:
        cmd = [str(CLI), "keys", "create", "--scope", scope, "--name", f"e2e {scope}"]
        for store in stores:
            cmd += ["--store", store]
        done = subprocess.run(cmd, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        key = done.stdout.strip().splitlines()[-1]
        assert key.startswith("ork_"), done.stdout
        return key

    def start(self, startup_s: float = 240) -> None:
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(CLI),
                    "serve",
                    "--bundle",
                    str(self.bundles),
                    "--port",
                    str(port),
                    "--workers",
                    str(WORKERS),
                ],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        seen: set[str] = set()
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited early:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{self.base}/health/ready", timeout=5)  # public probe, fresh connection
                if r.status_code == 200:
                    seen.add(r.headers[HEADER])
                    if len(seen) == WORKERS:
                        return
                    continue
            time.sleep(0.3)
        self.kill9()
        pytest.fail(f"not every worker was ready in {startup_s:.0f} s ({seen}):\n{self.tail()}")

    def group(self) -> list[int]:
        """Pids of the server's process group still running (not zombies)."""
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError):
                text = stat.read_text()
                fields = text[text.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
                if self.proc is not None and int(fields[2]) == self.proc.pid and fields[0] != "Z":
                    alive.append(int(stat.parent.name))
        return alive

    def kill9(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while self.group():
            assert time.monotonic() < deadline, f"{self.group()} still run after SIGKILL"
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM to the group (uvicorn's parent stops its workers), SIGKILL if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=30)
        if self.proc.poll() is None or self.group():
            self.kill9()

    def tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""


def on_every_worker(call: Callable[[], httpx.Response], timeout_s: float = 60) -> list[httpx.Response]:
    """``call`` (each on a new connection, so the kernel picks the worker) until every worker answered."""
    responses: list[httpx.Response] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        responses.append(call())
        if len({r.headers[HEADER] for r in responses}) == WORKERS:
            return responses
    pytest.fail(f"only workers { ({r.headers[HEADER] for r in responses}) } answered in {timeout_s:.0f} s")


def _example_path(path: str) -> str:
    return path.replace("{customer_id}", "C0000001").replace("{sku}", "SKU-1").replace("{identifier}", "x")


# --- one secured server for the route matrix and the log check ---------------------------------
@pytest.fixture(scope="module")
def secured(trained_bundle, tmp_path_factory) -> Iterator[tuple[Secured, dict[str, str]]]:
    server = Secured(trained_bundle, tmp_path_factory.mktemp("secured-e2e"))
    keys = {
        "search": server.create_key("search"),
        "personalize": server.create_key("personalize"),
        "associate": server.create_key("associate", "ST-SAO"),
    }
    server.start()
    try:
        yield server, keys
    finally:
        server.stop()


@pytest.fixture(scope="module")
def routes() -> dict[tuple[str, str], str | None]:
    from models.config import Settings
    from service.app import create_app
    from service.security import route_scopes

    return route_scopes(create_app(Settings(dev_mode=True)))


def test_without_a_key_every_route_but_the_probes_is_401_on_every_worker(secured, routes):
    server, _ = secured
    private = sorted(r for r, scope in routes.items() if scope != "public")
    public = sorted(r for r, scope in routes.items() if scope == "public")
    assert ("GET", "/health/live") in public and ("GET", "/health/ready") in public
    assert len(private) >= 15 and None not in routes.values()
    answered: dict[tuple[str, str], set[str]] = {r: set() for r in private + public}
    deadline = time.monotonic() + 90
    while any(len(w) < WORKERS for w in answered.values()):
        assert time.monotonic() < deadline, {r: w for r, w in answered.items() if len(w) < WORKERS}
        for method, path in (r for r, w in answered.items() if len(w) < WORKERS):
            body = {} if method in ("POST", "PUT") else None
            r = httpx.request(
                method, server.base + _example_path(path), json=body, timeout=30
            )  # a new connection
            if (method, path) in public:
                assert r.status_code == 200, (method, path, r.status_code, r.text)
            else:
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
            answered[(method, path)].add(r.headers[HEADER])
    wrong = httpx.get(f"{server.base}/v1/search", params={"q": "mug"}, headers={"X-API-Key": "ork_abc.wrong"})
    assert wrong.status_code == 401


def test_the_search_key_searches_but_reads_no_customer_and_changes_no_rule(secured):
    server, keys = secured
    search = {"X-API-Key": keys["search"]}
    for r in on_every_worker(
        lambda: httpx.get(f"{server.base}/v1/search", params={"q": "mug"}, headers=search)
    ):
        assert r.status_code == 200 and r.json()["hits"], r.text
    lookups = on_every_worker(
        lambda: httpx.post(
            f"{server.base}/v1/customers/lookup", json={"email": "a@b.example"}, headers=search
        )
    )
    assert {r.status_code for r in lookups} == {403}
    rules = on_every_worker(
        lambda: httpx.put(f"{server.base}/v1/admin/rules", json={"rules": []}, headers=search)
    )
    assert {r.status_code for r in rules} == {403}
    bearer = httpx.get(f"{server.base}/v1/admin/rules", headers={"Authorization": f"Bearer {keys['search']}"})
    assert bearer.status_code == 403
    assert httpx.get(f"{server.base}/v1/admin/rules", headers={"X-API-Key": ADMIN}).status_code == 200


# --- no identifier in the logs ----------------------------------------------------------------
@pytest.fixture(scope="module")
def person(sample_dir) -> dict[str, str]:
    """A sample customer's loyalty id, email (mixed case) and phone, as a till would send them."""
    customers = pd.read_parquet(sample_dir / "customers.parquet")
    row = customers.dropna(subset=["loyalty_id", "email", "phone"]).iloc[0]
    return {"loyalty_id": str(row["loyalty_id"]), "email": str(row["email"]), "phone": str(row["phone"])}


def test_no_email_phone_or_loyalty_id_reaches_the_logs(secured, person):
    server, keys = secured
    email, phone, loyalty = person["email"], person["phone"], person["loyalty_id"]
    assert email != email.lower(), "pick a mixed-case email: the lower-cased form is checked too"
    associate, personalize = {"X-API-Key": keys["associate"]}, {"X-API-Key": keys["personalize"]}
    base = server.base
    sku = httpx.get(f"{base}/v1/search", params={"q": "mug"}, headers={"X-API-Key": keys["search"]}).json()[
        "hits"
    ][0]
    sku = sku["product"]["sku"]
    sent: list[httpx.Response] = []
    for body in ({"email": email}, {"phone": phone}, {"loyalty_id": loyalty}):
        sent.append(httpx.post(f"{base}/v1/customers/lookup", json=body, headers=associate))
        assert sent[-1].status_code in (200, 404), sent[-1].text
    event = {"type": "view", "timestamp": "2026-10-01T10:00:00Z", "channel": "web", "sku": sku}
    events = [
        {**event, "event_id": uuid.uuid4().hex, "email": email},
        {**event, "event_id": uuid.uuid4().hex, "phone": phone},
    ]
    sent.append(httpx.post(f"{base}/v1/events", json={"events": events}, headers=personalize))
    assert sent[-1].status_code == 202 and sent[-1].json()["accepted"] == 2, sent[-1].text
    bad = [
        {**event, "event_id": uuid.uuid4().hex, "email": email, "type": "teleport"}
    ]  # rejected, echoing nothing
    sent.append(httpx.post(f"{base}/v1/events", json={"events": bad}, headers=personalize))
    assert sent[-1].status_code == 422
    sent.append(httpx.get(f"{base}/v1/recommendations/customers/{loyalty}", headers=personalize))
    assert sent[-1].status_code == 200, sent[-1].text
    sent.append(httpx.get(f"{base}/v1/customers/{email}/profile", headers=associate))
    assert sent[-1].status_code in (404, 422), sent[-1].text
    sent.append(httpx.get(f"{base}/v1/search", params={"q": email}, headers={"X-API-Key": keys["search"]}))
    assert sent[-1].status_code == 200
    sent.append(httpx.get(f"{base}/v1/customers/{phone}/profile"))  # no key: 401, still logged
    assert sent[-1].status_code == 401
    sent.append(httpx.get(f"{base}/v1/no-such-route/{email}"))
    assert sent[-1].status_code == 404
    request_ids = {r.headers["x-request-id"] for r in sent}
    server.stop()  # every line written and flushed

    text = server.log.read_text(encoding="utf-8")
    digits = "".join(ch for ch in phone if ch.isdigit())
    secrets = {
        email,
        email.lower(),
        phone,
        digits,
        digits.lstrip("0")[-10:],
        phone[-9:],
        loyalty,
        loyalty.lower(),
    }
    secrets |= {quote(s, safe=safe) for s in (email, phone) for safe in ("", "/@()")}  # as a URL carries them
    for secret in sorted(secrets):
        assert secret not in text, f"{secret!r} is in the server's output"
    lines = [line for line in text.splitlines() if line.strip()]
    requests = []
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"a log line is not JSON: {line[:300]}")
        assert isinstance(record, dict), line
        if record.get("event") == "request":
            requests.append(record)
            assert record.get("request_id"), line
            assert record["route"] == "unmatched" or record["route"].startswith("/"), line
    logged_ids = {r["request_id"] for r in requests}
    assert request_ids <= logged_ids, "every request above is logged once, by its request id"
    routes = {r["route"] for r in requests if r["request_id"] in request_ids}
    assert {"/v1/customers/lookup", "/v1/events", "/v1/customers/{customer_id}/profile"} <= routes


# --- acknowledged events survive kill -9 ------------------------------------------------------
def test_acknowledged_events_survive_kill_9_of_every_process_and_replay_as_duplicates(
    trained_bundle, tmp_path_factory
):
    state = tmp_path_factory.mktemp("kill9-e2e")
    server = Secured(trained_bundle, state)
    key = server.create_key("personalize")
    users = json.loads((trained_bundle / "latest" / "recs" / "user_ids.json").read_text())[:50]
    skus = pd.read_parquet(trained_bundle / "latest" / "catalog" / "products.parquet", columns=["sku"])[
        "sku"
    ].tolist()[:200]
    run = uuid.uuid4().hex[:8]
    batches = [
        [
            {
                "event_id": f"k9-{run}-{b:03d}-{i:03d}",
                "type": "view",
                "timestamp": "2026-10-01T10:00:00Z",
                "channel": "app",
                "sku": skus[(b * 7 + i) % len(skus)],
                "customer_id": users[(b + i) % len(users)],
            }
            for i in range(200)
        ]
        for b in range(200)
    ]
    acked: list[dict] = []
    unanswered: list[list[dict]] = []
    lock = threading.Lock()
    queue = list(reversed(batches))

    def poster() -> None:
        with httpx.Client(base_url=server.base, headers={"X-API-Key": key}, timeout=60) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    batch = queue.pop()
                try:
                    r = client.post("/v1/events", json={"events": batch})
                except httpx.HTTPError:
                    with lock:
                        unanswered.append(batch)
                    return
                assert r.status_code == 202 and r.json()["accepted"] == len(batch), r.text
                with lock:
                    acked.extend(batch)

    server.start()
    try:
        threads = [threading.Thread(target=poster, daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(acked) < 10 * 200:  # mid-load: some batches acknowledged, most still to send
            assert time.monotonic() < deadline and all(t.is_alive() for t in threads), "posting stalled"
            time.sleep(0.01)
        time.sleep(0.005)
        server.kill9()
        for t in threads:
            t.join(timeout=60)
        with lock:
            acked_ids = {e["event_id"] for e in acked}
            left = len(queue)
        assert left > 0 and len(acked_ids) >= 2000, "the kill came after the load, not during it"

        conn = sqlite3.connect(f"file:{state / 'events.sqlite3'}?mode=ro", uri=True)
        try:
            stored = {
                row[0]
                for row in conn.execute("SELECT event_id FROM events WHERE event_id LIKE ?", (f"k9-{run}-%",))
            }
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            conn.close()
        assert acked_ids <= stored, f"{len(acked_ids - stored)} acknowledged events lost"
        in_doubt = {e["event_id"] for b in unanswered for e in b}
        assert stored <= acked_ids | in_doubt  # nothing stored that was never sent

        server.start()  # the same store
        replay = [e for e in acked]
        duplicates = accepted = 0
        with httpx.Client(base_url=server.base, headers={"X-API-Key": key}, timeout=60) as client:
            for i in range(0, len(replay), 500):
                r = client.post("/v1/events", json={"events": replay[i : i + 500]})
                assert r.status_code == 202, r.text
                duplicates += r.json()["duplicates"]
                accepted += r.json()["accepted"]
        assert (accepted, duplicates) == (0, len(acked_ids))
    finally:
        server.stop()
