"""Recommendations for a customer, an item, a cart, and what is trending, on the live catalog."""

from datetime import datetime
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Security

from models.recommend import Context
from service.deps import check_store, get_language, get_now, get_settings, item_of, require_recs
from service.history import customer_history, render
from service.identity import resolve_one
from service.impressions import answered
from service.loyalty import context, promoted, shopper, shopper_prices
from service.products import prices_for
from service.schemas import CartRequest, Channel, RecommendationsResponse
from service.security import personalize_scope, search_scope
from service.state import ServingView

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"])


def respond(request: Request, surface: str, items: list, **fields) -> RecommendationsResponse:
    """The answer, recorded for analytics with its surface and the skus shown (service/impressions.py)."""
    meta = answered(request, surface, [i.product.sku for i in items])
    return RecommendationsResponse(items=items, request_id=meta.request_id, arm=meta.arm, **fields)


@router.get(
    "/customers/{customer_id}",
    response_model=RecommendationsResponse,
    dependencies=[Security(personalize_scope)],
)
def for_customer(
    customer_id: Annotated[
        str,
        Path(
            pattern=r"^[^@]+$",
            description="The opaque customer id, or a loyalty id. Never an email address: a path ends "
            "up in proxies' access logs, so an email is refused (422); look it up in the body of "
            "POST /v1/customers/lookup instead.",
        ),
    ],
    k: int = Query(20, ge=1, le=100),
    channel: Channel = "web",
    store_id: str | None = None,
    state: ServingView = Depends(require_recs),
    request: Request = None,
    settings=Depends(get_settings),
    now: datetime = Depends(get_now),
    lang: str = Depends(get_language),
) -> RecommendationsResponse:
    check_store(state, store_id)
    key = resolve_one(state, customer_id, settings.pii_salt).key
    history, live = customer_history(state, key)
    row = state.recs.history_row(key, live, state.type_weights)
    who = shopper(state, key)
    ctx = Context(channel=channel, store_id=store_id, now=pd.Timestamp(now), customer_id=key)
    ctx = context(state, "customer", ctx, who)
    recs, cold = state.recs.for_customer(row, history, ctx, k)
    prices = shopper_prices(state, channel, store_id, now, who.member)
    recs = promoted(state, "customer", recs, ctx, prices, k, who)
    return respond(
        request,
        "customer",
        render(state, recs, prices, store_id, lang),
        cold_start=cold,
        customer_id=key,
        strategy="trending" if cold else "blend",
    )


@router.get(
    "/items/{sku}/similar", response_model=RecommendationsResponse, dependencies=[Security(search_scope)]
)
def similar(
    sku: str,
    k: int = Query(10, ge=1, le=100),
    channel: Channel = "web",
    store_id: str | None = None,
    state: ServingView = Depends(require_recs),
    request: Request = None,
    now: datetime = Depends(get_now),
    lang: str = Depends(get_language),
) -> RecommendationsResponse:
    check_store(state, store_id)
    item = item_of(state, sku)
    ctx = Context(channel=channel, store_id=store_id, now=pd.Timestamp(now))
    ctx = context(state, "similar", ctx, shopper(state, None))
    prices = prices_for(state, channel, store_id, now)
    recs = promoted(state, "similar", state.recs.similar(item, ctx, k, content=state.search), ctx, prices, k)
    return respond(
        request,
        "similar",
        render(state, recs, prices, store_id, lang),
        strategy="similar",
    )


@router.get(
    "/items/{sku}/bought-together",
    response_model=RecommendationsResponse,
    dependencies=[Security(search_scope)],
)
def bought_together(
    sku: str,
    k: int = Query(10, ge=1, le=100),
    channel: Channel = "web",
    store_id: str | None = None,
    state: ServingView = Depends(require_recs),
    request: Request = None,
    now: datetime = Depends(get_now),
    lang: str = Depends(get_language),
) -> RecommendationsResponse:
    check_store(state, store_id)
    ctx = Context(channel=channel, store_id=store_id, now=pd.Timestamp(now))
    ctx = context(state, "bought_together", ctx, shopper(state, None))
    prices = prices_for(state, channel, store_id, now)
    recs = promoted(
        state, "bought_together", state.recs.bought_together(item_of(state, sku), ctx, k), ctx, prices, k
    )
    return respond(
        request,
        "bought_together",
        render(state, recs, prices, store_id, lang),
        strategy="bought_together",
    )


@router.post("/cart", response_model=RecommendationsResponse, dependencies=[Security(personalize_scope)])
def cart(
    body: CartRequest,
    request: Request,
    state: ServingView = Depends(require_recs),
    now: datetime = Depends(get_now),
    lang: str = Depends(get_language),
) -> RecommendationsResponse:
    check_store(state, body.store_id)
    unknown = [s for s in body.skus if s not in state.catalog.sku_index]
    if unknown:
        raise HTTPException(404, f"unknown sku(s) in cart: {unknown[:10]}")
    items = np.array([state.catalog.sku_index[s] for s in body.skus])
    ctx = Context(channel=body.channel, store_id=body.store_id, now=pd.Timestamp(now))
    ctx = context(state, "cart", ctx, shopper(state, None))
    prices = prices_for(state, body.channel, body.store_id, now)
    recs = promoted(state, "cart", state.recs.complete_cart(items, ctx, body.k), ctx, prices, body.k)
    return respond(
        request,
        "cart",
        render(state, recs, prices, body.store_id, lang),
        strategy="cart",
    )


@router.get("/trending", response_model=RecommendationsResponse, dependencies=[Security(search_scope)])
def trending(
    k: int = Query(20, ge=1, le=100),
    channel: Channel = "web",
    store_id: str | None = None,
    state: ServingView = Depends(require_recs),
    request: Request = None,
    now: datetime = Depends(get_now),
    lang: str = Depends(get_language),
) -> RecommendationsResponse:
    check_store(state, store_id)
    recs = state.recs.trending_list(Context(channel=channel, store_id=store_id, now=pd.Timestamp(now)), k)
    return respond(
        request,
        "trending",
        render(state, recs, prices_for(state, channel, store_id, now), store_id, lang),
        strategy="trending",
    )
