"""``omnirank serve --workers 2``: what one worker process is told, every worker answers.

Each response names the process that answered (``X-Omnirank-Worker``), so the tests keep sending
concurrent requests on fresh connections until both workers have answered, and require every answer
to agree: a rule PUT to one worker fires on the other, an event posted to one changes the other's
recommendations.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

WORKERS = 2
HEADER = "x-omnirank-worker"


@pytest.fixture(scope="module")
def server(trained_bundle, tmp_path_factory, start_server):
    with start_server(
        trained_bundle, tmp_path_factory.mktemp("two-workers"), "--workers", str(WORKERS)
    ) as base:
        yield base


def answers_from_every_worker(
    call: Callable[[], httpx.Response], concurrency: int = 8, timeout_s: float = 60
) -> list[httpx.Response]:
    """Rounds of ``concurrency`` calls (each on a new connection, so the kernel picks the worker) until
    every worker has answered at least twice; returns all responses, for the caller to check each."""
    responses: list[httpx.Response] = []
    counts: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    with ThreadPoolExecutor(concurrency) as pool:
        while time.monotonic() < deadline:
            responses += pool.map(lambda _: call(), range(8))
            for r in responses:
                assert r.status_code == 200, r.text
            counts = {}
            for r in responses:
                counts[r.headers[HEADER]] = counts.get(r.headers[HEADER], 0) + 1
            if len(counts) == WORKERS and min(counts.values()) >= 2:
                return responses
    pytest.fail(f"not every worker answered in {timeout_s:.0f} s: {counts}")


def test_a_rule_put_to_one_worker_fires_on_every_worker(server):
    query = "mug"
    before = httpx.get(f"{server}/v1/search", params={"q": query, "k": 10}).json()
    assert before["rules_fired"] == [] and len(before["hits"]) >= 5
    pinned = before["hits"][-1]["product"]["sku"]  # not first today: first only if the rule fired
    rules = {"rules": [{"id": "pin-e2e", "match": {"exact": query}, "pin": [{"sku": pinned, "position": 1}]}]}
    put = httpx.put(f"{server}/v1/admin/rules", json=rules)
    assert put.status_code == 200, put.text
    try:
        responses = answers_from_every_worker(
            lambda: httpx.get(f"{server}/v1/search", params={"q": query, "k": 10})
        )
        assert {put.headers[HEADER]} < {
            r.headers[HEADER] for r in responses
        }  # a worker that did not serve the PUT
        for r in responses:
            body = r.json()
            assert body["rules_fired"] == ["pin-e2e"], (r.headers[HEADER], body["rules_fired"])
            assert body["hits"][0]["product"]["sku"] == pinned
    finally:
        assert httpx.put(f"{server}/v1/admin/rules", json={}).status_code == 200
    cleared = answers_from_every_worker(
        lambda: httpx.get(f"{server}/v1/search", params={"q": query, "k": 10})
    )
    assert all(r.json()["rules_fired"] == [] for r in cleared)


def test_an_event_posted_to_one_worker_changes_every_workers_recommendations(server):
    loyalty = "LY" + uuid.uuid4().hex[:9].upper()
    url = f"{server}/v1/recommendations/customers/{loyalty}"
    before = httpx.get(url).json()
    assert before["cold_start"]
    event = {
        "event_id": uuid.uuid4().hex,
        "type": "add_to_cart",
        "timestamp": "2026-10-01T10:00:00Z",
        "channel": "app",
        "sku": before["items"][0]["product"]["sku"],
        "loyalty_id": loyalty,
    }
    posted = httpx.post(f"{server}/v1/events", json={"events": [event]})
    assert posted.status_code == 202 and posted.json()["accepted"] == 1
    # Concurrent first requests: each worker's first fold-in fills the lazy Gram-matrix cache.
    responses = answers_from_every_worker(lambda: httpx.get(url), concurrency=4)
    assert {posted.headers[HEADER]} < {r.headers[HEADER] for r in responses}
    for r in responses:
        assert r.status_code == 200 and not r.json()["cold_start"], r.headers[HEADER]


def memory_kib(pid: int) -> dict[str, int]:
    """Rss, Shared_Dirty and Private_Dirty of one process (Linux ``smaps_rollup``), in KiB."""
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        fields = (line.split(":", 1) for line in fh if ":" in line)
        return {k: int(v.split()[0]) for k, v in fields if k in ("Rss", "Shared_Dirty", "Private_Dirty")}


def parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def test_workers_are_forked_from_one_master_and_share_its_loaded_bundle(server):
    """The bundle is loaded once, by the master, and the workers are forked from it: most of each
    worker's memory is pages written by the master before the fork, shared with it and the other
    worker (``Shared_Dirty``), not loaded again privately (a spawned worker shares none of those)."""
    responses = answers_from_every_worker(lambda: httpx.get(f"{server}/v1/search", params={"q": "kettle"}))
    workers = sorted({int(r.headers[HEADER]) for r in responses})
    masters = {parent_pid(pid) for pid in workers}
    assert len(workers) == WORKERS and len(masters) == 1, (workers, masters)
    for pid in workers:
        mem = memory_kib(pid)
        assert mem["Shared_Dirty"] > 0.5 * mem["Rss"], (pid, mem)
        assert mem["Private_Dirty"] < 0.25 * mem["Rss"], (pid, mem)
