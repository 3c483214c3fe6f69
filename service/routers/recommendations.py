import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query

from models.recommend import Context, Interaction
from service.deps import check_store, get_settings, item_of, require_recs, resolve_identifier
from service.products import product
from service.schemas import CartRequest, Channel, RecommendationOut, RecommendationsResponse
from service.state import ServingState

router = APIRouter(prefix="/v1/recommendations", tags=["recommendations"])


def _out(state: ServingState, recs, store_id: str | None) -> list[RecommendationOut]:
    return [RecommendationOut(product=product(state, r.item, store_id), score=r.score, reason_code=r.reason_code, reason=r.reason) for r in recs]


def customer_history(state: ServingState, customer_key: str) -> tuple[list[Interaction], list[Interaction]]:
    """(all known interactions, those received live since training) for one customer."""
    trained = state.history.get(customer_key, [])
    live = []
    for ev in state.events.recent_for_customer(customer_key, limit=500):
        item = state.catalog.sku_index.get(ev.sku or "")
        if item is not None:
            live.append(Interaction(item, ev.type, pd.Timestamp(ev.timestamp), ev.channel, 1.0))
    return trained + live, live


@router.get("/customers/{customer_id}", response_model=RecommendationsResponse)
def for_customer(
    customer_id: str,
    k: int = Query(20, ge=1, le=100),
    channel: Channel = "web",
    store_id: str | None = None,
    state: ServingState = Depends(require_recs),
    settings=Depends(get_settings),
) -> RecommendationsResponse:
    check_store(state, store_id)
    key, _ = resolve_identifier(state, settings, customer_id)
    history, live = customer_history(state, key)
    row = state.recs.history_row(key, live, state.type_weights)
    recs, cold = state.recs.for_customer(row, history, Context(channel=channel, store_id=store_id), k)
    return RecommendationsResponse(items=_out(state, recs, store_id), cold_start=cold, customer_id=key, strategy="trending" if cold else "blend")


@router.get("/items/{sku}/similar", response_model=RecommendationsResponse)
def similar(
    sku: str, k: int = Query(10, ge=1, le=100), channel: Channel = "web", store_id: str | None = None,
    state: ServingState = Depends(require_recs),
) -> RecommendationsResponse:
    check_store(state, store_id)
    item = item_of(state, sku)
    vec = state.search.vectors.vector(sku)
    ids, _ = state.search.vectors.search(vec[None, :], 4 * k + 1)
    content = state.catalog.indices(list(ids[0]))
    recs = state.recs.similar(item, Context(channel=channel, store_id=store_id), k, content=content)
    return RecommendationsResponse(items=_out(state, recs, store_id), strategy="similar")


@router.get("/items/{sku}/bought-together", response_model=RecommendationsResponse)
def bought_together(
    sku: str, k: int = Query(10, ge=1, le=100), channel: Channel = "web", store_id: str | None = None,
    state: ServingState = Depends(require_recs),
) -> RecommendationsResponse:
    check_store(state, store_id)
    recs = state.recs.bought_together(item_of(state, sku), Context(channel=channel, store_id=store_id), k)
    return RecommendationsResponse(items=_out(state, recs, store_id), strategy="bought_together")


@router.post("/cart", response_model=RecommendationsResponse)
def cart(body: CartRequest, state: ServingState = Depends(require_recs)) -> RecommendationsResponse:
    check_store(state, body.store_id)
    unknown = [s for s in body.skus if s not in state.catalog.sku_index]
    if unknown:
        raise HTTPException(404, f"unknown sku(s) in cart: {unknown[:10]}")
    items = np.array([state.catalog.sku_index[s] for s in body.skus])
    recs = state.recs.complete_cart(items, Context(channel=body.channel, store_id=body.store_id), body.k)
    return RecommendationsResponse(items=_out(state, recs, body.store_id), strategy="cart")


@router.get("/trending", response_model=RecommendationsResponse)
def trending(
    k: int = Query(20, ge=1, le=100), channel: Channel = "web", store_id: str | None = None,
    state: ServingState = Depends(require_recs),
) -> RecommendationsResponse:
    check_store(state, store_id)
    recs = state.recs.trending_list(Context(channel=channel, store_id=store_id), k)
    return RecommendationsResponse(items=_out(state, recs, store_id), strategy="trending")
