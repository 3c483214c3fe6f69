"""Search and recommendation analytics over what the service served and what shoppers did next.

The business case for search and recommendations is made in shopper numbers (click-through,
conversion, revenue per search), and an A/B test compares the same numbers per arm. This module
computes them from two frames, so the CLI (``omnirank analytics``), the admin endpoint
(``GET /v1/admin/analytics``) and an A/B report all count the same way:

``served``
    one row per answer the service gave: ``request_id`` (unique), ``surface`` (``search``,
    ``suggest``, ``customer``, ``similar``, ``bought_together``, ``cart``, ``trending``, ``email``),
    ``arm`` (``"A"`` without an experiment), ``unit`` (hashed customer key or session id),
    ``query`` (search/suggest), ``skus`` (the list shown, in order; empty = zero results), ``ts``.
``events``
    one row per event (``event_id``, ``type``, ``ts``, ``channel``, ``sku``, ``customer_key``,
    ``session_id``, ``basket_id``, ``query``, ``request_id``, ``position``, ``quantity``, ``price``).

Everything is counted per *answer* (request cohort): an answer served in the period, the clicks on
it and the add-to-carts and purchases attributed to it (see :func:`attribute`). Rates therefore
never exceed 1 and a late purchase lands on the answer that earned it, not on the day it happened.

Pure functions, vectorised with pandas (a million events in seconds); the only I/O is
:func:`write_plots`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.columns import as_str, per_distinct
from models.text import normalize

SURFACES = ("search", "suggest", "customer", "similar", "bought_together", "cart", "trending", "email")
"""Every surface that serves an answer, in report order (a surface without rows is left out)."""

CLICK_TYPES = ("click", "search_click", "email_click")
"""Events that are a click on a served answer (they carry its ``request_id``)."""

CONVERSION_TYPES = ("add_to_cart", "purchase")
"""Events attributed to the answer that led to them."""

DEFAULT_WINDOW = pd.Timedelta(hours=24)
"""How long after a click an add-to-cart or purchase without a request_id is still credited to it."""

MAX_POSITION = 10
"""Click-through by position is reported for ranks 1..10 (the first result page)."""

VIA_REQUEST, VIA_SESSION, VIA_CUSTOMER = "request_id", "session", "customer"
"""How a conversion got its request: carried it, or matched a click in its session / by its customer."""

_UTC = "datetime64[ns, UTC]"


# --------------------------------------------------------------------------------------------------
# input normalisation


def _utc(value: object) -> pd.Timestamp | None:
    """A bound of the period as a UTC timestamp (a naive one is read as UTC); None stays open."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _ts(values: pd.Series) -> pd.Series:
    """Timestamps as ``datetime64[ns, UTC]``: both sides of a merge_asof need the very same dtype."""
    return pd.to_datetime(values, utc=True).astype(_UTC)


def _str(frame: pd.DataFrame, column: str) -> pd.Series:
    """A str column with ``""`` read as missing (an anonymous shopper has no key to match on)."""
    if column not in frame.columns:
        return pd.Series(pd.array([None] * len(frame), dtype="str"), index=frame.index)
    values = as_str(frame[column])
    return values.mask(values == "")


def _require(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}")


def _query_key(query: object) -> str | None:
    """The form queries are grouped under: normalised (case, accents) and whitespace collapsed,
    so "Red Shoes " and "red shoes" are one line of the report."""
    key = " ".join(normalize(query).split())
    return key or None


def _served_frame(served: pd.DataFrame) -> pd.DataFrame:
    _require(served, ("request_id", "surface", "skus", "ts"), "served")
    arm = _str(served, "arm")
    skus = served["skus"]
    frame = pd.DataFrame(
        {
            "request_id": _str(served, "request_id"),
            "surface": _str(served, "surface"),
            "arm": arm.fillna("A"),
            "unit": _str(served, "unit"),
            "query": per_distinct(served["query"], _query_key)
            if "query" in served.columns
            else _str(served, "query"),
            "n_results": np.fromiter(
                (0 if s is None or (isinstance(s, float) and math.isnan(s)) else len(s) for s in skus),
                dtype=np.int64,
                count=len(skus),
            ),
            "ts": _ts(served["ts"]),
        },
        index=served.index,
    )
    frame["skus"] = skus
    frame = frame[frame["request_id"].notna()]
    return frame.drop_duplicates("request_id").reset_index(drop=True)


def _float(frame: pd.DataFrame, column: str, default: float) -> np.ndarray:
    """A numeric column as float64 (nullable Int64 and None included), ``default`` where missing."""
    if column not in frame.columns:
        return np.full(len(frame), default)
    values = pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy()
    return np.where(np.isnan(values), default, values)


def _events_frame(events: pd.DataFrame) -> pd.DataFrame:
    """The clicks and conversions of ``events`` (views, sends and the rest play no part), typed."""
    _require(events, ("type", "ts", "sku", "customer_key"), "events")
    etype = _str(events, "type")
    keep = etype.isin([*CLICK_TYPES, *CONVERSION_TYPES]).to_numpy()
    events, etype = events[keep], etype[keep]
    event_id = (
        _str(events, "event_id")
        if "event_id" in events.columns
        else pd.Series(np.flatnonzero(keep), index=events.index)
    )
    frame = pd.DataFrame(
        {
            "event_id": event_id,
            "type": etype,
            "ts": _ts(events["ts"]),
            "sku": _str(events, "sku"),
            "customer_key": _str(events, "customer_key"),
            "session_id": _str(events, "session_id"),
            "basket_id": _str(events, "basket_id"),
            "request_id": _str(events, "request_id"),
            "position": _float(events, "position", np.nan),
            "quantity": _float(events, "quantity", 1.0),
            "price": _float(events, "price", np.nan),
        },
        index=events.index,
    )
    return frame.reset_index(drop=True)


def _isin(values: pd.Series, allowed: pd.Series) -> np.ndarray:
    """``values.isin(allowed)`` for str columns of millions of rows: pandas' Arrow ``isin`` builds
    one Python scalar per allowed value (seconds for 300k ids); factorising both together does not."""
    codes, _ = pd.factorize(pd.concat([values, allowed], ignore_index=True))
    mine, theirs = codes[: len(values)], codes[len(values) :]
    return np.isin(mine, theirs[theirs >= 0]) & (mine >= 0)


# --------------------------------------------------------------------------------------------------
# attribution


def _latest_touch(
    pending: pd.DataFrame, touches: pd.DataFrame, by: list[str], window: pd.Timedelta
) -> pd.DataFrame:
    """For each pending conversion, the latest touch with the same ``by`` keys at most ``window``
    before it (inclusive at both ends); one merge_asof, so it stays vectorised."""
    if pending.empty or touches.empty:
        return pd.DataFrame({"request_id": pd.Series([], dtype="str"), "click_ts": pd.Series([], dtype=_UTC)})
    left = pending[[*by, "ts"]].assign(_row=pending.index).sort_values("ts", kind="stable")
    right = (
        touches[[*by, "ts", "request_id"]]
        .rename(columns={"ts": "click_ts"})
        .sort_values("click_ts", kind="stable")
    )
    merged = pd.merge_asof(
        left,
        right,
        left_on="ts",
        right_on="click_ts",
        by=by,
        direction="backward",
        tolerance=window,
        allow_exact_matches=True,
    )
    merged = merged[merged["request_id"].notna()]
    return merged.set_index("_row")[["request_id", "click_ts"]]


def _attribute(sv: pd.DataFrame, ev: pd.DataFrame, window: pd.Timedelta) -> pd.DataFrame:
    conv = ev[ev["type"].isin(CONVERSION_TYPES)]
    out = conv[
        ["event_id", "type", "ts", "sku", "customer_key", "session_id", "basket_id", "quantity", "price"]
    ].copy()
    is_purchase = (out["type"] == "purchase").to_numpy()
    out["revenue"] = np.where(is_purchase, (out["quantity"] * out["price"]).fillna(0.0).to_numpy(), 0.0)
    out["request_id"] = conv["request_id"]
    out["via"] = pd.Series(pd.array([None] * len(out), dtype="str"), index=out.index)
    out.loc[out["request_id"].notna(), "via"] = VIA_REQUEST
    out["click_ts"] = pd.Series(pd.NaT, index=out.index, dtype=_UTC)

    touch_mask = ev["request_id"].notna() & ev["sku"].notna()
    touch_mask &= ev["type"].isin(CLICK_TYPES) | (ev["type"] == "add_to_cart")
    touches = ev[touch_mask]
    pending = out[out["request_id"].isna() & out["sku"].notna()]
    in_session = pending["session_id"].notna()
    passes = (
        (pending[in_session], touches[touches["session_id"].notna()], ["session_id", "sku"], VIA_SESSION),
        (
            pending[~in_session & pending["customer_key"].notna()],
            touches[touches["customer_key"].notna()],
            ["customer_key", "sku"],
            VIA_CUSTOMER,
        ),
    )
    for left, right, by, via in passes:
        found = _latest_touch(left, right, by, window)
        if len(found):
            out.loc[found.index, "request_id"] = found["request_id"]
            out.loc[found.index, "click_ts"] = found["click_ts"]
            out.loc[found.index, "via"] = via

    answers = sv[["request_id", "surface", "arm", "unit", "query"]]
    return out.reset_index(drop=True).merge(answers, on="request_id", how="left")


def attribute(
    served: pd.DataFrame, events: pd.DataFrame, window: pd.Timedelta = DEFAULT_WINDOW
) -> pd.DataFrame:
    """Each add_to_cart and purchase event with the request (served answer) that led to it.

    The rule, in order:

    1. the event's own ``request_id`` when it carries one (``via="request_id"``): the shop knew which
       answer the product was added from;
    2. otherwise the latest *touch* on the same sku within ``window`` before the event (inclusive),
       by the same ``session_id`` when the event has one (``via="session"``), or by the same
       ``customer_key`` when it has no session (``via="customer"``). A touch is a ``click``,
       ``search_click`` or ``email_click`` carrying a request_id, or an add_to_cart that carried one
       (an item put in the cart straight from a result list, then bought at checkout);
    3. otherwise none (``request_id`` and ``via`` missing): the purchase is not credited to search
       or recommendations.

    An event with a session is matched within that session only: a session id is what ties a
    checkout to the clicks before it, and crediting another session's click would inflate the
    numbers. Empty strings count as missing, so anonymous events never match each other.

    Returns one row per add_to_cart/purchase event (in input order) with ``event_id, type, ts, sku,
    customer_key, session_id, basket_id, quantity, price, revenue`` (``quantity * price`` on
    purchases, 0 on add_to_cart), ``request_id, via, click_ts`` (the touch's time, missing for
    ``via="request_id"``) and, from ``served``, ``surface, arm, unit, query`` (the normalised query),
    missing when the request is not among the served rows.
    """
    return _attribute(_served_frame(served), _events_frame(events), pd.Timedelta(window))


# --------------------------------------------------------------------------------------------------
# the report


def _py(value: Any) -> Any:
    """A JSON-safe scalar: numpy numbers as Python ones, NaN/NA as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.integer, bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _rate(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _py(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _summary(req: pd.DataFrame) -> dict[str, Any]:
    """Counts and rates of one group of answers. ``ctr`` is the share of answers with at least one
    click, ``conversion_rate`` the share with at least one attributed purchase; ``revenue_sumsq``
    (sum of squared per-answer revenue) lets an A/B report compute a variance from counts alone."""
    answers = len(req)
    rev = req["revenue"].to_numpy(dtype=np.float64)
    return {
        "answers": answers,
        "units": int(req["unit"].nunique()),
        "zero_results": int(req["zero"].sum()),
        "zero_result_rate": _rate(req["zero"].sum(), answers),
        "impressions": int(req["n_results"].sum()),
        "clicks": int(req["clicks"].sum()),
        "clicked_answers": int((req["clicks"] > 0).sum()),
        "ctr": _rate((req["clicks"] > 0).sum(), answers),
        "add_to_carts": int(req["add_to_carts"].sum()),
        "purchases": int(req["purchases"].sum()),
        "conversions": int((req["purchases"] > 0).sum()),
        "conversion_rate": _rate((req["purchases"] > 0).sum(), answers),
        "revenue": float(rev.sum()),
        "revenue_per_answer": _rate(rev.sum(), answers),
        "revenue_sumsq": float(np.square(rev).sum()),
    }


def _per_query(search: pd.DataFrame) -> pd.DataFrame:
    """One row per query: the counts every query table reads (one groupby, shared)."""
    rows = search[search["query"].notna()]
    cols = pd.DataFrame(
        {
            "query": rows["query"],
            "searches": 1,
            "zero_results": rows["zero"].astype(np.int64),
            "clicks": rows["clicks"],
            "clicked_searches": (rows["clicks"] > 0).astype(np.int64),
            "add_to_carts": rows["add_to_carts"],
            "purchases": rows["purchases"],
            "conversions": (rows["purchases"] > 0).astype(np.int64),
            "revenue": rows["revenue"],
        }
    )
    g = cols.groupby("query", sort=False).sum().reset_index()
    g["ctr"] = g["clicked_searches"] / g["searches"]
    g["conversion_rate"] = g["conversions"] / g["searches"]
    return g


def _top(frame: pd.DataFrame, by: str, top_n: int, columns: list[str]) -> list[dict[str, Any]]:
    """The ``top_n`` rows by ``by`` (ties by query, so the report is deterministic)."""
    frame = frame.sort_values([by, "query"], ascending=[False, True], kind="stable").head(top_n)
    return _records(frame[columns])


_QUERY_COLUMNS = [
    "query",
    "searches",
    "zero_results",
    "clicks",
    "clicked_searches",
    "add_to_carts",
    "purchases",
    "conversions",
    "revenue",
    "ctr",
    "conversion_rate",
]


def _no_click(per_query: pd.DataFrame) -> pd.DataFrame:
    """Queries that got results but never a click: the results were there and looked wrong."""
    with_results = per_query["searches"] - per_query["zero_results"]
    out = per_query.assign(searches=with_results)
    return out[(with_results > 0) & (per_query["clicks"] == 0)]


def _zero_rate_over_time(search: pd.DataFrame, bucket: str) -> list[dict[str, Any]]:
    if search.empty:
        return []
    g = search.groupby(pd.Grouper(key="ts", freq=bucket)).agg(
        searches=("zero", "size"), zero_results=("zero", "sum")
    )
    return [
        {
            "bucket": ts.isoformat(),
            "searches": int(row.searches),
            "zero_results": int(row.zero_results),
            "zero_result_rate": _rate(row.zero_results, row.searches),
        }
        for ts, row in zip(g.index, g.itertuples(index=False), strict=True)
    ]


def _ctr_by_position(search: pd.DataFrame, clicks: pd.DataFrame) -> list[dict[str, Any]]:
    """Share of searches showing at least ``p`` results whose result ``p`` was clicked (each
    (search, position) counted once): the position bias curve, and how far down shoppers read."""
    n = search["n_results"].to_numpy()
    shown = np.bincount(np.minimum(n, MAX_POSITION), minlength=MAX_POSITION + 1)[::-1].cumsum()[::-1]
    pos = clicks.loc[clicks["surface"] == "search", ["request_id", "position"]].dropna()
    pos = pos[(pos["position"] >= 1) & (pos["position"] <= MAX_POSITION)].drop_duplicates()
    clicked = np.bincount(pos["position"].to_numpy(dtype=np.int64), minlength=MAX_POSITION + 1)
    return [
        {
            "position": p,
            "answers": int(shown[p]),
            "clicks": int(clicked[p]),
            "ctr": _rate(clicked[p], shown[p]),
        }
        for p in range(1, MAX_POSITION + 1)
    ]


def _surface_order(present: Iterable[str]) -> list[str]:
    present = set(present)
    return [s for s in SURFACES if s in present] + sorted(present - set(SURFACES))


def _section(req: pd.DataFrame, clicks: pd.DataFrame, top_n: int, bucket: str) -> dict[str, Any]:
    search = req[req["surface"] == "search"]
    summary = _summary(search)
    summary["searches"] = summary["answers"]
    summary["revenue_per_search"] = summary["revenue_per_answer"]
    groups = dict(tuple(req.groupby("surface", sort=False)))
    per_query = _per_query(search)
    return {
        "search": summary,
        "top_queries": _top(per_query, "searches", top_n, _QUERY_COLUMNS),
        "zero_result_queries": _top(
            per_query[per_query["zero_results"] > 0],
            "zero_results",
            top_n,
            ["query", "zero_results", "searches"],
        ),
        "zero_result_rate_over_time": _zero_rate_over_time(search, bucket),
        "no_click_queries": _top(_no_click(per_query), "searches", top_n, ["query", "searches"]),
        "ctr_by_position": _ctr_by_position(search, clicks),
        "surfaces": {s: _summary(groups[s]) for s in _surface_order(groups)},
    }


def _click_positions(clicks: pd.DataFrame, sv: pd.DataFrame) -> pd.Series:
    """The click's ``position``, or where its sku was in the answer when the event did not say
    (search answers only: the position curve is a search report; a loop, but over those clicks only)."""
    position = clicks["position"].copy()
    missing = (position.isna() & clicks["sku"].notna() & (clicks["surface"] == "search")).to_numpy()
    if missing.any():
        shown = sv.set_index("request_id")["skus"]
        lists = shown.reindex(clicks.loc[missing, "request_id"]).to_numpy()
        found = []
        for skus, sku in zip(lists, clicks.loc[missing, "sku"].to_numpy(), strict=True):
            ranked = [] if skus is None or isinstance(skus, float) else list(skus)
            found.append(ranked.index(sku) + 1 if sku in ranked else np.nan)
        position.loc[missing] = found
    return position


def analytics_report(
    served: pd.DataFrame,
    events: pd.DataFrame,
    *,
    since: object = None,
    until: object = None,
    window: pd.Timedelta = DEFAULT_WINDOW,
    top_n: int = 20,
    bucket: str = "1D",
) -> dict[str, Any]:
    """Search and recommendation analytics for the answers served in ``[since, until)``.

    Counted per answer: the answers served in the period, the clicks on them and the conversions
    attributed to them (:func:`attribute`), using events before ``until`` only, so a report for a
    closed period never changes. ``since``/``until`` accept anything ``pd.Timestamp`` reads (naive =
    UTC) or None (open). ``bucket`` is a pandas frequency for the zero-result rate over time.

    Returns a JSON-serialisable dict:

    - ``period``: ``since``, ``until`` (ISO or None), ``window_seconds``, ``bucket``;
    - ``search``: :func:`_summary` of search answers plus ``searches`` and ``revenue_per_search``;
    - ``top_queries``: the ``top_n`` most searched queries with ``searches, zero_results, clicks,
      clicked_searches, add_to_carts, purchases, conversions, revenue, ctr, conversion_rate``;
    - ``zero_result_queries``: ``query, zero_results, searches``; ``zero_result_rate_over_time``:
      ``bucket, searches, zero_results, zero_result_rate``;
    - ``no_click_queries``: queries with results but no click (``query, searches``);
    - ``ctr_by_position``: positions 1..10 with ``answers`` (searches showing that many), ``clicks``,
      ``ctr``;
    - ``surfaces``: per surface with rows, ``answers, units, zero_results, zero_result_rate,
      impressions, clicks, clicked_answers, ctr, add_to_carts, purchases, conversions,
      conversion_rate, revenue, revenue_per_answer, revenue_sumsq``;
    - ``attribution``: per conversion type, how its events in the period were attributed
      (``request_id``, ``session``, ``customer``, ``unattributed``; ``unknown_request`` counts those
      credited to a request_id absent from ``served``);
    - ``arms`` and ``by_arm``: the same sections (``search`` .. ``surfaces``) per arm, for A/B reports.

    Rates are None where their denominator is 0.
    """
    since_ts, until_ts = _utc(since), _utc(until)
    window = pd.Timedelta(window)
    sv = _served_frame(served)
    ev = _events_frame(events)
    if until_ts is not None:
        ev = ev[ev["ts"] < until_ts]
    conv = _attribute(sv, ev, window)

    in_period = pd.Series(True, index=sv.index)
    if since_ts is not None:
        in_period &= sv["ts"] >= since_ts
    if until_ts is not None:
        in_period &= sv["ts"] < until_ts
    req = sv[in_period].drop(columns="skus").reset_index(drop=True)
    req["zero"] = req["n_results"] == 0

    click_rows = ev[ev["type"].isin(CLICK_TYPES).to_numpy() & _isin(ev["request_id"], req["request_id"])]
    clicks = click_rows[["request_id", "sku", "position"]].merge(
        req[["request_id", "surface", "arm"]], on="request_id", how="left"
    )
    clicks["position"] = _click_positions(clicks, sv)

    credited = conv[_isin(conv["request_id"], req["request_id"])]
    per_req = (
        credited.assign(
            add_to_carts=(credited["type"] == "add_to_cart").astype(np.int64),
            purchases=(credited["type"] == "purchase").astype(np.int64),
        )
        .groupby("request_id")[["add_to_carts", "purchases", "revenue"]]
        .sum()
    )
    n_clicks = clicks.groupby("request_id").size()
    req = req.join(per_req, on="request_id").join(n_clicks.rename("clicks"), on="request_id")
    req[["add_to_carts", "purchases", "clicks"]] = (
        req[["add_to_carts", "purchases", "clicks"]].fillna(0).astype(np.int64)
    )
    req["revenue"] = req["revenue"].fillna(0.0).astype(np.float64)

    period_conv = conv
    if since_ts is not None:
        period_conv = period_conv[period_conv["ts"] >= since_ts]
    attribution = {}
    for kind in CONVERSION_TYPES:
        rows = period_conv[period_conv["type"] == kind]
        via = rows["via"].value_counts()
        attribution[kind] = {
            VIA_REQUEST: int(via.get(VIA_REQUEST, 0)),
            VIA_SESSION: int(via.get(VIA_SESSION, 0)),
            VIA_CUSTOMER: int(via.get(VIA_CUSTOMER, 0)),
            "unattributed": int(rows["via"].isna().sum()),
            "unknown_request": int(
                (rows["request_id"].notna().to_numpy() & ~_isin(rows["request_id"], sv["request_id"])).sum()
            ),
        }

    arms = sorted(req["arm"].unique().tolist())
    report: dict[str, Any] = {
        "period": {
            "since": since_ts.isoformat() if since_ts is not None else None,
            "until": until_ts.isoformat() if until_ts is not None else None,
            "window_seconds": window.total_seconds(),
            "bucket": bucket,
        },
        **_section(req, clicks, top_n, bucket),
        "attribution": attribution,
        "arms": arms,
        "by_arm": {
            arm: _section(req[req["arm"] == arm], clicks[clicks["arm"] == arm], top_n, bucket) for arm in arms
        },
    }
    return report


# --------------------------------------------------------------------------------------------------
# presentation


def _fmt(value: Any, kind: str = "n") -> str:
    if value is None:
        return "–"
    if kind == "%":
        return f"{value:.1%}"
    if kind == "$":
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")  # a query with a pipe must not split the table row


def _md_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> list[str]:
    """Markdown table of ``rows``; ``columns`` are (key, header, kind) with kind ``n``, ``%`` or ``$``."""
    if not rows:
        return ["(none)", ""]
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(k), kind) for k, _, kind in columns) + " |")
    return [*lines, ""]


_SUMMARY_COLUMNS = (
    ("answers", "answers", "n"),
    ("zero_result_rate", "zero-result", "%"),
    ("ctr", "CTR", "%"),
    ("add_to_carts", "add to cart", "n"),
    ("conversion_rate", "conversion", "%"),
    ("revenue", "revenue", "$"),
    ("revenue_per_answer", "revenue / answer", "$"),
)


def report_markdown(report: dict[str, Any], plots: Sequence[Path | str] = ()) -> str:
    """The report as Markdown for people (the CLI's report file, the README excerpt); ``plots``
    (paths as the Markdown should link them, e.g. from :func:`write_plots`) are embedded at the end."""
    period = report["period"]
    s = report["search"]
    lines = [
        "# Search and recommendation analytics",
        "",
        f"Period: {period['since'] or 'start'} to {period['until'] or 'now'}; purchases credited to the "
        f"click that led to them within {period['window_seconds'] / 3600:g} h.",
        "",
        "## Search",
        "",
        f"{_fmt(s['searches'])} searches, {_fmt(s['zero_result_rate'], '%')} with zero results, "
        f"click-through {_fmt(s['ctr'], '%')}, conversion {_fmt(s['conversion_rate'], '%')}, "
        f"revenue per search {_fmt(s['revenue_per_search'], '$')} (revenue {_fmt(s['revenue'], '$')}).",
        "",
        "### Top queries",
        "",
        *_md_table(
            report["top_queries"],
            (
                ("query", "query", "n"),
                ("searches", "searches", "n"),
                ("ctr", "CTR", "%"),
                ("conversions", "conversions", "n"),
                ("conversion_rate", "conversion", "%"),
                ("revenue", "revenue", "$"),
            ),
        ),
        "### Zero-result queries",
        "",
        *_md_table(
            report["zero_result_queries"],
            (("query", "query", "n"), ("zero_results", "zero results", "n"), ("searches", "searches", "n")),
        ),
        "### Zero-result rate over time",
        "",
        *_md_table(
            report["zero_result_rate_over_time"],
            (
                ("bucket", "from", "n"),
                ("searches", "searches", "n"),
                ("zero_results", "zero results", "n"),
                ("zero_result_rate", "rate", "%"),
            ),
        ),
        "### Queries with results but no clicks",
        "",
        *_md_table(report["no_click_queries"], (("query", "query", "n"), ("searches", "searches", "n"))),
        "### Click-through by position",
        "",
        *_md_table(
            report["ctr_by_position"],
            (
                ("position", "position", "n"),
                ("answers", "searches shown", "n"),
                ("clicks", "clicked", "n"),
                ("ctr", "CTR", "%"),
            ),
        ),
        "## Surfaces",
        "",
        *_md_table(
            [{"surface": k, **v} for k, v in report["surfaces"].items()],
            (("surface", "surface", "n"), *_SUMMARY_COLUMNS),
        ),
        "## Attribution",
        "",
        *_md_table(
            [{"type": k, **v} for k, v in report["attribution"].items()],
            (
                ("type", "event", "n"),
                (VIA_REQUEST, "own request_id", "n"),
                (VIA_SESSION, "session click", "n"),
                (VIA_CUSTOMER, "customer click", "n"),
                ("unattributed", "unattributed", "n"),
                ("unknown_request", "unknown request", "n"),
            ),
        ),
    ]
    if len(report["arms"]) > 1:
        lines += ["## Arms", ""]
        rows = [
            {"arm": arm, "surface": surface, **stats}
            for arm, section in report["by_arm"].items()
            for surface, stats in section["surfaces"].items()
        ]
        lines += _md_table(rows, (("arm", "arm", "n"), ("surface", "surface", "n"), *_SUMMARY_COLUMNS))
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{Path(p).stem}]({Path(p).as_posix()})" for p in plots]
        lines.append("")
    return "\n".join(lines)


def _figure(title: str, ylabel: str):  # type: ignore[no-untyped-def]
    """A figure on the Agg canvas without pyplot: no global state, safe in a threaded server."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    return fig, ax


def _series_by_arm(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """What to plot: the whole report, or one series per arm when there is an experiment."""
    if len(report["arms"]) > 1:
        return [(f"arm {arm}", report["by_arm"][arm]) for arm in report["arms"]]
    return [("all", report)]


def _bars(ax: Any, labels: Sequence[str], series: list[tuple[str, list[float]]]) -> None:
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(labels))
    for i, (name, values) in enumerate(series):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, labels)
    if len(series) > 1:
        ax.legend(fontsize=8)


def write_plots(report: dict[str, Any], out_dir: Path | str) -> list[Path]:
    """PNG plots of ``report`` in ``out_dir`` (created): ``zero_result_rate.png`` (over time),
    ``ctr_by_position.png`` and ``revenue_by_surface.png``, one series per arm when there are two
    or more. Always all three (an empty one says "no data"), so a report can link them blindly."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    series = _series_by_arm(report)
    paths = []

    fig, ax = _figure("Zero-result rate of searches", "zero-result rate")
    plotted = False
    for name, section in series:
        points = [(b["bucket"], b["zero_result_rate"]) for b in section["zero_result_rate_over_time"]]
        points = [(pd.Timestamp(t), r) for t, r in points if r is not None]
        if points:
            ax.plot([t for t, _ in points], [r for _, r in points], marker="o", label=name)
            plotted = True
    if plotted:
        ax.set_ylim(bottom=0)
        fig.autofmt_xdate()
        if len(series) > 1:
            ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    paths.append(out / "zero_result_rate.png")

    fig2, ax2 = _figure("Search click-through by position", "CTR")
    positions = [str(p) for p in range(1, MAX_POSITION + 1)]
    _bars(ax2, positions, [(n, [r["ctr"] or 0.0 for r in s["ctr_by_position"]]) for n, s in series])
    ax2.set_xlabel("position")
    paths.append(out / "ctr_by_position.png")

    fig3, ax3 = _figure("Attributed revenue by surface", "revenue")
    surfaces = _surface_order(report["surfaces"])
    _bars(
        ax3,
        surfaces,
        [(n, [s["surfaces"].get(k, {}).get("revenue", 0.0) for k in surfaces]) for n, s in series],
    )
    if not surfaces:
        ax3.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax3.transAxes)
    ax3.tick_params(axis="x", labelrotation=20)
    paths.append(out / "revenue_by_surface.png")

    for figure, path in zip((fig, fig2, fig3), paths, strict=True):
        figure.tight_layout()
        figure.savefig(path)
    return paths
