"""The live event store: durable before 202, idempotent by event_id, safe under threads and kill -9.

Every test taking ``event_store`` or ``store_location`` runs on both backends (SQLite and a real
PostgreSQL, ``tests/postgres_fixture.py``): one suite, two implementations."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from models.pii import identifier_key
from models.store import LiveStore, StoredEvent

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def _event(event_id: str, customer: str = "C1", minutes: int = 0, **kw) -> StoredEvent:
    base = dict(type="purchase", channel="store", sku="SKU-1", store_id="S1", quantity=1, price=9.5)
    base.update(kw)
    return StoredEvent(
        event_id=event_id, customer_key=customer, timestamp=T0 + timedelta(minutes=minutes), **base
    )


@pytest.fixture()
def event_store(store: LiveStore) -> LiveStore:
    return store


def test_opens_in_wal_mode_with_the_requested_durability(tmp_path: Path) -> None:
    with LiveStore(tmp_path / "a.db") as normal:
        conn = normal._conn()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    with LiveStore(tmp_path / "b.db", synchronous="FULL") as full:
        assert full._conn().execute("PRAGMA synchronous").fetchone()[0] == 2
        assert full.append([_event("e1")]).accepted == ["e1"]
    with pytest.raises(ValueError, match="synchronous"):
        LiveStore(tmp_path / "c.db", synchronous="OFF")  # type: ignore[arg-type]


def test_round_trip_and_persistence_across_reopen(store_location: Path | str) -> None:
    path = store_location
    with LiveStore(path) as store:
        result = store.append([_event("e1", price=None, sku="SKU-9", store_id=None, quantity=3)])
        assert result.accepted == ["e1"] and result.duplicates == []
    with LiveStore(path) as reopened:
        (got,) = reopened.recent_for_customer("C1")
    assert (got.event_id, got.sku, got.store_id, got.quantity, got.price) == ("e1", "SKU-9", None, 3, None)
    assert got.timestamp == T0 and got.received_at is not None
    assert got.received_at.tzinfo is not None


def test_replay_is_reported_as_duplicate_and_not_stored_twice(event_store: LiveStore) -> None:
    batch = [_event(f"e{i}", minutes=i) for i in range(5)]
    first = event_store.append(batch)
    assert first.accepted == [f"e{i}" for i in range(5)] and first.duplicates == []
    replay = event_store.append(batch)
    assert replay.accepted == [] and replay.duplicates == [f"e{i}" for i in range(5)]
    assert event_store.count() == 5

    mixed = event_store.append(
        [_event("e1", minutes=1), _event("new-1"), _event("e4", minutes=4), _event("new-2"), _event("new-1")]
    )
    assert mixed.accepted == ["new-1", "new-2"]
    assert mixed.duplicates == ["e1", "e4", "new-1"]  # a repeat inside the batch counts too
    assert mixed.conflicts == []
    assert event_store.count() == 7


def test_a_replay_does_not_overwrite_the_first_version(event_store: LiveStore) -> None:
    event_store.append([_event("e1", price=10.0)])
    event_store.append([_event("e1", price=99.0, type="return")])
    (got,) = event_store.recent_for_customer("C1")
    assert (got.type, got.price) == ("purchase", 10.0)


def test_an_invalid_event_rejects_the_whole_batch(event_store: LiveStore) -> None:
    good = _event("ok")
    cases = [
        (_event("x", type="teleport"), "type"),
        (_event("x", channel="fax"), "channel"),
        (_event("x", quantity=0), "quantity"),
        (_event("x", price=float("nan")), "price"),
        (_event("x", customer="ana@example.com"), "raw email"),
        (_event("", customer="C1"), "event_id"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            event_store.append([good, bad])
    assert event_store.count() == 0


def test_recent_for_customer_is_newest_first_with_since_and_limit(event_store: LiveStore) -> None:
    event_store.append([_event(f"a{i}", "A", minutes=i) for i in range(10)] + [_event("b0", "B")])
    recent = event_store.recent_for_customer("A", limit=3)
    assert [e.event_id for e in recent] == ["a9", "a8", "a7"]
    since = event_store.recent_for_customer("A", since=T0 + timedelta(minutes=6))
    assert [e.event_id for e in since] == ["a9", "a8", "a7", "a6"]
    assert event_store.recent_for_customer("nobody") == []

    batched = event_store.recent_for_customers(["A", "B", "nobody", "A"], limit=2)
    assert {k: [e.event_id for e in v] for k, v in batched.items()} == {
        "A": ["a9", "a8"],
        "B": ["b0"],
        "nobody": [],
    }


def test_recent_for_customers_handles_more_keys_than_sqlite_parameters(event_store: LiveStore) -> None:
    keys = [f"K{i}" for i in range(2_000)]
    event_store.append([_event(f"e{i}", k, minutes=i) for i, k in enumerate(keys)])
    got = event_store.recent_for_customers(keys)
    assert len(got) == 2_000 and all(len(v) == 1 and v[0].customer_key == k for k, v in got.items())


def test_hashed_identifier_is_found_again_and_raw_pii_never_hits_disk(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    key = identifier_key("email", "  Ana.Silva@Example.com ", salt="s3cret")
    with LiveStore(path) as store:
        store.append([_event("e1", key)])
        lookup = identifier_key("email", "ana.silva@example.com", salt="s3cret")
        assert [e.event_id for e in store.recent_for_customer(lookup)] == ["e1"]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"ana.silva" not in raw.lower() and key.encode() in raw


def test_iter_since_streams_every_event_once_across_pages(event_store: LiveStore) -> None:
    # Two batches share one received_at each, so pages must break ties on event_id.
    event_store.append([_event(f"a{i:02d}", minutes=-i) for i in range(25)])
    event_store.append([_event(f"b{i:02d}", minutes=100 + i) for i in range(25)])
    everything = list(event_store.iter_since(0.0, page_size=7))
    assert sorted(e.event_id for e in everything) == sorted(f"{p}{i:02d}" for p in "ab" for i in range(25))
    assert len(everything) == 50
    received = [e.received_at for e in everything]
    assert received == sorted(received)

    cutoff = everything[25].received_at
    assert {e.event_id for e in event_store.iter_since(cutoff, page_size=4)} == {
        f"b{i:02d}" for i in range(25)
    }

    by_ts = list(event_store.iter_since(T0 + timedelta(minutes=110), by="ts", page_size=3))
    assert [e.event_id for e in by_ts] == [f"b{i:02d}" for i in range(10, 25)]
    assert list(event_store.iter_since(T0 + timedelta(days=1), by="ts")) == []


def test_threads_appending_and_reading_concurrently(event_store: LiveStore) -> None:
    n_threads, n_batches, batch_size = 4, 10, 100
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(t: int) -> None:
        try:
            for b in range(n_batches):
                batch = [_event(f"t{t}-b{b}-{i}", f"C{i % 17}", minutes=i) for i in range(batch_size)]
                assert len(event_store.append(batch).accepted) == batch_size
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)

    def reader() -> None:
        try:
            while not stop.is_set():
                event_store.recent_for_customer("C3", limit=50)
                event_store.count()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for th in threads + readers:
        th.start()
    for th in threads:
        th.join()
    stop.set()
    for th in readers:
        th.join()
    assert errors == []
    assert event_store.count() == n_threads * n_batches * batch_size


def test_two_store_instances_on_one_file_split_duplicates_exactly(store_location: Path | str) -> None:
    """Two uvicorn workers share the file (two replicas the database): overlapping retries must be
    stored exactly once."""
    path = store_location
    ids = [f"e{i}" for i in range(400)]
    results = []
    with LiveStore(path) as one, LiveStore(path) as two:

        def send(store: LiveStore) -> None:
            for start in range(0, len(ids), 50):
                results.append(store.append([_event(i) for i in ids[start : start + 50]]))

        threads = [threading.Thread(target=send, args=(s,)) for s in (one, two)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        accepted = [i for r in results for i in r.accepted]
        assert sorted(accepted) == sorted(ids)  # each id accepted by exactly one worker
        assert sum(len(r.duplicates) for r in results) == len(ids)
        assert one.count() == two.count() == len(ids)


_CHILD = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from models.store import LiveStore, StoredEvent

    where = sys.argv[1]
    store = LiveStore(where if where.startswith("postgresql://") else Path(where))
    ts = datetime(2024, 5, 1, tzinfo=timezone.utc)
    batch_no = 0
    while True:
        batch = [
            StoredEvent(f"b{batch_no}-{i}", f"C{i % 7}", "view", ts, "web", sku=f"S{i}")
            for i in range(200)
        ]
        store.append(batch)
        print(batch_no, flush=True)  # the 202: only after append returned
        batch_no += 1
    """
)


def test_every_acknowledged_event_survives_sigkill(store_location: Path | str) -> None:
    path = store_location
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    acknowledged: list[int] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) == 30:
                break
        # The child keeps writing: the kill lands at an arbitrary point, often mid-transaction.
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) == 30

    if isinstance(path, Path):
        conn = sqlite3.connect(path)  # a plain reader first: recovery from the WAL must just work
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    with LiveStore(path) as store:
        assert store.integrity_check() == "ok"
        stored = {e.event_id for e in store.iter_since(0.0)}
        assert store.count() == len(stored) >= 30 * 200
        assert store.count() % 200 == 0  # a batch is one transaction: all of it or none
    missing = [f"b{b}-{i}" for b in acknowledged for i in range(200) if f"b{b}-{i}" not in stored]
    assert missing == []


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RuntimeError, match="not a usable SQLite event store"):
        LiveStore(path)


def test_an_unreachable_postgresql_gives_a_clear_error(postgres_server) -> None:
    url = f"postgresql://postgres@127.0.0.1:{postgres_server.port}/no_such_database"
    with pytest.raises(RuntimeError, match="not a usable PostgreSQL live store.*no_such_database"):
        LiveStore(url)


def test_migrations_are_numbered_recorded_once_and_safe_when_two_processes_open_at_once(
    store_location: Path | str,
) -> None:
    """Four openers race on an empty store: each migration is applied and recorded exactly once."""
    from models.store.sqlite import MIGRATIONS, SCHEMA_VERSION

    errors: list[BaseException] = []
    opened: list[LiveStore] = []
    barrier = threading.Barrier(4)

    def open_store() -> None:
        try:
            barrier.wait()
            opened.append(LiveStore(store_location))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        applied = opened[0].schema_migrations()
        assert [v for v, _ in applied] == [v for v, _, _ in MIGRATIONS]
        assert max(v for v, _ in applied) == SCHEMA_VERSION
        assert opened[0].append([_event("e1")]).accepted == ["e1"]
        assert all(s.count() == 1 for s in opened)
    finally:
        for s in opened:
            s.close()
    with LiveStore(store_location) as again:  # a reopen applies nothing
        assert again.schema_migrations() == applied


def test_a_store_newer_than_the_code_is_refused(store_location: Path | str) -> None:
    with LiveStore(store_location) as store:
        with store._write() as conn:
            conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
    with pytest.raises(RuntimeError, match="v99 is newer than this code"):
        LiveStore(store_location)
