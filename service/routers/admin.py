"""Administration: the live merchandising rules (synonyms, pins, boosts, hides, redirects) and
bundle reloads.

A rules PUT is validated in full (structure, then every sku / brand / category / attribute against
the catalog being served), written atomically to the live rules file, and only then swapped into
the served view: the next search uses it, no retraining, and a rejected PUT leaves the old rules
active. Other worker processes pick the new file up on their next request (``Serving.refresh_rules``).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Security
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.analytics import analytics_report
from models.rules import RuleSet
from models.search_engine import SearchFilters
from service.deps import check_store, clean_text, get_now, get_serving, get_settings, get_view
from service.products import prices_for, product
from service.schemas import Product, ReloadResponse
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
    if since.year < 1970 or until.year > 2200:  # the store's clock, and pandas' timestamps, end there
        raise HTTPException(422, "since/until must lie between 1970 and 2200")
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


class RulesPreviewIn(BaseModel):
    """Draft rules (as ``PUT /v1/admin/rules`` takes them) and the query to try them on."""

    model_config = ConfigDict(extra="forbid")
    rules: dict[str, Any] = Field(description="The draft rule set; validated here, nothing is saved.")
    q: str = Field(min_length=1, max_length=512, description="The query to preview.")
    k: int = Field(10, ge=1, le=50)
    store_id: str | None = Field(None, max_length=64)


class PreviewResult(BaseModel):
    total: int
    hits: list[Product]
    rules_fired: list[str]
    redirect: str | None = None


class RulesPreview(BaseModel):
    query: str
    before: PreviewResult = Field(description="The query's results under the rules served now.")
    after: PreviewResult | None = Field(
        None, description="Under the draft rules; null when they are invalid."
    )
    problems: list[str] = Field(
        default_factory=list, description="What is wrong with the draft, each message naming its rule."
    )


@router.post(
    "/rules/preview", response_model=RulesPreview, responses={404: {"description": "Unknown store_id."}}
)
def preview_rules(
    body: RulesPreviewIn,
    view: ServingView = Depends(get_view),
    settings=Depends(get_settings),
    now: datetime = Depends(get_now),
) -> RulesPreview:
    """A query's results under the rules served now and under draft rules, side by side, with the
    draft's problems (the same checks as the PUT): the merchandiser's live preview. Saves nothing."""
    q = clean_text(body.q, "q", settings.max_query_chars)
    check_store(view, body.store_id)
    prices = prices_for(view, None, body.store_id, now)
    filters = SearchFilters(store_id=body.store_id)

    def run(engine) -> PreviewResult:
        result = engine.search(q, k=body.k, filters=filters, prices=prices.price)
        return PreviewResult(
            total=result.total,
            hits=[product(view, h.item, prices, body.store_id) for h in result.hits],
            rules_fired=result.rules_fired,
            redirect=result.redirect,
        )

    problems: list[str] = []
    try:
        draft = RuleSet.model_validate(body.rules)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(map(str, e['loc'])) or 'rules'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        ]
        draft = None
    if draft is not None:
        problems = draft.problems(view.catalog)
    after = run(replace(view.search, rules=draft)) if draft is not None and not problems else None
    return RulesPreview(query=q, before=run(view.search), after=after, problems=problems)


class BundleReport(BaseModel):
    bundle_version: str
    created_at: str | None = None
    markdown: str = Field(description="The training report (reports/report.md of the served bundle).")
    plots: dict[str, str] = Field(
        default_factory=dict,
        description="Its plots by the path the markdown uses (plots/x.png), as data: URLs.",
    )


@router.get(
    "/report", response_model=BundleReport, responses={404: {"description": "The bundle has no report."}}
)
def report(view: ServingView = Depends(get_view)) -> BundleReport:
    """The served bundle's evaluation report, with its plots (the ``/report`` page shows it)."""
    reports = view.bundle.path / "reports"
    try:
        markdown = (reports / "report.md").read_text(encoding="utf-8")
    except OSError:
        raise HTTPException(404, f"bundle {view.bundle.version} has no reports/report.md") from None
    plots = {}
    for png in sorted((reports / "plots").glob("*.png"))[:50]:
        data = base64.b64encode(png.read_bytes()).decode()
        plots[f"plots/{png.name}"] = f"data:image/png;base64,{data}"
    return BundleReport(
        bundle_version=view.bundle.version,
        created_at=view.bundle.manifest.get("created_at"),
        markdown=markdown,
        plots=plots,
    )
