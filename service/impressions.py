"""Every answer the service gives, recorded for analytics and A/B reports without slowing the answer.

A search, a suggestion list or a recommendation list gets a ``request_id`` (the one in the
``X-Request-ID`` header and the logs) and an A/B ``arm`` in its body; a click or purchase posted later
with that ``request_id`` is attributed to the answer. The answer itself (surface, arm, unit, query,
skus shown) is queued here and written to the store's ``served`` table by one background thread in a
single transaction per ``flush_seconds``, so no request ever waits on the store's write lock.

Trade-off: a ``kill -9`` loses at most the last ``flush_seconds`` of impressions (analytics
denominators), never an event: events are written before their 202 (``service/routers/events.py``).
A full queue (the store unwritable for a long time) drops the oldest impressions and counts them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import Request

from models.store import LiveStore
from models.store.analytics_tables import ServedAnswer

logger = logging.getLogger(__name__)
MAX_PENDING = 200_000


@dataclass(frozen=True)
class AnswerMeta:
    """What every answer carries in its body: the id to quote on clicks, and the arm it came from."""

    request_id: str
    arm: str


class ImpressionLog:
    """A bounded queue of served answers and the thread that writes them in batches."""

    def __init__(self, store: LiveStore, flush_seconds: float = 1.0, max_pending: int = MAX_PENDING) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self._pending: deque[ServedAnswer] = deque(maxlen=max_pending)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="omnirank-impressions", daemon=True)
        self.dropped = 0
        self.written = 0

    def start(self) -> ImpressionLog:
        self._thread.start()
        return self

    def add(self, answer: ServedAnswer) -> None:
        with self._lock:
            if len(self._pending) == self._pending.maxlen:
                self.dropped += 1
            self._pending.append(answer)

    def flush(self) -> int:
        """Write what is queued now (the thread calls it; tests and shutdown call it too)."""
        with self._lock:
            batch = list(self._pending)
            self._pending.clear()
        if not batch:
            return 0
        try:
            written = self.store.record_served(batch)
        except Exception:  # the store is busy or gone: keep the batch for the next try
            logger.exception("could not record %d served answers; retrying", len(batch))
            with self._lock:
                self._pending.extendleft(reversed(batch))
            return 0
        self.written += written
        return written

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.flush()


def unit_hash(unit: str | None, salt: str) -> str | None:
    """The A/B unit as stored: a keyed hash, since a path's customer id may be any identifier."""
    if not unit:
        return None
    return hashlib.blake2b(
        unit.encode("utf-8", "surrogatepass"), key=salt.encode()[:64], digest_size=12
    ).hexdigest()


def answered(request: Request, surface: str, skus: Sequence[str], query: str | None = None) -> AnswerMeta:
    """Record the answer this request is giving and return the fields its body carries."""
    state = request.scope.get("state", {})
    request_id = state.get("request_id", "")
    arm = state.get("arm", "A")
    app = request.app.state
    app.impressions.add(
        ServedAnswer(
            request_id=request_id,
            surface=surface,
            arm=arm,
            unit=unit_hash(state.get("unit"), app.settings.pii_salt),
            query=query,
            skus=tuple(skus),
            ts=app.serving.clock().timestamp(),
        )
    )
    return AnswerMeta(request_id=request_id, arm=arm)
