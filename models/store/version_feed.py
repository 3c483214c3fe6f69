"""What a replica knows of the store's change counters, without asking PostgreSQL on every request.

Every request compares the live and keys versions (``live_meta``) with the ones its view was built
from. On SQLite that is a read of a local file (~20 µs); on PostgreSQL it would be a round trip
(~0.2 ms on loopback, more across hosts) on every search. Instead, a write that bumps a counter
also sends ``NOTIFY "omnirank_versions:<schema>", 'live=42'`` in its transaction (PostgreSQL delivers it at
commit), and each store holds one connection that ``LISTEN``\\ s. A request drains what has already
arrived on that connection's socket (``PQconsumeInput`` / ``PQnotifies``: no round trip, no
waiting) and compares with the highest versions heard.

Why this still means "every replica sees a write on its next request": PostgreSQL sends the
notification as the writer commits, before the writer's client has its answer, so it is in the
reader's socket buffer long before a request caused by that answer arrives. The process that wrote
takes its own new versions at commit (:meth:`VersionFeed.heard`), not from the network. Should a
notification be lost anyway (a dropped listener connection, a NOTIFY queue overflow), the versions
are read from the table at least every ``max_silence_s`` and whenever the listener has to
reconnect, so staleness is bounded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)

CHANNEL = "omnirank_versions"
KINDS = ("live", "keys")  # the order of the tuple ``LiveStore.versions`` returns


class VersionFeed:
    """The (live, keys) versions a process has heard of, from a LISTEN connection (PostgreSQL)."""

    def __init__(
        self,
        connect: Callable[[], Any],
        read: Callable[[], tuple[int, int]],
        channel_of: Callable[[Any], str],
        max_silence_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``connect``: a new autocommit psycopg connection; ``read``: the versions from the table;
        ``channel_of``: the store's NOTIFY channel, asked of a connection."""
        self._connect = connect
        self._channel_of = channel_of
        self._read = read
        self.max_silence_s = max_silence_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._listener: Any = None
        self._versions = (0, 0)
        self._read_at = float("-inf")
        self.table_reads = 0  # how often the table was asked (listening, or after a silence): for tests

    def current(self) -> tuple[int, int]:
        """(live, keys): the highest versions heard, after draining the notifications already here."""
        with self._lock:
            try:
                if self._listener is None or self._listener.closed:
                    self._listen()
                else:
                    self._drain()
                    if self._monotonic() - self._read_at > self.max_silence_s:
                        self._read_table()
            except Exception as exc:  # the listener broke (a restart, a network cut): ask the table
                logger.warning("version feed: %s; reading the versions from the table", exc)
                self._drop_listener()
                self._read_table()
            return self._versions

    def heard(self, announced: Iterable[tuple[str, int]]) -> None:
        """Versions this process itself committed: known at once, not when the NOTIFY comes back."""
        with self._lock:
            for kind, value in announced:
                self._raise(kind, value)

    def close(self) -> None:
        with self._lock:
            self._drop_listener()

    # --- inside the lock ------------------------------------------------------------------------
    def _listen(self) -> None:
        self._drop_listener()
        listener = self._connect()
        channel = self._channel_of(listener).replace('"', '""')
        listener.execute(f'LISTEN "{channel}"')
        self._listener = listener
        # read after LISTEN: a write committed after this read is announced on the listener
        self._read_table()

    def _drain(self) -> None:
        pgconn = self._listener.pgconn
        pgconn.consume_input()  # what the socket holds now; never blocks
        while (notify := pgconn.notifies()) is not None:
            kind, _, value = notify.extra.decode("ascii", "replace").partition("=")
            if value.isdigit():
                self._raise(kind, int(value))

    def _read_table(self) -> None:
        """The table is the authority (it holds every committed write, a reset database included)."""
        self.table_reads += 1
        self._versions = self._read()
        self._read_at = self._monotonic()

    def _raise(self, kind: str, value: int) -> None:
        if kind in KINDS:
            i = KINDS.index(kind)
            if value > self._versions[i]:
                self._versions = tuple(value if j == i else v for j, v in enumerate(self._versions))  # type: ignore[assignment]

    def _drop_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:  # already broken
                pass
            self._listener = None
