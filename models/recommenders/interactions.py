"""Events -> the users x items confidence matrix every recommender trains on.

One function shared by training, ``eval-recs`` and the service, so a purchase weighs the same
everywhere: event-type weight x channel weight x quantity factor x exponential time decay,
duplicates summed. Event types without a positive weight (returns, searches, email sends) are
not evidence of interest and are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.config import Settings

REQUIRED_COLUMNS = ("user", "item", "type", "timestamp")


def type_weights_from_settings(settings: Settings) -> dict[str, float]:
    """Event-type weights; types not listed weigh 0 (ignored)."""
    return {
        "purchase": settings.weight_purchase,
        "add_to_cart": settings.weight_add_to_cart,
        "view": settings.weight_view,
        "search_click": settings.weight_search_click,
        "email_click": settings.weight_email_click,
        "click": settings.weight_click,
    }


@dataclass
class Interactions:
    """A confidence matrix with its row (user) and column (item) id maps."""

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray

    def user_index(self) -> dict[object, int]:
        return {u: i for i, u in enumerate(self.user_ids.tolist())}

    def item_index(self) -> dict[object, int]:
        return {u: i for i, u in enumerate(self.item_ids.tolist())}


def _check_columns(events: pd.DataFrame, required: Sequence[str]) -> None:
    missing = [c for c in required if c not in events.columns]
    if missing:
        raise ValueError(f"events lack required column(s) {missing}; got {list(events.columns)}")


def to_utc(values: pd.Series) -> pd.Series:
    """Timestamps as tz-aware UTC whatever they came as (strings, naive, aware)."""
    return pd.to_datetime(values, utc=True, format="mixed")


def event_weights(
    events: pd.DataFrame,
    type_weights: Mapping[str, float],
    channel_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    now: pd.Timestamp | None = None,
    use_quantity: bool = True,
) -> np.ndarray:
    """Per-event confidence (0 for events that are not positive evidence)."""
    _check_columns(events, REQUIRED_COLUMNS)
    w = np.array(events["type"].map(dict(type_weights)).fillna(0.0), dtype=np.float64)
    if channel_weights and "channel" in events.columns:
        w *= events["channel"].map(dict(channel_weights)).fillna(1.0).to_numpy(dtype=np.float64)
    if use_quantity and "quantity" in events.columns:
        q = pd.to_numeric(events["quantity"], errors="coerce").fillna(1.0).to_numpy(dtype=np.float64)
        # log damping: a shop ordering 48 units is more evidence than 1 unit, but not 48 times more
        w *= 1.0 + np.log(np.maximum(q, 1.0))
    if half_life_days:
        ts = to_utc(events["timestamp"])
        ref = to_utc(pd.Series([now])).iloc[0] if now is not None else ts.max()
        age_days = ((ref - ts).dt.total_seconds() / 86_400.0).clip(lower=0.0).to_numpy()
        w *= np.power(0.5, age_days / half_life_days)
    return w


def build_interactions(
    events: pd.DataFrame,
    type_weights: Mapping[str, float],
    channel_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    now: pd.Timestamp | None = None,
    user_ids: Sequence | np.ndarray | None = None,
    item_ids: Sequence | np.ndarray | None = None,
    use_quantity: bool = True,
) -> Interactions:
    """Confidence matrix (float32 CSR, duplicates summed) from events with columns
    user, item, type, timestamp[, channel, quantity].

    Pass ``item_ids`` (and ``user_ids``) to fix the index, e.g. the training catalog when
    building a test matrix; events on ids outside a fixed index are dropped.
    """
    _check_columns(events, REQUIRED_COLUMNS)
    valid = events["user"].notna() & events["item"].notna()
    ev = events if valid.all() else events[valid]  # no copy of 20M rows when there is nothing to drop
    w = event_weights(ev, type_weights, channel_weights, half_life_days, now, use_quantity)
    keep = w > 0
    w = w[keep]
    # Two filtered Series rather than a filtered frame; Series, not ``.to_numpy()``: 20M Python
    # string objects would cost gigabytes before factorize.
    users = ev["user"].astype(str)[keep]
    items = ev["item"].astype(str)[keep]
    u_ids, u_codes = _index(users, user_ids)
    i_ids, i_codes = _index(items, item_ids)
    ok = (u_codes >= 0) & (i_codes >= 0)
    matrix = sp.csr_matrix(
        (w[ok].astype(np.float32), (u_codes[ok], i_codes[ok])),
        shape=(len(u_ids), len(i_ids)),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return Interactions(matrix=matrix, user_ids=u_ids, item_ids=i_ids)


def _index(values: pd.Series, fixed: Sequence | np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct ids, code of each value; -1 outside a ``fixed`` index).

    ``pd.factorize(sort=True)`` gives exactly ``np.unique``'s ids and codes, but hashes the values and
    sorts only the distinct ones: sorting 20M Python strings with ``np.unique`` takes minutes.
    """
    if fixed is None:
        codes, uniques = pd.factorize(values, sort=True)
        return np.asarray(uniques, dtype=object), codes
    ids = np.asarray(fixed, dtype=object).astype(str)
    return ids, pd.Index(ids).get_indexer(values)


def temporal_split(
    events: pd.DataFrame,
    holdout_days: float | None = None,
    fraction: float | None = None,
    time_col: str = "timestamp",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Split at one cutoff time: everything before trains, the rest tests.

    ``fraction`` is the share of the time span (not of the rows) used for training; otherwise the
    last ``holdout_days`` are held out. Returns (train, test, cutoff).
    """
    if (holdout_days is None) == (fraction is None):
        raise ValueError("give exactly one of holdout_days or fraction")
    _check_columns(events, [time_col])
    if events.empty:
        raise ValueError("cannot split an empty event table")
    ts = to_utc(events[time_col])
    lo, hi = ts.min(), ts.max()
    if fraction is not None:
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        cutoff = lo + (hi - lo) * fraction
    else:
        cutoff = hi - pd.Timedelta(days=float(holdout_days))
    before = (ts < cutoff).to_numpy()
    return events[before], events[~before], cutoff
