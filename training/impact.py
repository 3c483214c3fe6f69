"""Measuring impact from the service's store: ``omnirank analytics`` and ``omnirank ab-report``.

Both read what the service recorded (the answers it served, ``served``, and the events shoppers
posted) through a read-only connection, so they run beside a serving fleet, and both count with
``models.analytics`` (attribution of carts and purchases to the answer that led to them), so the
admin endpoint, the analytics report and the A/B report never disagree on a number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models.abtest import ABReport, compare_arms
from models.analytics import analytics_report, attribute, report_markdown, write_plots
from models.errors import InputError
from models.store.readonly import open_read_only


@dataclass(frozen=True)
class Period:
    since: pd.Timestamp
    until: pd.Timestamp
    window: pd.Timedelta

    @classmethod
    def parse(cls, since: str | None, until: str | None, window_hours: float, now: pd.Timestamp) -> Period:
        """``until`` defaults to ``now``, ``since`` to 7 days before ``until``; naive times are UTC."""
        end = _utc(until) if until else now
        start = _utc(since) if since else end - pd.Timedelta(days=7)
        if start >= end:
            raise InputError(f"--since {start} is not before --until {end}")
        if window_hours <= 0:
            raise InputError("--window-hours must be positive")
        return cls(start, end, pd.Timedelta(hours=window_hours))


def _utc(value: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except ValueError as exc:
        raise InputError(f"{value!r} is not an ISO 8601 time") from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def read_frames(store: Path, period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(served answers in the period, events from its start to one attribution window after its end:
    a purchase just after the period may still belong to one of its answers)."""
    with open_read_only(store) as live:
        served = live.served_frame(period.since.timestamp(), period.until.timestamp())
        events = live.events_frame(period.since.timestamp(), (period.until + period.window).timestamp())
    return served, events


def write_analytics(store: Path, period: Period, out: Path, top_n: int = 20) -> dict:
    """The analytics report as ``report.json``, ``report.md`` and PNG plots under ``out``."""
    served, events = read_frames(store, period)
    report = analytics_report(
        served, events, since=period.since, until=period.until, window=period.window, top_n=top_n
    )
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(report, out)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out / "report.md").write_text(report_markdown(report, [p.name for p in plots]), encoding="utf-8")
    return report


def exposures(
    served: pd.DataFrame, events: pd.DataFrame, window: pd.Timedelta, surfaces: tuple[str, ...]
) -> pd.DataFrame:
    """One row per served answer on ``surfaces``: arm, unit, clicked (a click carried its
    request_id), converted (a purchase was attributed to it) and the attributed revenue."""
    # answers without a unit (no customer, no session) are always arm A: they would bias the test
    shown = served[served["surface"].isin(surfaces) & served["unit"].notna()]
    clicks = events[
        events["type"].isin(("click", "search_click", "email_click")) & events["request_id"].notna()
    ]
    credited = attribute(served, events, window)
    bought = credited[(credited["type"] == "purchase") & credited["request_id"].notna()]
    revenue = bought.groupby("request_id")["revenue"].sum()
    frame = pd.DataFrame(
        {
            "arm": shown["arm"].astype(str).to_numpy(),
            "unit": shown["unit"].astype(str).to_numpy(),
            "clicked": shown["request_id"].isin(set(clicks["request_id"])).astype(int).to_numpy(),
            "converted": shown["request_id"].isin(set(bought["request_id"])).astype(int).to_numpy(),
            "revenue": shown["request_id"].map(revenue).fillna(0.0).to_numpy(dtype=float),
        }
    )
    return frame


def ab_report(
    store: Path,
    period: Period,
    surfaces: tuple[str, ...],
    min_units_per_arm: int,
    alpha: float,
    split_b: float | None,
) -> ABReport:
    """Arms A and B compared on the answers of ``surfaces`` served in ``period``."""
    served, events = read_frames(store, period)
    return compare_arms(
        exposures(served, events, period.window, surfaces),
        min_units_per_arm=min_units_per_arm,
        alpha=alpha,
        expected_split_b=split_b,
    )
