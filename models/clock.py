"""The one clock: "now" is passed in, never read inside models, so tests pin it.

Entry points (the app factory, the CLI) take a ``Clock``; the default reads the system time in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


def fixed_clock(moment: datetime) -> Clock:
    """A clock that always answers ``moment`` (tests, replays)."""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return lambda: moment
