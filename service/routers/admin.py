"""Administration: the live merchandising rules (synonyms, pins, boosts, hides, redirects) and
bundle reloads.

A rules PUT is validated in full (structure, then every sku / brand / category / attribute against
the catalog being served), written atomically to the live rules file, and only then swapped into
the served view: the next search uses it, no retraining, and a rejected PUT leaves the old rules
active. Other worker processes pick the new file up on their next request (``Serving.refresh_rules``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Security
from fastapi.concurrency import run_in_threadpool

from models.analytics import analytics_report
from models.rules import RuleSet
from service.deps import get_now, get_serving, get_view
from service.schemas import ReloadResponse
from service.security import admin_scope
from service.serving import Serving
from service.state import ServingView

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Security(admin_scope)])


@router.get("/rules", response_model=RuleSet)
def get_rules(view: ServingView = Depends(get_view)) -> RuleSet:
    return view.rules


@router.put(
    "/rules",
    response_model=RuleSet,
    responses={
        422: {"description": "The rules are invalid; the message names the rule. Old rules stay active."}
    },
)
def put_rules(
    rules: RuleSet, view: ServingView = Depends(get_view), serving: Serving = Depends(get_serving)
) -> RuleSet:
    problems = rules.problems(view.catalog)
    if problems:
        raise HTTPException(422, "; ".join(problems))
    serving.put_rules(rules)
    return rules


@router.get("/analytics")
def analytics(
    since: datetime | None = Query(None, description="Start (ISO 8601; default: 7 days before until)."),
    until: datetime | None = Query(None, description="End, exclusive (default: now)."),
    window_hours: float = Query(24.0, gt=0, le=24 * 30, description="Attribution window after a click."),
    top_n: int = Query(20, ge=1, le=500),
    view: ServingView = Depends(get_view),
    now: datetime = Depends(get_now),
) -> dict:
    """Search and recommendation analytics from the store (``models/analytics.py``): top, zero-result
    and no-click queries, click-through by position, conversion and revenue per search, and per
    recommendation surface; per A/B arm too. The same report as ``omnirank analytics``."""
    try:
        until = _utc(until) if until is not None else now
        since = _utc(since) if since is not None else until - timedelta(days=7)
        window = pd.Timedelta(hours=window_hours)
        end = (until + window).timestamp()  # events up to one window later: a purchase just after
    except (OverflowError, ValueError) as exc:  # the period may still belong to one of its answers
        raise HTTPException(422, f"since/until out of range: {exc}") from None
    if since >= until:
        raise HTTPException(422, "since must be before until")
    served = view.store.served_frame(since.timestamp(), until.timestamp())
    events = view.store.events_frame(since.timestamp(), end)
    return analytics_report(served, events, since=since, until=until, window=window, top_n=top_n)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@router.post("/reload", response_model=ReloadResponse)
async def reload(serving: Serving = Depends(get_serving)) -> ReloadResponse:
    """Serve the bundle ``latest`` points at now (each worker also polls it). The new bundle is
    verified before it is swapped in; a bundle that fails is refused and the old one keeps serving.
    With several workers, this one answers; the others follow at their next poll."""
    outcome = await run_in_threadpool(serving.reload, True)
    return ReloadResponse(status=outcome.status, bundle_version=outcome.version, detail=outcome.detail)
